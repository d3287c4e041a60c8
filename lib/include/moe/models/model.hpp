// moe/models/model.hpp — the contract of a base model. A model is built from nn modules; every
// Linear is a named site (sites()), and a transformer block offers a block site beside its MLP,
// where adapters attach. It maps a Batch to logits (rows, V) and back.
//
//   mlp: layers.0 .. layers.{L-1} (Linear + activation), head           input (B, d)
//   vit: patch_embed.{proj,cls,pos}, blocks.i.{ln1,attn.qkv,attn.proj,ln2,mlp.fc1,mlp.fc2},
//        norm (final LayerNorm of the CLS token), head; block sites blocks.i.mlp
//                                                                        input (B, C*H*W) images
//   gpt: tok_emb, pos_emb, blocks.i.{ln1, attn.qkv | attn.{q,k,v}, attn.proj, ln2,
//        mlp.{fc1,fc2} | mlp.{gate,up,down}}, norm, head (untied); block sites blocks.i.mlp
//                                                                        input (B, T) token ids
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "moe/core/params.hpp"
#include "moe/models/batch.hpp"
#include "moe/models/config.hpp"
#include "moe/nn/modules.hpp"

namespace moe::models {

// Generation one position at a time against a cache of keys and values (causal language
// models). Adapter sites run on the B rows of each position as in a full forward.
template <typename T>
class CausalDecoder {
  public:
    virtual ~CausalDecoder() = default;
    // The cache for B sequences of up to context() positions; only here is memory taken.
    virtual void plan_decode(int B) = 0;
    // logits (B, V) of position t from the tokens at t (B); positions < t were decoded before.
    virtual const T * decode(const int32_t * tokens, int B, int t) = 0;
    virtual int context() const = 0;
};

template <typename T>
class Model {
  public:
    virtual ~Model() = default;
    virtual void bind(ParamStore<T> & s) = 0;
    // Size every activation buffer for batches of up to B samples. Only here is memory taken.
    virtual void plan(int B) = 0;
    // logits (rows, V), rows = b.B * rows_per_sample(), valid until the next forward.
    virtual const T * forward(const Batch<T> & b, bool train) = 0;
    // Accumulate parameter gradients from dlogits (rows, V) of the last forward (of b).
    virtual void backward(const T * dlogits, const Batch<T> & b) = 0;
    // Every place an adapter can attach: the Linear sites in model order, then the block sites.
    virtual std::vector<nn::SiteRef<T>> sites() = 0;
    // Rows each sample contributes at a site (1 for mlp, patches + CLS for vit).
    virtual int tokens_per_sample() const = 0;
    // Output rows per sample (1 for a classifier; the sequence length for a language model).
    virtual int rows_per_sample() const { return 1; }
    int n_outputs() const { return n_classes_; } // V
    int n_classes() const { return n_classes_; }
    int input_dim() const { return input_dim_; }
    int planned_batch() const { return planned_; }
    const std::string & kind() const { return kind_; }
    // Multiply-adds of one forward pass per sample over base matrix products (for FLOP counts).
    virtual double forward_macs_per_sample() const = 0;
    // Generation with a KV cache (null: the model is not a causal language model).
    virtual CausalDecoder<T> * decoder() { return nullptr; }
    // A classifier's forward from features alone.
    const T * forward_features(const T * x, int B, bool train) {
        Batch<T> b;
        b.B = B;
        b.x = x;
        return forward(b, train);
    }

  protected:
    int n_classes_ = 0, input_dim_ = 0, planned_ = 0;
    std::string kind_;
};

} // namespace moe::models
