// hf_gpt2.cpp — GPT-2's Hugging Face names and config.json mapped onto the gpt family
// (moe/models/hf_checkpoint.hpp). The names follow transformers' GPT2Model (wte, wpe, h.N.{ln_1,
// attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj}, ln_f; huggingface/transformers@c44b2d9:
// src/transformers/models/gpt2/modeling_gpt2.py); Conv1D stores its weight (in, out) and computes
// x W + b, so those four weights are transposed into our (out, in) Linear, as karpathy/llm.c's
// train_gpt2.py does when it loads them. A leading "transformer." (current save_pretrained) is
// stripped; the causal-mask buffers h.N.attn.bias and h.N.attn.masked_bias of older files are
// skipped, and so is lm_head.weight of a tied model (the head is wte).
#include "hf_internal.hpp"

namespace moe::models::hf {

const Naming & gpt2_naming() {
    static const Naming n = [] {
        Naming n;
        n.title = "GPT-2";
        n.strip = "transformer.";
        n.top = {{"wte.weight", "tok_emb.weight"}, {"wpe.weight", "pos_emb.weight"},
                 {"ln_f.weight", "norm.weight"},   {"ln_f.bias", "norm.bias"}};
        n.block_prefix = "h.";
        n.blocks = {
            {"ln_1.weight", {"ln1.weight", false}},            {"ln_1.bias", {"ln1.bias", false}},
            {"attn.c_attn.weight", {"attn.qkv.weight", true}}, {"attn.c_attn.bias", {"attn.qkv.bias", false}},
            {"attn.c_proj.weight", {"attn.proj.weight", true}}, {"attn.c_proj.bias", {"attn.proj.bias", false}},
            {"ln_2.weight", {"ln2.weight", false}},            {"ln_2.bias", {"ln2.bias", false}},
            {"mlp.c_fc.weight", {"mlp.fc1.weight", true}},     {"mlp.c_fc.bias", {"mlp.fc1.bias", false}},
            {"mlp.c_proj.weight", {"mlp.fc2.weight", true}},   {"mlp.c_proj.bias", {"mlp.fc2.bias", false}},
        };
        n.block_buffers = {"attn.bias", "attn.masked_bias"};
        return n;
    }();
    return n;
}

HfModel gpt2_model(const nlohmann::json & c, const std::string & file) {
    HfModel m;
    m.family = "gpt2";
    GptConfig & g = m.cfg;
    m.vocab = int_key(c, file, "vocab_size", 1, true);
    g.context = c.contains("n_positions") ? int_key(c, file, "n_positions", 1, true) : int_key(c, file, "n_ctx", 1, true);
    g.width = int_key(c, file, "n_embd", 1, true);
    g.depth = int_key(c, file, "n_layer", 1, true);
    g.heads = int_key(c, file, "n_head", 1, true);
    if (g.width % g.heads != 0)
        fail(file + ": n_embd " + std::to_string(g.width) + " is not a multiple of n_head " + std::to_string(g.heads));
    g.kv_heads = 0;
    g.mlp_dim = int_key(c, file, "n_inner", 1, false, 0, true);
    g.norm = "layernorm";
    g.norm_eps = positive_key(c, file, "layer_norm_epsilon", 1e-5);
    g.positions = "learned";
    const std::string act = string_key(c, file, "activation_function", "gelu_new");
    if (act == "gelu_new" || act == "gelu_pytorch_tanh")
        g.mlp = "gelu_tanh";
    else if (act == "gelu")
        g.mlp = "gelu";
    else
        fail(file + ": activation_function '" + act + "' is not supported (expected gelu_new, gelu_pytorch_tanh or gelu)");
    g.bias = true;
    g.tie_head = bool_key(c, file, "tie_word_embeddings", true);
    g.qkv = "fused";
    g.init_std = positive_key(c, file, "initializer_range", 0.02);
    return m;
}

} // namespace moe::models::hf
