// moe/models/hf_gpt2.hpp — a GPT-2 checkpoint in Hugging Face layout (config.json +
// model.safetensors, as GPT2LMHeadModel.save_pretrained writes it) mapped onto the gpt family's
// parameters, as pure functions of names and shapes: which checkpoint tensor fills which
// parameter, and whether it is a Conv1D weight, stored (in, out), that is transposed into our
// (out, in) Linear. Reading the bytes is io's job (moe/io/hf_gpt2_load.hpp).
//
//   wte.weight -> tok_emb.weight           wpe.weight -> pos_emb.weight
//   h.N.ln_1.* -> blocks.N.ln1.*           h.N.ln_2.* -> blocks.N.ln2.*
//   h.N.attn.c_attn.* -> blocks.N.attn.qkv.*      h.N.attn.c_proj.* -> blocks.N.attn.proj.*
//   h.N.mlp.c_fc.* -> blocks.N.mlp.fc1.*          h.N.mlp.c_proj.* -> blocks.N.mlp.fc2.*
//   ln_f.* -> norm.*                       lm_head.weight -> head.weight (untied models only)
//
// A leading "transformer." (current save_pretrained) is stripped; the causal-mask buffers
// h.N.attn.bias and h.N.attn.masked_bias of older files are skipped, and lm_head.weight of a
// tied model (the head is wte) is skipped too.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/models/config.hpp"

namespace moe::models {

// The gpt model a GPT-2 config.json describes: context = n_positions (or n_ctx), width = n_embd,
// depth = n_layer, heads = n_head, mlp_dim = n_inner (null: 4 width), norm_eps =
// layer_norm_epsilon, activation_function gelu_new -> gelu_tanh, gelu -> gelu (erf), the head tied
// unless tie_word_embeddings is false; vocab gets vocab_size. model_type must be "gpt2". Throws
// Error(ErrorCode::io) naming file and the key and what was expected.
GptConfig gpt2_config_from_hf(const nlohmann::json & config, const std::string & file, int & vocab);

struct NamedShape {
    std::string name;
    std::vector<int64_t> shape;
};

struct Gpt2Import {
    std::string tensor; // the checkpoint's name (with its prefix, as stored)
    std::string param;  // the gpt parameter it fills
    bool transpose = false; // a Conv1D weight: stored (in, out), the parameter is (out, in)
    std::vector<int64_t> shape; // the checkpoint tensor's shape
};

struct Gpt2Plan {
    std::vector<Gpt2Import> imports;  // one per parameter, in the order of params
    std::vector<std::string> skipped; // buffers (and a tied lm_head.weight), sorted
};

// Maps the checkpoint's tensors onto params (the gpt model's parameters: ParamStore names and
// shapes). Every parameter must be filled exactly once with a tensor of its shape (transposed for
// Conv1D weights), and every tensor must fill a parameter or be a skipped buffer. All problems are
// reported at once: Error(ErrorCode::io) "<file>: cannot map the GPT-2 checkpoint onto the gpt
// model (N problems):" and one line per tensor or parameter, naming both and the shapes.
Gpt2Plan plan_gpt2_import(const std::vector<NamedShape> & tensors, const std::vector<NamedShape> & params,
                          bool tie_head, const std::string & file);

} // namespace moe::models
