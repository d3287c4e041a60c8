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

struct ModelConfig {
    std::string kind = "mlp"; // a model family of the registry
    MlpConfig mlp;
    VitConfig vit;
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
void visit(V & v, ModelConfig & s) {
    v.field("kind", s.kind, "Base model.", one_of(model_family_names()));
    v.object("mlp", s.mlp, "mlp settings (used when kind = mlp).");
    v.object("vit", s.vit, "vit settings (used when kind = vit).");
}

} // namespace moe::models
