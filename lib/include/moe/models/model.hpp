// moe/models/model.hpp — base models built from nn modules: `mlp` and `vit`.
// Every Linear of a model is a named site (sites()), where later issues attach adapters.
//
//   mlp: layers.0 .. layers.{L-1} (Linear + activation), head           input (B, d)
//   vit: patch_embed.{proj,cls,pos}, blocks.i.{ln1,attn.qkv,attn.proj,ln2,mlp.fc1,mlp.fc2},
//        norm (final LayerNorm of the CLS token), head                   input (B, C*H*W) images
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "moe/core/params.hpp"
#include "moe/nn/modules.hpp"

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
    std::string kind = "mlp"; // mlp | vit
    MlpConfig mlp;
    VitConfig vit;
};

// What the data looks like.
struct InputShape {
    int d = 0;                       // features per sample
    int channels = 0, height = 0, width = 0; // image geometry (0 when not an image)
};

template <typename T>
class Model {
  public:
    virtual ~Model() = default;
    virtual void bind(ParamStore<T> & s) = 0;
    // Size every activation buffer for batches of up to B samples. Only here is memory taken.
    virtual void plan(int B) = 0;
    // logits (B, n_classes), valid until the next forward. x (B, d).
    virtual const T * forward(const T * x, int B, bool train) = 0;
    // Accumulate parameter gradients from dlogits (B, n_classes) of the last forward.
    virtual void backward(const T * dlogits, int B) = 0;
    virtual std::vector<nn::Linear<T> *> sites() = 0;
    // Rows each sample contributes at a site (1 for mlp, patches + CLS for vit).
    virtual int tokens_per_sample() const = 0;
    int n_classes() const { return n_classes_; }
    int input_dim() const { return input_dim_; }
    int planned_batch() const { return planned_; }
    const std::string & kind() const { return kind_; }
    // Multiply-adds of one forward pass per sample over base matrix products (for FLOP counts).
    virtual double forward_macs_per_sample() const = 0;

  protected:
    int n_classes_ = 0, input_dim_ = 0, planned_ = 0;
    std::string kind_;
};

// Declares the model's parameters in `store` (trainable per `tr`). Call store.allocate(seed)
// and then model->bind(store) before use. Throws ErrorCode::spec on impossible shapes.
template <typename T>
std::unique_ptr<Model<T>> make_model(const ModelConfig & cfg, const InputShape & in, int n_classes,
                                     ParamStore<T> & store, const nn::TrainablePred & tr);

} // namespace moe::models
