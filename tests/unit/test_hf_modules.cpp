// test_hf_modules.cpp — the Hugging Face module of every Linear site of the two families and back
// (moe/models/hf_checkpoint.hpp), the names PEFT adapters use, and which family's layout a gpt
// model has.
#include <doctest/doctest.h>

#include <string>

#include "moe/models/hf_checkpoint.hpp"

using namespace moe;
using models::hf_module_of_site;
using models::site_of_hf_module;

TEST_CASE("GPT-2: the Linear sites are the Conv1D modules and lm_head") {
    const struct {
        const char *site, *module;
        bool conv1d;
    } rows[] = {{"blocks.0.attn.qkv", "transformer.h.0.attn.c_attn", true},
                {"blocks.11.attn.proj", "transformer.h.11.attn.c_proj", true},
                {"blocks.3.mlp.fc1", "transformer.h.3.mlp.c_fc", true},
                {"blocks.3.mlp.fc2", "transformer.h.3.mlp.c_proj", true},
                {"head", "lm_head", false}};
    for (const auto & r : rows) {
        bool conv = !r.conv1d;
        CHECK(hf_module_of_site("gpt2", r.site, &conv) == r.module);
        CHECK(conv == r.conv1d);
        CHECK(site_of_hf_module("gpt2", r.module) == r.site);
    }
    // norms and embeddings are no Linear sites; LLaMA's names are not GPT-2's
    CHECK(hf_module_of_site("gpt2", "blocks.0.ln1") == "");
    CHECK(site_of_hf_module("gpt2", "transformer.h.0.ln_1") == "");
    CHECK(site_of_hf_module("gpt2", "transformer.wte") == "");
    CHECK(site_of_hf_module("gpt2", "model.layers.0.self_attn.q_proj") == "");
    CHECK(site_of_hf_module("gpt2", "transformer.h.01.attn.c_attn") == ""); // no leading zeros
    CHECK(hf_module_of_site("gpt2", "blocks.0.attn.q") == "");
}

TEST_CASE("LLaMA: q/k/v/o and gate/up/down projections, lm_head") {
    const struct {
        const char *site, *module;
    } rows[] = {{"blocks.0.attn.q", "model.layers.0.self_attn.q_proj"},
                {"blocks.0.attn.k", "model.layers.0.self_attn.k_proj"},
                {"blocks.29.attn.v", "model.layers.29.self_attn.v_proj"},
                {"blocks.1.attn.proj", "model.layers.1.self_attn.o_proj"},
                {"blocks.1.mlp.gate", "model.layers.1.mlp.gate_proj"},
                {"blocks.1.mlp.up", "model.layers.1.mlp.up_proj"},
                {"blocks.1.mlp.down", "model.layers.1.mlp.down_proj"},
                {"head", "lm_head"}};
    for (const auto & r : rows) {
        bool conv = true;
        CHECK(hf_module_of_site("llama", r.site, &conv) == r.module);
        CHECK_FALSE(conv);
        CHECK(site_of_hf_module("llama", r.module) == r.site);
    }
    CHECK(site_of_hf_module("llama", "model.layers.0.input_layernorm") == "");
    CHECK(hf_module_of_site("llama", "blocks.0.attn.qkv") == "");
    CHECK(hf_module_of_site("mistral", "head") == "");
}

TEST_CASE("the family whose layout a gpt model has") {
    models::GptConfig g; // moe-lab's defaults are GPT-2's layout
    CHECK(models::hf_family_of(g) == "gpt2");
    g.mlp = "gelu";
    CHECK(models::hf_family_of(g) == "gpt2");
    models::GptConfig l;
    l.norm = "rmsnorm";
    l.positions = "rope";
    l.qkv = "split";
    l.mlp = "swiglu";
    l.bias = false;
    CHECK(models::hf_family_of(l) == "llama");
    std::string why;
    l.bias = true; // neither: LLaMA has no biases, GPT-2 no RMSNorm
    CHECK(models::hf_family_of(l, &why) == "");
    CHECK(why == "model.gpt.bias is 'true' (GPT-2 has 'true', LLaMA 'false')");
    g.positions = "rope";
    CHECK(models::hf_family_of(g, &why) == "");
    CHECK(why == "model.gpt.positions is 'rope' (GPT-2 has 'learned', LLaMA 'rope')");
}

TEST_CASE("config.json written for a gpt model reads back as that model") {
    models::GptConfig g; // GPT-2 layout
    g.width = 24;
    g.depth = 3;
    g.heads = 3;
    g.context = 16;
    g.mlp = "gelu";
    g.norm_eps = 1e-6;
    auto m = models::hf_model_from_config(models::hf_config_of("gpt2", g, 300, 40, 96), "config.json");
    CHECK(m.family == "gpt2");
    CHECK(m.vocab == 300);
    CHECK(m.cfg.context == 40);
    CHECK(m.cfg.width == 24);
    CHECK(m.cfg.depth == 3);
    CHECK(m.cfg.heads == 3);
    CHECK(m.cfg.mlp_dim == 96);
    CHECK(m.cfg.mlp == "gelu");
    CHECK(m.cfg.norm_eps == 1e-6);
    CHECK(m.cfg.tie_head);
    models::GptConfig l;
    l.norm = "rmsnorm";
    l.positions = "rope";
    l.qkv = "split";
    l.mlp = "swiglu";
    l.bias = false;
    l.tie_head = false;
    l.width = 32;
    l.heads = 4;
    l.kv_heads = 2;
    l.rope_theta = 5e5;
    m = models::hf_model_from_config(models::hf_config_of("llama", l, 13, 64, 48), "config.json");
    CHECK(m.family == "llama");
    CHECK(m.cfg.kv_heads == 2);
    CHECK(m.cfg.mlp_dim == 48);
    CHECK(m.cfg.rope_theta == 5e5);
    CHECK_FALSE(m.cfg.tie_head);
    CHECK(m.cfg.context == 64);
    // parameter names the other way, Conv1D weights transposed
    bool tr = false;
    CHECK(models::hf_name_of_param("gpt2", "blocks.2.attn.qkv.weight", &tr) == "h.2.attn.c_attn.weight");
    CHECK(tr);
    CHECK(models::hf_name_of_param("gpt2", "blocks.2.attn.qkv.bias", &tr) == "h.2.attn.c_attn.bias");
    CHECK_FALSE(tr);
    CHECK(models::hf_name_of_param("gpt2", "pos_emb.weight") == "wpe.weight");
    CHECK(models::hf_name_of_param("llama", "blocks.0.mlp.down.weight", &tr) == "model.layers.0.mlp.down_proj.weight");
    CHECK_FALSE(tr);
    CHECK(models::hf_name_of_param("llama", "head.weight") == "lm_head.weight");
}
