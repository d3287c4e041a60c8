// test_bf16_storage.cpp — frozen base weights kept in bfloat16 (model.base_storage = "bf16";
// moe/core/params.hpp): the rounding (nearest even: 0.1 and the tie 1.01171875),
// the store's blocks and conversions, the BF16 GPT-2 fixture giving bit-identical logits and
// gradients under either storage, and the F32 tiny LLaMA staying within the documented tolerance
// of its reference logits and loss (docs/hf-checkpoints.md).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "moe/core/params.hpp"
#include "moe/io/hf_load.hpp"
#include "moe/models/registry.hpp"

using namespace moe;

namespace {

const std::string kDir = std::string(MOE_TEST_DATA_DIR) + "/safetensors/";

uint32_t bits(float x) {
    uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    return u;
}
float from_bits(uint32_t u) {
    float x;
    std::memcpy(&x, &u, sizeof x);
    return x;
}

// A gpt model from an HF checkpoint directory with the given base storage; `trainable` decides
// which parameters are trained (the rest frozen, so its Linear weights may be bf16).
struct Loaded {
    ParamStore<float> st;
    std::unique_ptr<models::Model<float>> m;
};
void load(Loaded & l, const std::string & dir, const std::string & storage, const nn::TrainablePred & trainable) {
    const io::HfCheckpoint hf = io::open_hf_checkpoint(kDir + dir);
    models::ModelConfig mc;
    mc.kind = "gpt";
    mc.gpt = hf.model.cfg;
    mc.base_storage = storage;
    l.st.set_frozen_bf16(storage == "bf16");
    l.m = models::make_model<float>(mc, {}, hf.model.vocab, l.st, trainable);
    l.st.allocate(1);
    l.m->bind(l.st);
    io::load_hf_checkpoint(hf, l.st);
}

bool norms_only(const std::string & n) { return n.find("ln") != std::string::npos || n.rfind("norm.", 0) == 0; }

} // namespace

TEST_CASE("bf16 storage: round to nearest even, exact widening") {
    CHECK(float_to_bf16(0.1f) == 0x3DCD);        // truncation would give 0x3DCC
    CHECK(float_to_bf16(1.01171875f) == 0x3F82); // a tie (0x3F818000): to the even 0x3F82, not 0x3F81
    CHECK(float_to_bf16(from_bits(0x3F808000)) == 0x3F80); // a tie below: to the even 0x3F80
    CHECK(float_to_bf16(from_bits(0x3F808001)) == 0x3F81); // just above the tie: up
    CHECK(float_to_bf16(1.0f) == 0x3F80);
    CHECK(float_to_bf16(-2.0f) == 0xC000);
    CHECK(float_to_bf16(0.0f) == 0x0000);
    CHECK(float_to_bf16(-0.0f) == 0x8000);
    CHECK(float_to_bf16(INFINITY) == 0x7F80);
    CHECK(float_to_bf16(from_bits(0x7F7FFFFF)) == 0x7F80); // the largest float rounds to infinity
    CHECK((float_to_bf16(NAN) & 0x7FC0) == 0x7FC0);        // NaN stays a (quiet) NaN
    CHECK(float_to_bf16(from_bits(0x7F800001)) == 0x7FC0); // a signalling NaN whose payload would truncate to inf
    for (uint32_t b = 0; b < 0x10000; b += 7) { // every widened value rounds back to itself
        const float x = bf16_to_float(uint16_t(b));
        if (std::isnan(x)) continue;
        CHECK(bits(x) == b << 16);
        CHECK(float_to_bf16(x) == b);
    }
}

TEST_CASE("bf16 storage: only frozen tensors marked allow_bf16 are kept in bfloat16") {
    ParamStore<float> st;
    const int a = st.declare("a.weight", {3, 5}, false, Init::Constant(0.1)); // frozen, marked: bf16
    const int b = st.declare("b.weight", {4}, false, Init::Constant(0.1));    // frozen, not marked
    const int c = st.declare("c.weight", {2, 2}, true, Init::Constant(0.1));  // trainable, marked
    const int d = st.declare("d.weight", {7, 3}, false, Init::Ones());        // frozen, marked: bf16
    st.allow_bf16(a);
    st.allow_bf16(c);
    st.allow_bf16(d);
    st.set_frozen_bf16(true);
    CHECK(st.n_frozen_bf16() == 16 + 32); // padded to 16 elements each
    CHECK(st.bf16_scratch_size() == 21);
    st.allocate(3);
    CHECK(st.value(a) == nullptr);
    CHECK(st.value(d) == nullptr);
    REQUIRE(st.bf16(a) != nullptr);
    CHECK(st.bf16(b) == nullptr);
    CHECK(st.bf16(c) == nullptr);
    CHECK(st.value(b)[0] == 0.1f);
    CHECK(st.value(c)[0] == 0.1f);
    CHECK(st.bf16(a)[0] == 0x3DCD); // the initial value, rounded
    CHECK(st.bf16(d)[20] == 0x3F80);
    REQUIRE(st.bf16_scratch() != nullptr);
    std::vector<float> v(15, 1.01171875f), back(15);
    v[4] = -3.0f;
    st.assign(a, v.data());
    st.read_value(a, back.data());
    CHECK(back[0] == 1.015625f); // 0x3F82
    CHECK(back[4] == -3.0f);
    std::vector<float> w(4, 0.3f), wb(4);
    st.assign(b, w.data()); // a float32 tensor: copied as is
    st.read_value(b, wb.data());
    CHECK(wb[3] == 0.3f);
    CHECK(st.n_frozen() == 16 + 16 + 32);
    CHECK(st.n_trainable() == 16);

    ParamStore<float> off; // without set_frozen_bf16 the marks change nothing
    const int e = off.declare("e.weight", {2}, false, Init::Ones());
    off.allow_bf16(e);
    CHECK(off.n_frozen_bf16() == 0);
    off.allocate(1);
    CHECK(off.value(e) != nullptr);
    CHECK(off.bf16(e) == nullptr);
}

TEST_CASE("bf16 storage: a BF16 checkpoint gives the same bits as float32 storage") {
    Loaded f, h;
    load(f, "bytes_gpt2", "f32", norms_only);
    load(h, "bytes_gpt2", "bf16", norms_only);
    CHECK(h.st.n_frozen_bf16() > 0);
    CHECK(h.st.value(h.st.find("blocks.0.attn.qkv.weight")) == nullptr);
    CHECK(h.st.value(h.st.find("tok_emb.weight")) != nullptr); // embeddings (and the tied head) stay f32
    const int T = 32, B = 2, V = 257; // the checkpoint's context
    std::vector<int32_t> tok(B * T);
    for (int i = 0; i < B * T; ++i) tok[i] = (i * 37 + 11) % V;
    models::Batch<float> b;
    b.B = B;
    b.tokens = tok.data();
    std::vector<float> dl((size_t)B * T * V);
    for (size_t i = 0; i < dl.size(); ++i) dl[i] = float(int(i % 13) - 6) * 1e-3f;
    std::vector<float> z[2], g[2];
    Loaded * ls[2] = {&f, &h};
    for (int k = 0; k < 2; ++k) {
        auto & l = *ls[k];
        l.m->plan(B);
        const float * out = l.m->forward(b, true);
        z[k].assign(out, out + dl.size());
        l.st.zero_grad();
        l.m->backward(dl.data(), b);
        g[k].assign(l.st.trainable_grads().begin(), l.st.trainable_grads().end());
    }
    REQUIRE(z[0].size() == z[1].size());
    CHECK(std::memcmp(z[0].data(), z[1].data(), z[0].size() * sizeof(float)) == 0);
    REQUIRE(g[0].size() == g[1].size());
    CHECK(!g[0].empty());
    CHECK(std::memcmp(g[0].data(), g[1].data(), g[0].size() * sizeof(float)) == 0);
    // every stored value widens to the checkpoint's float
    std::vector<float> a(f.st.info(f.st.find("blocks.1.mlp.fc2.weight")).size), c(a.size());
    h.st.read_value(h.st.find("blocks.1.mlp.fc2.weight"), a.data());
    f.st.read_value(f.st.find("blocks.1.mlp.fc2.weight"), c.data());
    CHECK(a == c);
}

TEST_CASE("bf16 storage: an F32 checkpoint rounded to bfloat16 stays within the documented tolerance") {
    // tiny LLaMA (F32 weights): the reference logits and loss that test_hf_llama checks
    Loaded f, h;
    load(f, "tiny_llama", "f32", norms_only);
    load(h, "tiny_llama", "bf16", norms_only);
    const std::vector<int32_t> tok = {3, 1, 4, 1, 5, 9, 0, 0};
    models::Batch<float> b;
    b.B = 1;
    b.tokens = tok.data();
    const int V = 13;
    f.m->plan(1);
    h.m->plan(1);
    const float * zf0 = f.m->forward(b, false);
    const std::vector<float> zf(zf0, zf0 + 8 * V);
    const float * zh0 = h.m->forward(b, false);
    const std::vector<float> zh(zh0, zh0 + 8 * V);
    const double l0[4] = {1.79291022959, 0.550312056767, -0.272114663494, 0.666524161018};
    const double l5[4] = {1.84079654799, 0.520405471845, -0.0362110869946, -2.2540550284};
    double max_golden = 0, max_f32 = 0, max_logit = 0;
    for (int i = 0; i < 4; ++i) {
        max_golden = std::max({max_golden, std::abs(zh[i] - l0[i]), std::abs(zh[5 * V + i] - l5[i])});
        CHECK(zf[i] == doctest::Approx(l0[i]).epsilon(1e-5)); // float32 storage: the reference
    }
    for (int i = 0; i < 6 * V; ++i) { // the six real positions
        max_f32 = std::max(max_f32, double(std::abs(zh[i] - zf[i])));
        max_logit = std::max(max_logit, double(std::abs(zf[i])));
    }
    auto loss = [&](const std::vector<float> & z) {
        double s = 0;
        for (int t = 0; t + 1 < 6; ++t) {
            double mx = -1e300, e = 0;
            for (int v = 0; v < V; ++v) mx = std::max(mx, double(z[t * V + v]));
            for (int v = 0; v < V; ++v) e += std::exp(double(z[t * V + v]) - mx);
            s += mx + std::log(e) - double(z[t * V + tok[t + 1]]);
        }
        return s / 5;
    };
    const double dloss = std::abs(loss(zh) - 3.85838524617);
    MESSAGE("tiny_llama bf16 storage: max |logit - golden| = " << max_golden << ", max |logit(bf16) - logit(f32)| = "
                                                               << max_f32 << " (logits up to " << max_logit
                                                               << "), |loss - golden| = " << dloss);
    CHECK(max_f32 > 0);       // the weights were rounded: something changed
    // docs/hf-checkpoints.md: measured 3.9e-3 (logits up to 2.86) and 3.1e-3 against the reference,
    // the loss 4.3e-4 off; documented (and checked) as 1e-2 absolute for the logits, 2e-3 for the loss
    CHECK(max_f32 <= 1e-2);
    CHECK(max_golden <= 1e-2);
    CHECK(dloss <= 2e-3);
}
