// hf_llama.cpp — the LLaMA family's Hugging Face names and config.json mapped onto the gpt family
// (moe/models/hf_checkpoint.hpp): RMSNorm, RoPE in the rotate_half convention (HF checkpoints
// store Wq and Wk already permuted for it), grouped KV heads, SwiGLU, no biases. Names and config
// keys as transformers' LlamaForCausalLM (huggingface/transformers@5dd4a63:src/transformers/
// models/llama/modeling_llama.py; configuration_llama.py@4bdeece for the defaults): nn.Linear
// weights are stored (out, in) like ours, so nothing is transposed. The rotary inv_freq buffers of
// older files are skipped, and lm_head.weight of a tied model.
#include "hf_internal.hpp"

namespace moe::models::hf {

const Naming & llama_naming() {
    static const Naming n = [] {
        Naming n;
        n.title = "LLaMA";
        n.top = {{"model.embed_tokens.weight", "tok_emb.weight"}, {"model.norm.weight", "norm.weight"}};
        n.block_prefix = "model.layers.";
        n.blocks = {
            {"input_layernorm.weight", {"ln1.weight"}},     {"self_attn.q_proj.weight", {"attn.q.weight"}},
            {"self_attn.k_proj.weight", {"attn.k.weight"}}, {"self_attn.v_proj.weight", {"attn.v.weight"}},
            {"self_attn.o_proj.weight", {"attn.proj.weight"}}, {"post_attention_layernorm.weight", {"ln2.weight"}},
            {"mlp.gate_proj.weight", {"mlp.gate.weight"}},  {"mlp.up_proj.weight", {"mlp.up.weight"}},
            {"mlp.down_proj.weight", {"mlp.down.weight"}},
        };
        n.top_buffers = {"model.rotary_emb.inv_freq"};
        n.block_buffers = {"self_attn.rotary_emb.inv_freq"};
        return n;
    }();
    return n;
}

HfModel llama_model(const nlohmann::json & c, const std::string & file) {
    HfModel m;
    m.family = "llama";
    GptConfig & g = m.cfg;
    m.vocab = int_key(c, file, "vocab_size", 1, true);
    g.width = int_key(c, file, "hidden_size", 1, true);
    g.mlp_dim = int_key(c, file, "intermediate_size", 1, true);
    g.depth = int_key(c, file, "num_hidden_layers", 1, true);
    g.heads = int_key(c, file, "num_attention_heads", 1, true);
    if (g.width % g.heads != 0)
        fail(file + ": hidden_size " + std::to_string(g.width) + " is not a multiple of num_attention_heads " +
             std::to_string(g.heads));
    g.kv_heads = int_key(c, file, "num_key_value_heads", 1, false, g.heads, true);
    if (g.heads % g.kv_heads != 0)
        fail(file + ": num_key_value_heads " + std::to_string(g.kv_heads) + " does not divide num_attention_heads " +
             std::to_string(g.heads));
    const int hd = int_key(c, file, "head_dim", 1, false, g.width / g.heads, true);
    if (hd != g.width / g.heads)
        fail(file + ": head_dim " + std::to_string(hd) + " is not hidden_size / num_attention_heads (" +
             std::to_string(g.width / g.heads) + "); the gpt family needs that head size");
    if (hd % 2 != 0) fail(file + ": the head size " + std::to_string(hd) + " is odd; RoPE needs an even one");
    g.context = int_key(c, file, "max_position_embeddings", 1, false, 2048);
    g.norm = "rmsnorm";
    g.norm_eps = positive_key(c, file, "rms_norm_eps", 1e-6);
    g.positions = "rope";
    g.rope_theta = positive_key(c, file, "rope_theta", 10000.0);
    if (c.contains("rope_scaling") && !c["rope_scaling"].is_null())
        fail(file + ": 'rope_scaling' is " + c["rope_scaling"].dump() +
             ", expected null (scaled RoPE variants are not supported)");
    const std::string act = string_key(c, file, "hidden_act", "silu");
    if (act != "silu") fail(file + ": hidden_act '" + act + "' is not supported (expected silu: SwiGLU)");
    g.mlp = "swiglu";
    if (bool_key(c, file, "attention_bias", false))
        fail(file + ": 'attention_bias' is true; biased attention projections are not supported");
    if (bool_key(c, file, "mlp_bias", false)) fail(file + ": 'mlp_bias' is true; biased MLP projections are not supported");
    g.bias = false;
    g.tie_head = bool_key(c, file, "tie_word_embeddings", false);
    g.qkv = "split";
    g.init_std = positive_key(c, file, "initializer_range", 0.02);
    return m;
}

} // namespace moe::models::hf
