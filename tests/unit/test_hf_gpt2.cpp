// test_hf_gpt2.cpp — a GPT-2 checkpoint in Hugging Face layout onto the gpt family
// (moe/models/hf_checkpoint.hpp, moe/io/hf_load.hpp): config.json to the model's config, the name
// plan (every tensor mapped or a skipped buffer, Conv1D weights transposed), every unmapped,
// missing or misshapen tensor named, and the committed tiny GPT-2 (tests/fixtures/
// make_safetensors.py) loaded from one file and from shards giving the reference page's logits
// and loss (the values test_gpt checks with weights set by hand).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <cstdint>
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
    return {{"model_type", "gpt2"}, {"vocab_size", 11}, {"n_positions", 8}, {"n_embd", 8},
            {"n_layer", 2},         {"n_head", 2},      {"n_inner", nullptr}, {"activation_function", "gelu_new"},
            {"layer_norm_epsilon", 1e-5}};
}

models::GptConfig gpt2_config(const nlohmann::json & c, const std::string & file, int & vocab) {
    const auto m = models::hf_model_from_config(c, file);
    CHECK(m.family == "gpt2");
    vocab = m.vocab;
    return m.cfg;
}

models::HfPlan plan_gpt2(const std::vector<NamedShape> & t, const std::vector<NamedShape> & params, bool tie,
                         const std::string & file) {
    models::HfModel m;
    m.family = "gpt2";
    m.cfg.tie_head = tie;
    return models::plan_hf_import(m, t, params, file);
}

// The gpt model's parameters (names and shapes) for a GPT-2 config.
std::vector<NamedShape> params_of(const models::GptConfig & g, int vocab) {
    models::ModelConfig mc;
    mc.kind = "gpt";
    mc.gpt = g;
    ParamStore<float> st;
    auto m = models::make_model<float>(mc, {}, vocab, st, [](const std::string &) { return true; });
    std::vector<NamedShape> r;
    for (int id = 0; id < st.size(); ++id) r.push_back({st.info(id).name, st.info(id).shape});
    return r;
}

// The tensors of the released GPT-2 layout for the tiny config (C = 8, V = 11, P = 8, L = 2).
std::vector<NamedShape> hf_tensors(const std::string & prefix = "") {
    std::vector<NamedShape> t = {{prefix + "wte.weight", {11, 8}}, {prefix + "wpe.weight", {8, 8}}};
    for (int l = 0; l < 2; ++l) {
        const std::string h = prefix + "h." + std::to_string(l) + ".";
        t.push_back({h + "ln_1.weight", {8}});
        t.push_back({h + "ln_1.bias", {8}});
        t.push_back({h + "attn.c_attn.weight", {8, 24}});
        t.push_back({h + "attn.c_attn.bias", {24}});
        t.push_back({h + "attn.c_proj.weight", {8, 8}});
        t.push_back({h + "attn.c_proj.bias", {8}});
        t.push_back({h + "ln_2.weight", {8}});
        t.push_back({h + "ln_2.bias", {8}});
        t.push_back({h + "mlp.c_fc.weight", {8, 32}});
        t.push_back({h + "mlp.c_fc.bias", {32}});
        t.push_back({h + "mlp.c_proj.weight", {32, 8}});
        t.push_back({h + "mlp.c_proj.bias", {8}});
    }
    t.push_back({prefix + "ln_f.weight", {8}});
    t.push_back({prefix + "ln_f.bias", {8}});
    return t;
}

// mean over t < n-1 of the cross-entropy of logits[t] against tokens[t+1] (HF's shifted loss)
template <typename T>
double shifted_loss(const T * z, const std::vector<int32_t> & tok, size_t n, int V) {
    double s = 0;
    for (size_t t = 0; t + 1 < n; ++t) {
        double m = -1e300, e = 0;
        for (int v = 0; v < V; ++v) m = std::max(m, double(z[t * V + v]));
        for (int v = 0; v < V; ++v) e += std::exp(double(z[t * V + v]) - m);
        s += m + std::log(e) - double(z[t * V + tok[t + 1]]);
    }
    return s / double(n - 1);
}

template <typename T>
void check_tiny_gpt2(const std::string & dir, double rel) {
    const io::HfCheckpoint hf = io::open_hf_checkpoint(dir);
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
    // the reference tokens, padded to the context of 8: positions 0..5 see only their prefix
    const std::vector<int32_t> tok = {1, 5, 2, 7, 3, 9, 0, 0};
    models::Batch<T> b;
    b.B = 1;
    b.tokens = tok.data();
    const T * z = m->forward(b, false);
    const double l0[4] = {1.07083502057, 1.08255601882, 1.09427701706, 0.218498015165};
    const double l5[4] = {0.357356875336, 0.35845412594, 0.359551376544, -1.24628614695};
    for (int i = 0; i < 4; ++i) {
        CHECK(double(z[i]) == doctest::Approx(l0[i]).epsilon(rel));
        CHECK(double(z[5 * 11 + i]) == doctest::Approx(l5[i]).epsilon(rel));
    }
    CHECK(shifted_loss(z, tok, 6, 11) == doctest::Approx(3.66487965986).epsilon(rel));
}

} // namespace

TEST_CASE("hf_gpt2: config.json to the gpt config") {
    int vocab = 0;
    const auto g = gpt2_config(tiny_config(), "config.json", vocab);
    CHECK(vocab == 11);
    CHECK(g.context == 8);
    CHECK(g.width == 8);
    CHECK(g.depth == 2);
    CHECK(g.heads == 2);
    CHECK(g.mlp_dim == 0);
    CHECK(g.mlp == "gelu_tanh");
    CHECK(g.norm == "layernorm");
    CHECK(g.positions == "learned");
    CHECK(g.tie_head);
    CHECK(g.bias);
    auto bad = [&](const char * key, nlohmann::json v) {
        auto c = tiny_config();
        c[key] = v;
        return io_error([&] { gpt2_config(c, "config.json", vocab); });
    };
    CHECK(bad("model_type", "bert") ==
          "config.json: model_type is \"bert\", expected \"gpt2\" (GPT2LMHeadModel) or \"llama\" (LlamaForCausalLM)");
    CHECK(bad("n_embd", 9) == "config.json: n_embd 9 is not a multiple of n_head 2");
    CHECK(bad("n_layer", -1) == "config.json: 'n_layer' is -1, expected an integer >= 1");
    CHECK(bad("vocab_size", "11") == "config.json: 'vocab_size' is \"11\", expected an integer >= 1");
    CHECK(bad("activation_function", "relu") ==
          "config.json: activation_function 'relu' is not supported (expected gelu_new, gelu_pytorch_tanh or gelu)");
    CHECK(bad("tie_word_embeddings", 1) == "config.json: 'tie_word_embeddings' is 1, expected true or false");
    CHECK(gpt2_config([] { auto c = tiny_config(); c["activation_function"] = "gelu"; return c; }(),
                                      "c", vocab).mlp == "gelu");
}

TEST_CASE("hf_gpt2: every tensor is mapped, Conv1D weights transposed, buffers skipped") {
    int vocab = 0;
    const auto g = gpt2_config(tiny_config(), "config.json", vocab);
    const auto params = params_of(g, vocab);
    REQUIRE(params.size() == 2 + 2 * 12 + 2);
    for (const std::string prefix : {"", "transformer."}) {
        auto t = hf_tensors(prefix);
        t.push_back({prefix + "h.0.attn.bias", {1, 1, 8, 8}});
        t.push_back({prefix + "h.1.attn.masked_bias", {}});
        t.push_back({"lm_head.weight", {11, 8}}); // tied: skipped
        const auto plan = plan_gpt2(t, params, true, "m.safetensors");
        REQUIRE(plan.imports.size() == params.size());
        std::vector<std::string> skipped = {prefix + "h.0.attn.bias", prefix + "h.1.attn.masked_bias", "lm_head.weight"};
        std::sort(skipped.begin(), skipped.end());
        CHECK(plan.skipped == skipped);
        int transposed = 0;
        for (const auto & im : plan.imports) {
            transposed += im.transpose;
            if (im.param == "blocks.1.attn.qkv.weight") {
                CHECK(im.tensor == prefix + "h.1.attn.c_attn.weight");
                CHECK(im.transpose);
                CHECK(im.shape == std::vector<int64_t>{8, 24});
            }
            if (im.param == "tok_emb.weight") CHECK(im.tensor == prefix + "wte.weight");
            if (im.param == "norm.bias") CHECK(im.tensor == prefix + "ln_f.bias");
            if (im.param == "blocks.0.mlp.fc2.bias") CHECK(im.tensor == prefix + "h.0.mlp.c_proj.bias");
        }
        CHECK(transposed == 8);
    }
    // an untied model takes lm_head.weight as its head, (out, in) as stored
    auto untied = g;
    untied.tie_head = false;
    auto t = hf_tensors();
    t.push_back({"lm_head.weight", {11, 8}});
    const auto plan = plan_gpt2(t, params_of(untied, vocab), false, "m.safetensors");
    CHECK(plan.imports.back().param == "head.weight");
    CHECK(!plan.imports.back().transpose);
}

TEST_CASE("hf_gpt2: unmapped, missing, misshapen and doubled tensors are named") {
    int vocab = 0;
    const auto g = gpt2_config(tiny_config(), "config.json", vocab);
    const auto params = params_of(g, vocab);
    auto refuse = [&](const std::vector<NamedShape> & t) {
        return io_error([&] { plan_gpt2(t, params, true, "m.safetensors"); });
    };
    const std::string head = "m.safetensors: cannot map the GPT-2 checkpoint onto the gpt model (";
    auto t = hf_tensors();
    t.erase(t.begin() + 2 + 12 + 7); // h.1.ln_2.bias
    CHECK(refuse(t) == head + "1 problem):\n  parameter 'blocks.1.ln2.bias' [8]: no tensor for it (expected "
                              "'h.1.ln_2.bias')");
    t = hf_tensors();
    t.push_back({"h.0.attn.rotary.inv_freq", {4}});
    t.push_back({"h.2.ln_1.weight", {8}});
    CHECK(refuse(t) == head + "2 problems):\n  'h.0.attn.rotary.inv_freq' is not a GPT-2 tensor this model has (no "
                              "parameter to fill)\n  'h.2.ln_1.weight' would fill 'blocks.2.ln1.weight', which the "
                              "model does not have");
    t = hf_tensors();
    t[4].shape = {24, 8}; // h.0.attn.c_attn.weight already (out, in)
    CHECK(refuse(t) == head + "1 problem):\n  'h.0.attn.c_attn.weight' has shape [24, 8], but "
                              "'blocks.0.attn.qkv.weight' [24, 8] needs [8, 24] (a Conv1D weight, stored (in, out))");
    t = hf_tensors();
    t[0].shape = {50257, 8};
    CHECK(refuse(t).find("'wte.weight' has shape [50257, 8], but 'tok_emb.weight' [11, 8] needs [11, 8]") !=
          std::string::npos);
    t = hf_tensors();
    t.push_back({"transformer.ln_f.bias", {8}});
    CHECK(refuse(t) == head + "1 problem):\n  'transformer.ln_f.bias' and 'ln_f.bias' are the same tensor (with and "
                              "without the 'transformer.' prefix)");
    t = hf_tensors();
    t.push_back({"lm_head.weight", {11, 8}});
    auto untied = g;
    untied.tie_head = false;
    CHECK(io_error([&] { plan_gpt2(hf_tensors(), params_of(untied, vocab), false, "m"); })
              .find("parameter 'head.weight' [11, 8]: no tensor for it (expected 'lm_head.weight')") != std::string::npos);
}

TEST_CASE("hf_gpt2: the tiny GPT-2 checkpoint gives the reference logits and loss") {
    check_tiny_gpt2<double>(kDir + "tiny_gpt2", 1e-6); // the weights are float32 in the file
    check_tiny_gpt2<float>(kDir + "tiny_gpt2", 1e-5);
    check_tiny_gpt2<float>(kDir + "tiny_gpt2_sharded", 1e-5); // "transformer." names in two shards
    CHECK(io_error([&] { io::open_hf_checkpoint(kDir); }) == kDir + "config.json: no such file (a Hugging Face model "
                                                              "directory has one)");
}
