// moe/models/config.hpp — the "model" section of a spec: the family (a name of the model
// registry, models/registry.hpp) and each family's settings. Depends on nothing but the
// standard library.
#pragma once
#include <string>
#include <vector>

#include "moe/core/check.hpp"

namespace moe::models {

struct MlpConfig {
    std::vector<int> hidden = {256, 128};
    std::string activation = "gelu"; // gelu | relu
};

struct VitConfig {
    int patch = 4;
    int width = 64;
    int depth = 4;
    int heads = 4;
    int mlp_dim = 128;
};

// A causal transformer language model: GPT-2 (learned positions, LayerNorm, GELU tanh, biases,
// fused qkv, tied head) by default; LLaMA's options (RoPE, RMSNorm, SwiGLU, no biases, grouped
// key/value heads, an untied head) one key each.
struct GptConfig {
    int context = 256;              // T: positions per sequence (data.text.block_size must equal it)
    int max_positions = 0;          // rows of the learned position table (0 = context; >= context)
    int width = 256;                // C
    int depth = 4;                  // L blocks
    int heads = 4;                  // NH query heads (head size width / heads)
    int kv_heads = 0;               // NKV key/value heads (0 = heads; NH a multiple of NKV)
    int mlp_dim = 0;                // I (0 = 4 C; with SwiGLU, 8 C / 3 rounded up to 32)
    std::string norm = "layernorm"; // layernorm | rmsnorm
    double norm_eps = 1e-5;
    std::string positions = "learned"; // learned | rope
    double rope_theta = 10000.0;
    std::string mlp = "gelu_tanh"; // gelu_tanh | gelu | swiglu
    bool bias = true;              // biases in every Linear (GPT-2); LLaMA has none
    bool tie_head = true;          // logits = h wte^T (GPT-2); false: a head Linear
    std::string qkv = "fused";     // fused: one qkv Linear (GPT-2's c_attn); split: q, k, v
    double init_std = 0.02;        // N(0, std^2) weights and embeddings; residual projections std / sqrt(2 L)
};

struct ModelConfig {
    std::string kind = "mlp"; // a model family of the registry
    std::string base_storage = "f32"; // "bf16": frozen gpt Linear weights kept in bfloat16
    MlpConfig mlp;
    VitConfig vit;
    GptConfig gpt;
};

// What the data looks like.
struct InputShape {
    int d = 0;                               // features per sample
    int channels = 0, height = 0, width = 0; // image geometry (0 when not an image)
};

std::vector<std::string> model_family_names(); // models/registry.cpp

// ---- field descriptions ----------------------------------------------------------------------

template <typename V>
void visit(V & v, MlpConfig & s) {
    v.field("hidden", s.hidden, "Hidden layer widths; the sites are layers.0 .. layers.{n-1} and head.",
            range(1, 1 << 20));
    v.field("activation", s.activation, "Hidden activation.", one_of({"gelu", "relu"}));
}

template <typename V>
void visit(V & v, VitConfig & s) {
    v.field("patch", s.patch, "Patch size in pixels (must divide the image size).", range(1, 1024));
    v.field("width", s.width, "Token width D.", range(1, 1 << 16));
    v.field("depth", s.depth, "Number of pre-LN transformer blocks.", range(0, 256));
    v.field("heads", s.heads, "Attention heads (must divide width).", range(1, 1024));
    v.field("mlp_dim", s.mlp_dim, "Hidden width of each block's MLP.", range(1, 1 << 20));
}

template <typename V>
void visit(V & v, GptConfig & s) {
    v.field("context", s.context, "Positions per sequence T (the text data's block_size).", range(1, 1 << 16));
    v.field("max_positions", s.max_positions,
            "Rows of the learned position table (0 = context; at least context). A Hugging Face GPT-2 base sets it "
            "to n_positions, so that a shorter context trains on the pretrained table's first rows.",
            range(0, 1 << 20));
    v.field("width", s.width, "Width C of the residual stream.", range(1, 1 << 16));
    v.field("depth", s.depth, "Number of pre-norm transformer blocks.", range(0, 256));
    v.field("heads", s.heads, "Query heads NH (must divide width).", range(1, 1024));
    v.field("kv_heads", s.kv_heads, "Key/value heads (grouped-query attention; 0 = heads; must divide heads).",
            range(0, 1024));
    v.field("mlp_dim", s.mlp_dim,
            "MLP width (0 = 4 * width; with swiglu, 8 * width / 3 rounded up to a multiple of 32).", range(0, 1 << 20));
    v.field("norm", s.norm, "Normalisation: LayerNorm (GPT-2) or RMSNorm (LLaMA).", one_of({"layernorm", "rmsnorm"}));
    v.field("norm_eps", s.norm_eps, "Epsilon of the norms (GPT-2 1e-5; LLaMA rms_norm_eps).", positive());
    v.field("positions", s.positions,
            "Positions: learned embeddings (GPT-2) or rotary, rotate_half convention (LLaMA).",
            one_of({"learned", "rope"}));
    v.field("rope_theta", s.rope_theta, "RoPE base theta.", positive());
    v.field("mlp", s.mlp,
            "MLP: fc1, GELU (tanh form: GPT-2's gelu_new; or exact), fc2; or SwiGLU down(silu(gate) * up).",
            one_of({"gelu_tanh", "gelu", "swiglu"}));
    v.field("bias", s.bias, "Biases in every Linear (GPT-2); LLaMA has none.");
    v.field("tie_head", s.tie_head,
            "The head is the token embedding transposed (GPT-2); false: a head Linear (a site).");
    v.field("qkv", s.qkv, "Attention projections: one fused qkv Linear (GPT-2's c_attn) or separate q, k, v Linears.",
            one_of({"fused", "split"}));
    v.field("init_std", s.init_std,
            "Weights and embeddings ~ N(0, init_std^2); the residual projections use "
            "init_std / sqrt(2 depth) (GPT-2).",
            positive());
}

template <typename V>
void visit(V & v, ModelConfig & s) {
    v.field("kind", s.kind, "Base model.", one_of(model_family_names()));
    v.field("base_storage", s.base_storage,
            "Storage of the frozen base's block Linear weights (gpt only): f32, or bf16 (bfloat16, rounded to "
            "nearest even when loaded, widened to float into one preallocated scratch for each use; half their "
            "memory; lossless for a BF16 checkpoint). Trainable weights, biases, norms, embeddings and the head "
            "stay f32; run files store float32.",
            one_of({"f32", "bf16"}));
    v.object("mlp", s.mlp, "mlp settings (used when kind = mlp).");
    v.object("vit", s.vit, "vit settings (used when kind = vit).");
    v.object("gpt", s.gpt, "gpt settings (used when kind = gpt): a causal language model.");
}

} // namespace moe::models
