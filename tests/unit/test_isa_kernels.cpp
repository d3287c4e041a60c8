// The elementwise and attention kernels (nn/kernels.cpp, attention_kernels.cpp, lm_kernels.cpp)
// and AdamW are compiled once per SIMD target and dispatched at run time (moe/simd/isa.hpp).
// Here every target this CPU runs is forced in turn: the float kernels against the double ones
// (themselves gradient-checked in tests/gradcheck), and whole training steps of the MLP and the
// ViT MoLE: the same bits twice at one target, and near the other targets' numbers.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "each_isa.hpp"
#include "harness.hpp"
#include "moe/core/rng.hpp"
#include "moe/nn/kernels.hpp"
#include "moe/nn/lm_kernels.hpp"
#include "moe/simd/isa.hpp"

using namespace moe;
using std::vector;
using test::each_isa;

namespace {

vector<double> random_doubles(size_t n, uint64_t seed, double lo = -2.0, double hi = 2.0) {
    Rng rng(seed);
    vector<double> v(n);
    for (auto & x : v) x = rng.uniform(lo, hi);
    return v;
}
vector<float> to_float(const vector<double> & v) { return vector<float>(v.begin(), v.end()); }

// the float result within rtol of the double one, relative to the largest magnitude of the double
void check_near(const vector<float> & got, const vector<double> & want, double rtol, const char * what) {
    REQUIRE(got.size() == want.size());
    double scale = 1e-30;
    for (double w : want) scale = std::max(scale, std::fabs(w));
    int bad = 0;
    size_t first = 0;
    for (size_t i = 0; i < got.size(); ++i)
        if (!(std::fabs((double)got[i] - want[i]) <= rtol * scale) && bad++ == 0) first = i;
    INFO(what << ": " << bad << " of " << got.size() << " off, first at " << first << " (" << got[first] << " vs "
              << want[first] << ")");
    CHECK(bad == 0);
}

// Runs kernel(T*) for float and double on the same inputs and compares the outputs.
struct Pair {
    vector<double> d;
    vector<float> f;
    explicit Pair(size_t n) : d(n, 0.0), f(n, 0.f) {}
};

} // namespace

TEST_CASE("LayerNorm, GELU (erf and tanh), SwiGLU, RMSNorm and softmax: float near double on every target") {
    const int N = 7, C = 37, V = 33;
    const vector<double> x = random_doubles((size_t)N * C, 1), w = random_doubles(C, 2), b = random_doubles(C, 3),
                         dout = random_doubles((size_t)N * C, 4), u = random_doubles((size_t)N * C, 5);
    const auto xf = to_float(x), wf = to_float(w), bf = to_float(b), df = to_float(dout), uf = to_float(u);
    each_isa([&](const std::string &) {
        { // LayerNorm forward and backward
            Pair out(x.size()), mean(N), rstd(N);
            nn::layernorm_forward(out.d.data(), mean.d.data(), rstd.d.data(), x.data(), w.data(), b.data(), N, C, 1e-5);
            nn::layernorm_forward(out.f.data(), mean.f.data(), rstd.f.data(), xf.data(), wf.data(), bf.data(), N, C,
                                  1e-5f);
            check_near(out.f, out.d, 2e-6, "layernorm_forward");
            Pair dx(x.size()), dw(C), db(C);
            nn::layernorm_backward(dx.d.data(), dw.d.data(), db.d.data(), dout.data(), x.data(), w.data(),
                                   mean.d.data(), rstd.d.data(), N, C);
            nn::layernorm_backward(dx.f.data(), dw.f.data(), db.f.data(), df.data(), xf.data(), wf.data(),
                                   mean.f.data(), rstd.f.data(), N, C);
            check_near(dx.f, dx.d, 2e-6, "layernorm_backward dinp");
            check_near(dw.f, dw.d, 2e-6, "layernorm_backward dw");
            check_near(db.f, db.d, 2e-6, "layernorm_backward db");
        }
        const int64_t n = (int64_t)x.size();
        using Unary = std::function<void(Pair &)>;
        const std::pair<const char *, Unary> unary[] = {
            {"gelu_forward",
             [&](Pair & o) {
                 nn::gelu_forward(o.d.data(), x.data(), n);
                 nn::gelu_forward(o.f.data(), xf.data(), n);
             }},
            {"gelu_backward",
             [&](Pair & o) {
                 nn::gelu_backward(o.d.data(), x.data(), dout.data(), n);
                 nn::gelu_backward(o.f.data(), xf.data(), df.data(), n);
             }},
            {"gelu_tanh_forward",
             [&](Pair & o) {
                 nn::gelu_tanh_forward(o.d.data(), x.data(), n);
                 nn::gelu_tanh_forward(o.f.data(), xf.data(), n);
             }},
            {"gelu_tanh_backward",
             [&](Pair & o) {
                 nn::gelu_tanh_backward(o.d.data(), x.data(), dout.data(), n);
                 nn::gelu_tanh_backward(o.f.data(), xf.data(), df.data(), n);
             }},
            {"swiglu_forward",
             [&](Pair & o) {
                 nn::swiglu_forward(o.d.data(), x.data(), u.data(), n);
                 nn::swiglu_forward(o.f.data(), xf.data(), uf.data(), n);
             }},
            {"swiglu_backward (dgate)",
             [&](Pair & o) {
                 nn::swiglu_backward(o.d.data(), (double *)nullptr, dout.data(), x.data(), u.data(), n);
                 nn::swiglu_backward(o.f.data(), (float *)nullptr, df.data(), xf.data(), uf.data(), n);
             }},
        };
        for (const auto & [name, run] : unary) {
            Pair o(x.size());
            run(o);
            check_near(o.f, o.d, 2e-6, name);
        }
        { // RMSNorm forward and backward
            Pair out(x.size()), rstd(N);
            nn::rmsnorm_forward(out.d.data(), rstd.d.data(), x.data(), w.data(), N, C, 1e-6);
            nn::rmsnorm_forward(out.f.data(), rstd.f.data(), xf.data(), wf.data(), N, C, 1e-6f);
            check_near(out.f, out.d, 2e-6, "rmsnorm_forward");
            Pair dx(x.size()), dw(C);
            nn::rmsnorm_backward(dx.d.data(), dw.d.data(), dout.data(), x.data(), w.data(), rstd.d.data(), N, C);
            nn::rmsnorm_backward(dx.f.data(), dw.f.data(), df.data(), xf.data(), wf.data(), rstd.f.data(), N, C);
            check_near(dx.f, dx.d, 2e-6, "rmsnorm_backward dinp");
            check_near(dw.f, dw.d, 2e-6, "rmsnorm_backward dw");
        }
        { // softmax over rows of V
            const vector<double> z = random_doubles((size_t)N * V, 6, -4, 4), dp = random_doubles((size_t)N * V, 7);
            const auto zf = to_float(z), dpf = to_float(dp);
            Pair p(z.size()), dz(z.size());
            nn::softmax_forward(p.d.data(), z.data(), N, V);
            nn::softmax_forward(p.f.data(), zf.data(), N, V);
            check_near(p.f, p.d, 2e-6, "softmax_forward");
            nn::softmax_backward(dz.d.data(), p.d.data(), dp.data(), N, V);
            nn::softmax_backward(dz.f.data(), p.f.data(), dpf.data(), N, V);
            check_near(dz.f, dz.d, 4e-6, "softmax_backward");
        }
    });
}

TEST_CASE("causal attention (fused qkv, and grouped KV heads): float near double on every target") {
    const int B = 2, Tn = 9, C = 16, NH = 4, NKV = 2, hd = C / NH;
    const vector<double> qkv = random_doubles((size_t)B * Tn * 3 * C, 8);
    const auto qkvf = to_float(qkv);
    each_isa([&](const std::string &) {
        Pair out((size_t)B * Tn * C), att((size_t)B * NH * Tn * Tn);
        nn::attention_forward(out.d.data(), att.d.data(), qkv.data(), B, Tn, C, NH, true);
        nn::attention_forward(out.f.data(), att.f.data(), qkvf.data(), B, Tn, C, NH, true);
        check_near(out.f, out.d, 2e-6, "attention_forward out");
        check_near(att.f, att.d, 2e-6, "attention_forward att");
        // grouped: q has NH heads, k and v NKV, read from the fused rows with their strides
        const int64_t lq = 3 * C, lk = 3 * C, lv = 3 * C;
        Pair gout((size_t)B * Tn * C), gatt((size_t)B * NH * Tn * Tn);
        nn::gqa_attention_forward(gout.d.data(), gatt.d.data(), qkv.data(), qkv.data() + C, qkv.data() + 2 * C, lq, lk,
                                  lv, B, Tn, NH, NKV, hd);
        nn::gqa_attention_forward(gout.f.data(), gatt.f.data(), qkvf.data(), qkvf.data() + C, qkvf.data() + 2 * C, lq,
                                  lk, lv, B, Tn, NH, NKV, hd);
        check_near(gout.f, gout.d, 2e-6, "gqa_attention_forward out");
    });
}

TEST_CASE("training steps (AdamW included) of the MLP and ViT MoLE on every target: same bits twice, near each other") {
    spec::Spec mlp = test::moe_spec("mlp", {"layers.0", "layers.1"}, 4, 8);
    mlp.model.mlp.hidden = {64, 32};
    spec::Spec vit = test::moe_spec("vit", {"blocks.*.attn.qkv", "blocks.*.mlp.fc1", "blocks.*.mlp.fc2"}, 4, 8);
    vit.model.vit = {4, 32, 2, 2, 64};
    const std::pair<spec::Spec, models::InputShape> cases[] = {{mlp, {784, 0, 0, 0}}, {vit, {784, 1, 28, 28}}};
    for (const auto & [sp, in] : cases) {
        INFO("model " << sp.model.kind);
        vector<float> first_loss;
        each_isa([&](const std::string & isa) {
            vector<float> params[2];
            float loss[2] = {0, 0};
            for (int rep = 0; rep < 2; ++rep) {
                test::TrainLoop loop(sp, in, 16, 1e-2, 11);
                for (int s = 0; s < 3; ++s) loop.step();
                loss[rep] = (float)loop.last.loss;
                const auto v = loop.net->store.trainable_values();
                params[rep].assign(v.begin(), v.end());
            }
            CHECK(std::memcmp(&loss[0], &loss[1], sizeof(float)) == 0);
            CHECK(std::memcmp(params[0].data(), params[1].data(), sizeof(float) * params[0].size()) == 0);
            if (first_loss.empty())
                first_loss.push_back(loss[0]);
            else
                CHECK(std::fabs(loss[0] - first_loss[0]) <= 1e-3 * std::fabs(first_loss[0]));
        });
    }
}
