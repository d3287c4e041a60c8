// test_hf_llama.cpp — a LLaMA checkpoint in Hugging Face layout onto the gpt family
// (moe/models/hf_checkpoint.hpp, moe/io/hf_load.hpp): config.json to RMSNorm, RoPE (rotate_half),
// grouped KV heads and SwiGLU; the name plan (nothing transposed, rotary buffers skipped, the head
// tied or not); problems named; and the committed tiny LLaMA (tests/fixtures/make_safetensors.py)
// giving the reference page's golden logits and loss (lm_golden.py section 3, written from
// transformers' LlamaForCausalLM formulas).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "moe/core/error.hpp"
#include "moe/io/hf_load.hpp"
#include "moe/models/hf_checkpoint.hpp"
#include "moe/models/registry.hpp"

using namespace moe;
using models::NamedShape;

namespace {

const std::string kDir = std::string(MOE_TEST_DATA_DIR) + "/safetensors/";

std::string io_error(const std::function<void()> & f) {
    try {
        f();
    } catch (const Error & e) {
        CHECK(e.code() == ErrorCode::io);
        return e.what();
    }
    FAIL_CHECK("no exception thrown");
    return "";
}

nlohmann::json tiny_config() {
    return {{"model_type", "llama"},       {"vocab_size", 13},        {"hidden_size", 16},
            {"intermediate_size", 24},     {"num_hidden_layers", 2},  {"num_attention_heads", 4},
            {"num_key_value_heads", 2},    {"head_dim", 4},           {"hidden_act", "silu"},
            {"max_position_embeddings", 8}, {"rms_norm_eps", 1e-5},   {"rope_theta", 10000.0},
            {"rope_scaling", nullptr},     {"tie_word_embeddings", true}};
}

std::vector<NamedShape> params_of(const models::HfModel & m) {
    models::ModelConfig mc;
    mc.kind = "gpt";
    mc.gpt = m.cfg;
    ParamStore<float> st;
    auto model = models::make_model<float>(mc, {}, m.vocab, st, [](const std::string &) { return true; });
    std::vector<NamedShape> r;
    for (int id = 0; id < st.size(); ++id) r.push_back({st.info(id).name, st.info(id).shape});
    return r;
}

std::vector<NamedShape> hf_tensors() {
    std::vector<NamedShape> t = {{"model.embed_tokens.weight", {13, 16}}};
    for (int l = 0; l < 2; ++l) {
        const std::string h = "model.layers." + std::to_string(l) + ".";
        t.push_back({h + "input_layernorm.weight", {16}});
        t.push_back({h + "self_attn.q_proj.weight", {16, 16}});
        t.push_back({h + "self_attn.k_proj.weight", {8, 16}});
        t.push_back({h + "self_attn.v_proj.weight", {8, 16}});
        t.push_back({h + "self_attn.o_proj.weight", {16, 16}});
        t.push_back({h + "post_attention_layernorm.weight", {16}});
        t.push_back({h + "mlp.gate_proj.weight", {24, 16}});
        t.push_back({h + "mlp.up_proj.weight", {24, 16}});
        t.push_back({h + "mlp.down_proj.weight", {16, 24}});
    }
    t.push_back({"model.norm.weight", {16}});
    return t;
}

} // namespace

TEST_CASE("hf_llama: config.json to the gpt config") {
    const auto m = models::hf_model_from_config(tiny_config(), "config.json");
    CHECK(m.family == "llama");
    CHECK(m.vocab == 13);
    const auto & g = m.cfg;
    CHECK(g.width == 16);
    CHECK(g.depth == 2);
    CHECK(g.heads == 4);
    CHECK(g.kv_heads == 2);
    CHECK(g.mlp_dim == 24);
    CHECK(g.context == 8);
    CHECK(g.norm == "rmsnorm");
    CHECK(g.norm_eps == 1e-5);
    CHECK(g.positions == "rope");
    CHECK(g.rope_theta == 10000.0);
    CHECK(g.mlp == "swiglu");
    CHECK(!g.bias);
    CHECK(g.qkv == "split");
    CHECK(g.tie_head);
    // defaults of LlamaConfig: kv heads = heads, eps 1e-6, untied, 2048 positions
    auto c = tiny_config();
    for (const char * k : {"num_key_value_heads", "head_dim", "rms_norm_eps", "tie_word_embeddings",
                           "max_position_embeddings", "rope_theta", "hidden_act"})
        c.erase(k);
    const auto d = models::hf_model_from_config(c, "config.json");
    CHECK(d.cfg.kv_heads == 4);
    CHECK(d.cfg.norm_eps == 1e-6);
    CHECK(!d.cfg.tie_head);
    CHECK(d.cfg.context == 2048);
    CHECK(d.cfg.rope_theta == 10000.0);
    auto bad = [&](const char * key, nlohmann::json v) {
        auto c = tiny_config();
        c[key] = v;
        return io_error([&] { models::hf_model_from_config(c, "config.json"); });
    };
    CHECK(bad("num_key_value_heads", 3) == "config.json: num_key_value_heads 3 does not divide num_attention_heads 4");
    CHECK(bad("head_dim", 8) == "config.json: head_dim 8 is not hidden_size / num_attention_heads (4); the gpt family "
                                "needs that head size");
    CHECK(bad("hidden_act", "gelu") == "config.json: hidden_act 'gelu' is not supported (expected silu: SwiGLU)");
    CHECK(bad("rope_scaling", {{"type", "linear"}, {"factor", 2.0}}) ==
          "config.json: 'rope_scaling' is {\"factor\":2.0,\"type\":\"linear\"}, expected null (scaled RoPE variants are "
          "not supported)");
    CHECK(bad("attention_bias", true) ==
          "config.json: 'attention_bias' is true; biased attention projections are not supported");
    CHECK(bad("rms_norm_eps", -1) == "config.json: 'rms_norm_eps' is -1, expected a number > 0");
    CHECK(bad("hidden_size", 18) == "config.json: hidden_size 18 is not a multiple of num_attention_heads 4");
    CHECK(bad("intermediate_size", nullptr) ==
          "config.json: 'intermediate_size' is null, expected an integer >= 1");
}

TEST_CASE("hf_llama: every tensor is mapped as stored, rotary buffers and a tied head skipped") {
    const auto m = models::hf_model_from_config(tiny_config(), "config.json");
    const auto params = params_of(m);
    REQUIRE(params.size() == 1 + 2 * 9 + 1);
    auto t = hf_tensors();
    t.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", {2}});
    t.push_back({"model.rotary_emb.inv_freq", {2}});
    t.push_back({"lm_head.weight", {13, 16}});
    const auto plan = models::plan_hf_import(m, t, params, "m.safetensors");
    REQUIRE(plan.imports.size() == params.size());
    CHECK(plan.skipped == std::vector<std::string>{"lm_head.weight", "model.layers.0.self_attn.rotary_emb.inv_freq",
                                                   "model.rotary_emb.inv_freq"});
    for (const auto & im : plan.imports) {
        CHECK(!im.transpose);
        if (im.param == "blocks.1.attn.k.weight") CHECK(im.tensor == "model.layers.1.self_attn.k_proj.weight");
        if (im.param == "blocks.0.mlp.gate.weight") CHECK(im.tensor == "model.layers.0.mlp.gate_proj.weight");
        if (im.param == "blocks.0.mlp.down.weight") CHECK(im.tensor == "model.layers.0.mlp.down_proj.weight");
        if (im.param == "blocks.1.ln2.weight") CHECK(im.tensor == "model.layers.1.post_attention_layernorm.weight");
        if (im.param == "norm.weight") CHECK(im.tensor == "model.norm.weight");
    }
    // untied: lm_head.weight is the head; without it, the head is named missing
    auto um = m;
    um.cfg.tie_head = false;
    auto ut = hf_tensors();
    ut.push_back({"lm_head.weight", {13, 16}});
    CHECK(models::plan_hf_import(um, ut, params_of(um), "m").imports.back().param == "head.weight");
    CHECK(io_error([&] { models::plan_hf_import(um, hf_tensors(), params_of(um), "m"); }) ==
          "m: cannot map the LLaMA checkpoint onto the gpt model (1 problem):\n  parameter 'head.weight' [13, 16]: no "
          "tensor for it (expected 'lm_head.weight')");
    // a missing and a misshapen tensor, and one LLaMA does not have
    auto bt = hf_tensors();
    bt.erase(bt.begin() + 3); // model.layers.0.self_attn.k_proj.weight
    bt[1].shape = {8};        // input_layernorm
    bt.push_back({"model.layers.0.self_attn.q_proj.bias", {16}});
    CHECK(io_error([&] { models::plan_hf_import(m, bt, params, "m"); }) ==
          "m: cannot map the LLaMA checkpoint onto the gpt model (3 problems):\n"
          "  'model.layers.0.input_layernorm.weight' has shape [8], but 'blocks.0.ln1.weight' [16] needs [16]\n"
          "  'model.layers.0.self_attn.q_proj.bias' is not a LLaMA tensor this model has (no parameter to fill)\n"
          "  parameter 'blocks.0.attn.k.weight' [8, 16]: no tensor for it (expected "
          "'model.layers.0.self_attn.k_proj.weight')");
}

namespace {

template <typename T>
void check_tiny_llama(double rel) {
    const io::HfCheckpoint hf = io::open_hf_checkpoint(kDir + "tiny_llama");
    models::ModelConfig mc;
    mc.kind = "gpt";
    mc.gpt = hf.model.cfg;
    ParamStore<T> st;
    auto m = models::make_model<T>(mc, {}, hf.model.vocab, st, [](const std::string &) { return true; });
    st.allocate(1);
    m->bind(st);
    const auto plan = io::load_hf_checkpoint(hf, st);
    CHECK(plan.imports.size() == size_t(st.size()));
    m->plan(1);
    const std::vector<int32_t> tok = {3, 1, 4, 1, 5, 9, 0, 0}; // padded to the context of 8
    models::Batch<T> b;
    b.B = 1;
    b.tokens = tok.data();
    const T * z = m->forward(b, false);
    const int V = 13;
    const double l0[4] = {1.79291022959, 0.550312056767, -0.272114663494, 0.666524161018};
    const double l5[4] = {1.84079654799, 0.520405471845, -0.0362110869946, -2.2540550284};
    for (int i = 0; i < 4; ++i) {
        CHECK(double(z[i]) == doctest::Approx(l0[i]).epsilon(rel));
        CHECK(double(z[5 * V + i]) == doctest::Approx(l5[i]).epsilon(rel));
    }
    double s = 0;
    for (int t = 0; t + 1 < 6; ++t) {
        double mx = -1e300, e = 0;
        for (int v = 0; v < V; ++v) mx = std::max(mx, double(z[t * V + v]));
        for (int v = 0; v < V; ++v) e += std::exp(double(z[t * V + v]) - mx);
        s += mx + std::log(e) - double(z[t * V + tok[t + 1]]);
    }
    CHECK(s / 5 == doctest::Approx(3.85838524617).epsilon(rel));
}

} // namespace

TEST_CASE("hf_llama: the tiny LLaMA checkpoint gives the reference logits and loss") {
    check_tiny_llama<double>(1e-6); // the weights are float32 in the file
    check_tiny_llama<float>(1e-5);
}
