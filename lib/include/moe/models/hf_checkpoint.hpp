// moe/models/hf_checkpoint.hpp — a Hugging Face causal-LM checkpoint (config.json + safetensors,
// as save_pretrained writes it) mapped onto the gpt family, as pure functions of JSON, names and
// shapes: which model config.json describes, and which checkpoint tensor fills which parameter
// (transposed or not). Two families: GPT-2 (GPT2LMHeadModel, models/hf_gpt2.cpp) and LLaMA
// (LlamaForCausalLM, models/hf_llama.cpp). Reading the bytes is io's job (moe/io/hf_load.hpp).
//
//   GPT-2                                    LLaMA                                   gpt parameter
//   wte.weight                               model.embed_tokens.weight               tok_emb.weight
//   wpe.weight                               (RoPE: none)                            pos_emb.weight
//   h.N.ln_1.*                               model.layers.N.input_layernorm.weight   blocks.N.ln1.*
//   h.N.attn.c_attn.* (Conv1D)               model.layers.N.self_attn.{q,k,v}_proj   blocks.N.attn.{qkv | q,k,v}.*
//   h.N.attn.c_proj.* (Conv1D)               model.layers.N.self_attn.o_proj         blocks.N.attn.proj.*
//   h.N.ln_2.*                               model.layers.N.post_attention_layernorm blocks.N.ln2.*
//   h.N.mlp.c_fc.* (Conv1D)                  model.layers.N.mlp.{gate,up}_proj       blocks.N.mlp.{fc1 | gate,up}.*
//   h.N.mlp.c_proj.* (Conv1D)                model.layers.N.mlp.down_proj            blocks.N.mlp.{fc2 | down}.*
//   ln_f.*                                   model.norm.weight                       norm.*
//   lm_head.weight (untied only)             lm_head.weight (untied only)            head.weight
//
// Conv1D stores its weight (in, out): those are transposed into our (out, in) Linear. Buffers
// (GPT-2's causal masks h.N.attn.bias / masked_bias, LLaMA's rotary inv_freq) and the
// lm_head.weight of a tied model are skipped; any other tensor the model has no parameter for,
// and any parameter no tensor fills, is an error naming both.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/models/config.hpp"

namespace moe::models {

// What config.json describes: the family ("gpt2" or "llama", from model_type), the gpt model (its
// context is the checkpoint's n_positions / max_position_embeddings) and the vocabulary size.
struct HfModel {
    std::string family;
    GptConfig cfg;
    int vocab = 0;
};

// Reads a config.json already parsed: model_type gpt2 or llama (another is an error naming the
// supported ones). GPT-2: n_positions (or n_ctx), n_embd, n_layer, n_head, n_inner (null: 4 C),
// layer_norm_epsilon, activation_function gelu_new | gelu_pytorch_tanh -> gelu_tanh, gelu ->
// gelu (erf), tie_word_embeddings (default true). LLaMA: hidden_size, intermediate_size,
// num_hidden_layers, num_attention_heads, num_key_value_heads (null: heads), head_dim (null or
// hidden / heads), max_position_embeddings, rms_norm_eps, rope_theta, hidden_act silu,
// attention_bias and mlp_bias false, rope_scaling null, tie_word_embeddings (default false).
// Throws Error(ErrorCode::io) naming file, the key, what it is and what was expected.
HfModel hf_model_from_config(const nlohmann::json & config, const std::string & file);

struct NamedShape {
    std::string name;
    std::vector<int64_t> shape;
};

struct HfImport {
    std::string tensor;         // the checkpoint's name (with its prefix, as stored)
    std::string param;          // the gpt parameter it fills
    bool transpose = false;     // a Conv1D weight: stored (in, out), the parameter is (out, in)
    std::vector<int64_t> shape; // the checkpoint tensor's shape
};

struct HfPlan {
    std::vector<HfImport> imports;    // one per parameter, in the order of params
    std::vector<std::string> skipped; // buffers (and a tied lm_head.weight), sorted
};

// Maps the checkpoint's tensors onto params (names and shapes of the parameters to fill). Every
// parameter must be filled exactly once by a tensor of its shape (transposed for Conv1D weights),
// and every tensor must fill a parameter or be a skipped buffer. All problems are reported at
// once: Error(ErrorCode::io) "<file>: cannot map the <family> checkpoint onto the gpt model (N
// problems):" and one line per tensor or parameter, naming both and the shapes. A non-empty
// config (the config.json the model came from) is named too: "... onto the gpt model that
// <config> describes (N problems):".
HfPlan plan_hf_import(const HfModel & model, const std::vector<NamedShape> & tensors,
                      const std::vector<NamedShape> & params, const std::string & file,
                      const std::string & config = "");

// The family whose Hugging Face layout a gpt model has, "gpt2" (LayerNorm, learned positions, a
// fused qkv, GELU, biases, a tied head) or "llama" (RMSNorm, RoPE, split q/k/v, SwiGLU, no
// biases); "" when it has neither, with the first difference in *why.
std::string hf_family_of(const GptConfig & g, std::string * why = nullptr);

// A Linear site's module in the family's causal-LM model, the path PEFT names it by (after its
// "base_model.model." prefix): GPT-2 "blocks.N.attn.qkv" -> "transformer.h.N.attn.c_attn", LLaMA
// "blocks.N.attn.q" -> "model.layers.N.self_attn.q_proj", "head" -> "lm_head". "" for a site the
// family has no module for. conv1d: the module is GPT-2's Conv1D (its weight stored (in, out)).
std::string hf_module_of_site(const std::string & family, const std::string & site, bool * conv1d = nullptr);
// The inverse: the site of a module path ("" when it names no Linear site of the family).
std::string site_of_hf_module(const std::string & family, const std::string & module);

// The other way, for writing a checkpoint: the name a gpt parameter has in the family's
// checkpoint (as the Hub's files store it: GPT-2's without "transformer."), "" when it has none
// (a tied model's head); transpose: a Conv1D weight, stored (in, out).
std::string hf_name_of_param(const std::string & family, const std::string & param, bool * transpose = nullptr);
// config.json of a gpt model in the family's layout, which hf_model_from_config reads back as the
// same model: vocab ids, positions (GPT-2's n_positions: the position table's rows; LLaMA's
// max_position_embeddings), the MLP's hidden size.
nlohmann::json hf_config_of(const std::string & family, const GptConfig & g, int vocab, int positions, int mlp_dim);

} // namespace moe::models
