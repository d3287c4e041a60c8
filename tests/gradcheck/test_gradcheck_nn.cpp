// Gradient checks of every differentiable nn kernel, module and base model (double precision).
// The list below is the coverage list: a new layer is added here.
#include <doctest/doctest.h>

#include <memory>

#include "gradcheck/gradcheck.hpp"
#include "moe/models/registry.hpp"
#include "moe/nn/kernels.hpp"
#include "moe/nn/modules.hpp"
#include "unit/coverage.hpp"

using namespace moe;
using namespace moe::test;
using std::vector;

namespace {

GradCase case_linear() {
    struct S {
        vector<double> inp, w, b, out, G, dinp, dw, db;
    };
    auto s = std::make_shared<S>();
    const int N = 5, C = 4, OC = 3;
    s->inp = random_vec(N * C, 1);
    s->w = random_vec(OC * C, 2);
    s->b = random_vec(OC, 3);
    s->out.resize(N * OC);
    s->G = random_vec(N * OC, 4);
    s->dinp.resize(N * C);
    s->dw.resize(OC * C);
    s->db.resize(OC);
    GradCase c;
    c.name = "linear";
    c.keep = s;
    c.tensors = {{"inp", s->inp.data(), s->dinp.data(), s->inp.size()},
                 {"w", s->w.data(), s->dw.data(), s->w.size()},
                 {"b", s->b.data(), s->db.data(), s->b.size()}};
    c.loss = [s, N, C, OC] {
        nn::linear_forward(s->out.data(), s->inp.data(), s->w.data(), s->b.data(), N, C, OC);
        return dot(s->out.data(), s->G.data(), s->out.size());
    };
    c.backward = [s, N, C, OC] {
        nn::linear_backward(s->dinp.data(), s->dw.data(), s->db.data(), s->G.data(), s->inp.data(), s->w.data(), N, C,
                            OC);
    };
    return c;
}

GradCase case_layernorm() {
    struct S {
        vector<double> inp, w, b, out, mean, rstd, G, dinp, dw, db;
    };
    auto s = std::make_shared<S>();
    const int N = 4, C = 6;
    s->inp = random_vec(N * C, 11, 2.0);
    s->w = random_vec(C, 12);
    s->b = random_vec(C, 13);
    s->out.resize(N * C);
    s->mean.resize(N);
    s->rstd.resize(N);
    s->G = random_vec(N * C, 14);
    s->dinp.resize(N * C);
    s->dw.resize(C);
    s->db.resize(C);
    GradCase c;
    c.name = "layernorm";
    c.keep = s;
    c.tensors = {{"inp", s->inp.data(), s->dinp.data(), s->inp.size()},
                 {"w", s->w.data(), s->dw.data(), s->w.size()},
                 {"b", s->b.data(), s->db.data(), s->b.size()}};
    c.loss = [s, N, C] {
        nn::layernorm_forward(s->out.data(), s->mean.data(), s->rstd.data(), s->inp.data(), s->w.data(), s->b.data(), N,
                              C);
        return dot(s->out.data(), s->G.data(), s->out.size());
    };
    c.backward = [s, N, C] {
        nn::layernorm_backward(s->dinp.data(), s->dw.data(), s->db.data(), s->G.data(), s->inp.data(), s->w.data(),
                               s->mean.data(), s->rstd.data(), N, C);
    };
    return c;
}

GradCase case_activation(bool relu) {
    struct S {
        vector<double> inp, out, G, dinp;
    };
    auto s = std::make_shared<S>();
    const int n = 40;
    s->inp = random_vec(n, 21, 3.0);
    if (relu)
        for (auto & x : s->inp)
            if (std::fabs(x) < 0.05) x = 0.5; // keep away from the kink
    s->out.resize(n);
    s->G = random_vec(n, 22);
    s->dinp.resize(n);
    GradCase c;
    c.name = relu ? "relu" : "gelu";
    c.keep = s;
    c.tensors = {{"inp", s->inp.data(), s->dinp.data(), (size_t)n}};
    c.loss = [s, n, relu] {
        if (relu)
            nn::relu_forward(s->out.data(), s->inp.data(), n);
        else
            nn::gelu_forward(s->out.data(), s->inp.data(), n);
        return dot(s->out.data(), s->G.data(), n);
    };
    c.backward = [s, n, relu] {
        if (relu)
            nn::relu_backward(s->dinp.data(), s->inp.data(), s->G.data(), n);
        else
            nn::gelu_backward(s->dinp.data(), s->inp.data(), s->G.data(), n);
    };
    return c;
}

GradCase case_softmax() {
    struct S {
        vector<double> z, p, G, dz;
    };
    auto s = std::make_shared<S>();
    const int N = 3, V = 5;
    s->z = random_vec(N * V, 31, 2.0);
    s->p.resize(N * V);
    s->G = random_vec(N * V, 32);
    s->dz.resize(N * V);
    GradCase c;
    c.name = "softmax";
    c.keep = s;
    c.tensors = {{"logits", s->z.data(), s->dz.data(), s->z.size()}};
    c.loss = [s, N, V] {
        nn::softmax_forward(s->p.data(), s->z.data(), N, V);
        return dot(s->p.data(), s->G.data(), s->p.size());
    };
    c.backward = [s, N, V] { nn::softmax_backward(s->dz.data(), s->p.data(), s->G.data(), N, V); };
    return c;
}

GradCase case_cross_entropy(bool masked) {
    struct S {
        vector<double> z, p, l, dz;
        vector<int32_t> y;
    };
    auto s = std::make_shared<S>();
    const int N = 4, V = 6;
    const int lo = masked ? 2 : 0, hi = masked ? 5 : V;
    s->z = random_vec(N * V, 41, 3.0);
    s->p.resize(N * V);
    s->l.resize(N);
    s->dz.resize(N * V);
    s->y = masked ? vector<int32_t>{2, 4, 3, 2} : vector<int32_t>{0, 5, 3, 1};
    GradCase c;
    c.name = masked ? "cross_entropy_masked" : "cross_entropy";
    c.keep = s;
    c.tensors = {{"logits", s->z.data(), s->dz.data(), s->z.size()}};
    c.loss = [s, N, V, lo, hi] {
        return nn::cross_entropy_forward(s->l.data(), s->p.data(), s->z.data(), s->y.data(), N, V, lo, hi);
    };
    c.backward = [s, N, V] { nn::cross_entropy_backward(s->dz.data(), s->p.data(), s->y.data(), 1.0 / N, N, V); };
    return c;
}

GradCase case_attention(bool causal) {
    struct S {
        vector<double> qkv, out, att, G, dqkv, datt;
    };
    auto s = std::make_shared<S>();
    const int B = 2, T = 5, C = 6, NH = 2;
    s->qkv = random_vec(B * T * 3 * C, 51);
    s->out.resize(B * T * C);
    s->att.resize(B * NH * T * T);
    s->G = random_vec(B * T * C, 52);
    s->dqkv.resize(s->qkv.size());
    s->datt.resize(B * NH * T * T);
    GradCase c;
    c.name = causal ? "attention_causal" : "attention";
    c.keep = s;
    c.tensors = {{"qkv", s->qkv.data(), s->dqkv.data(), s->qkv.size()}};
    c.loss = [s, B, T, C, NH, causal] {
        nn::attention_forward(s->out.data(), s->att.data(), s->qkv.data(), B, T, C, NH, causal);
        return dot(s->out.data(), s->G.data(), s->out.size());
    };
    c.backward = [s, B, T, C, NH] {
        nn::attention_backward(s->dqkv.data(), s->datt.data(), s->G.data(), s->qkv.data(), s->att.data(), B, T, C, NH);
    };
    return c;
}

GradCase case_patch_embed() {
    struct S {
        ParamStore<double> st;
        nn::PatchEmbed<double> pe;
        vector<double> img, out, G;
    };
    auto s = std::make_shared<S>();
    const int B = 2, Cin = 2, H = 4, W = 6, ps = 2, D = 3;
    s->pe.declare(s->st, "patch_embed", Cin, H, W, ps, D, all_trainable);
    s->st.allocate(1);
    s->pe.bind(s->st);
    s->pe.plan(B);
    s->img = random_vec(B * Cin * H * W, 61);
    s->out.resize(B * s->pe.tokens() * D);
    s->G = random_vec(s->out.size(), 62);
    GradCase c;
    c.name = "patch_embed";
    c.keep = s;
    add_store(c, s->st, 63);
    c.loss = [s, B] {
        s->pe.forward(s->out.data(), s->img.data(), B, true);
        return dot(s->out.data(), s->G.data(), s->out.size());
    };
    c.backward = [s, B] { s->pe.backward(s->G.data(), B); };
    return c;
}

GradCase case_self_attention(bool causal) {
    struct S {
        ParamStore<double> st;
        nn::SelfAttention<double> m;
        vector<double> inp, dinp, out, G;
    };
    auto s = std::make_shared<S>();
    const int B = 2, T = 4, D = 6, NH = 3;
    s->m.declare(s->st, "attn", D, NH, causal, all_trainable);
    s->st.allocate(2);
    s->m.bind(s->st);
    s->m.plan(B, T);
    s->inp = random_vec(B * T * D, 71);
    s->dinp.resize(s->inp.size());
    s->out.resize(B * T * D);
    s->G = random_vec(s->out.size(), 72);
    GradCase c;
    c.name = causal ? "self_attention_causal" : "self_attention";
    c.keep = s;
    add_store(c, s->st, 73);
    c.tensors.push_back({"inp", s->inp.data(), s->dinp.data(), s->inp.size()});
    c.loss = [s, B] {
        s->m.forward(s->out.data(), s->inp.data(), B, true);
        return dot(s->out.data(), s->G.data(), s->out.size());
    };
    c.backward = [s, B] { s->m.backward(s->dinp.data(), s->G.data(), s->inp.data(), B); };
    return c;
}

GradCase case_mlp_block(nn::Activation act) {
    struct S {
        ParamStore<double> st;
        nn::MlpBlock<double> m;
        vector<double> inp, dinp, out, G;
    };
    auto s = std::make_shared<S>();
    const int N = 5, D = 4, M = 7;
    s->m.declare(s->st, "mlp", D, M, act, all_trainable);
    s->st.allocate(3);
    s->m.bind(s->st);
    s->m.plan(N);
    s->inp = random_vec(N * D, 81);
    s->dinp.resize(s->inp.size());
    s->out.resize(N * D);
    s->G = random_vec(s->out.size(), 82);
    GradCase c;
    c.name = act == nn::Activation::gelu ? "mlp_block_gelu" : "mlp_block_relu";
    c.keep = s;
    add_store(c, s->st, 83);
    c.tensors.push_back({"inp", s->inp.data(), s->dinp.data(), s->inp.size()});
    c.loss = [s, N] {
        s->m.forward(s->out.data(), s->inp.data(), N, true);
        return dot(s->out.data(), s->G.data(), s->out.size());
    };
    c.backward = [s, N] { s->m.backward(s->dinp.data(), s->G.data(), s->inp.data(), N); };
    return c;
}

GradCase case_transformer_block() {
    struct S {
        ParamStore<double> st;
        nn::TransformerBlock<double> m;
        vector<double> inp, dinp, out, G;
    };
    auto s = std::make_shared<S>();
    const int B = 2, T = 3, D = 4, NH = 2, M = 8;
    s->m.declare(s->st, "blocks.0", D, NH, M, false, all_trainable);
    s->st.allocate(4);
    s->m.bind(s->st);
    s->m.plan(B, T);
    s->inp = random_vec(B * T * D, 91);
    s->dinp.resize(s->inp.size());
    s->out.resize(B * T * D);
    s->G = random_vec(s->out.size(), 92);
    GradCase c;
    c.name = "transformer_block";
    c.keep = s;
    add_store(c, s->st, 93);
    c.tensors.push_back({"inp", s->inp.data(), s->dinp.data(), s->inp.size()});
    c.loss = [s, B] {
        s->m.forward(s->out.data(), s->inp.data(), B, true);
        return dot(s->out.data(), s->G.data(), s->out.size());
    };
    c.backward = [s, B] { s->m.backward(s->dinp.data(), s->G.data(), s->inp.data(), B); };
    return c;
}

// The families whose whole model is checked (case_model builds each): every registered one, or
// the completeness test fails.
const std::vector<std::string> kModelCases = {"mlp", "vit", "gpt"};

GradCase case_model(const std::string & kind) {
    struct S {
        ParamStore<double> st;
        std::unique_ptr<models::Model<double>> m;
        vector<double> x, G;
        vector<int32_t> tokens;
        int B = 3;
    };
    auto s = std::make_shared<S>();
    models::ModelConfig mc;
    mc.kind = kind;
    mc.mlp.hidden = {7, 5};
    mc.vit = {2, 4, 2, 2, 6}; // patch, width, depth, heads, mlp_dim
    mc.gpt.context = 5;       // GPT-2 layout (the LLaMA options: test_gradcheck_lm.cpp)
    mc.gpt.width = 8;
    mc.gpt.depth = 2;
    mc.gpt.heads = 2;
    mc.gpt.mlp_dim = 12;
    models::InputShape in = kind == "vit" ? models::InputShape{16, 1, 4, 4} : models::InputShape{6, 0, 0, 0};
    const int V = kind == "gpt" ? 7 : 3;
    s->m = models::make_model<double>(mc, in, V, s->st, all_trainable);
    s->st.allocate(5);
    s->m->bind(s->st);
    s->m->plan(s->B);
    const int rows = s->B * s->m->rows_per_sample();
    if (kind == "gpt") {
        for (int i = 0; i < s->B * mc.gpt.context; ++i) s->tokens.push_back((i * 5 + 2) % V);
    } else {
        s->x = random_vec(s->B * in.d, 101);
    }
    s->G = random_vec((size_t)rows * V, 102);
    GradCase c;
    c.name = "model_" + kind;
    c.keep = s;
    add_store(c, s->st, 103);
    auto batch = [s] {
        models::Batch<double> b;
        b.B = s->B;
        b.x = s->x.empty() ? nullptr : s->x.data();
        b.tokens = s->tokens.empty() ? nullptr : s->tokens.data();
        return b;
    };
    c.loss = [s, batch] { return dot(s->m->forward(batch(), true), s->G.data(), s->G.size()); };
    c.backward = [s, batch] { s->m->backward(s->G.data(), batch()); };
    return c;
}

} // namespace

namespace moe::test {
std::vector<std::string> gradchecked_models() { return kModelCases; }
} // namespace moe::test

// The gradient-check list: every differentiable kernel, module and model of nn/ and models/.
TEST_CASE("gradcheck: every nn kernel, module and base model") {
    vector<GradCase> cases;
    cases.push_back(case_linear());
    cases.push_back(case_layernorm());
    cases.push_back(case_activation(false));
    cases.push_back(case_activation(true));
    cases.push_back(case_softmax());
    cases.push_back(case_cross_entropy(false));
    cases.push_back(case_cross_entropy(true));
    cases.push_back(case_attention(false));
    cases.push_back(case_attention(true));
    cases.push_back(case_patch_embed());
    cases.push_back(case_self_attention(false));
    cases.push_back(case_self_attention(true));
    cases.push_back(case_mlp_block(nn::Activation::gelu));
    cases.push_back(case_mlp_block(nn::Activation::relu));
    cases.push_back(case_transformer_block());
    for (const auto & name : moe::test::gradchecked_models()) cases.push_back(case_model(name));
    check_all(cases);
}

TEST_CASE("gradcheck: the checker catches a backward that overwrites instead of accumulating") {
    // a planted bug: linear backward with beta = 0 on dw (overwrite). The sentinel must expose it.
    GradCase c = case_linear();
    struct S {
        vector<double> inp, w, b, out, G, dinp, dw, db;
    };
    auto s = std::static_pointer_cast<S>(c.keep);
    c.backward = [s] {
        nn::linear_backward(s->dinp.data(), (double *)nullptr, s->db.data(), s->G.data(), s->inp.data(), s->w.data(), 5,
                            4, 3);
        std::fill(s->dw.begin(), s->dw.end(), 0.0); // overwrite ...
        nn::linear_backward((double *)nullptr, s->dw.data(), (double *)nullptr, s->G.data(), s->inp.data(), s->w.data(),
                            5, 4, 3);
    };
    auto r = grad_check(c);
    CHECK_FALSE(r.ok);
    CHECK(r.report.find("w[") != std::string::npos);
}

TEST_CASE("gradcheck: the checker catches a wrong derivative") {
    GradCase c = case_activation(false);
    struct S {
        vector<double> inp, out, G, dinp;
    };
    auto s = std::static_pointer_cast<S>(c.keep);
    c.backward = [s] { nn::relu_backward(s->dinp.data(), s->inp.data(), s->G.data(), (int64_t)s->inp.size()); };
    CHECK_FALSE(grad_check(c).ok);
}

TEST_CASE("frozen Linear: input gradient only, no weight gradient buffer") {
    ParamStore<double> st;
    nn::Linear<double> l;
    l.declare(st, "layers.0", 3, 2, true, [](const std::string &) { return false; });
    st.allocate(1);
    l.bind(st);
    CHECK(l.frozen());
    CHECK(st.grad(l.id_w) == nullptr);
    CHECK(st.n_trainable() == 0);
    vector<double> inp = random_vec(6, 1), dout = random_vec(4, 2), dinp(6, 0.0);
    l.backward(dinp.data(), dout.data(), inp.data(), 2);
    // dinp = dout @ w
    for (int n = 0; n < 2; ++n)
        for (int c = 0; c < 3; ++c) {
            double e = 0;
            for (int o = 0; o < 2; ++o) e += dout[n * 2 + o] * l.w[o * 3 + c];
            CHECK(dinp[n * 3 + c] == doctest::Approx(e).epsilon(1e-12));
        }
}
