// moe/nn/modules.hpp — thin modules that bind parameter views and own their activation
// buffers. The maths is in kernels.hpp; a module only wires views, declares named parameters
// and plans its buffers once (plan(N)); nothing allocates in forward/backward.
//
// Lifecycle: declare(store, name, ...) -> store.allocate(seed) -> bind(store) -> plan(N) ->
// forward/backward any number of times (with at most N rows).
// Backward contract: ADDS into parameter gradients and into dinp; dinp == nullptr skips the
// input gradient. Frozen parameters have no gradient buffer, so their weight-gradient GEMMs are
// skipped (input-gradient-only backward through frozen layers).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "moe/core/params.hpp"

namespace moe::nn {

// Decides, by full parameter name, whether a parameter is trainable.
using TrainablePred = std::function<bool(const std::string &)>;

// A hook at a Linear site that adds an adapter's contribution:  out += Δ(inp).
// Implemented above nn (adapters/); nn only calls it.
template <typename T>
struct SiteHook {
    virtual ~SiteHook() = default;
    // out (N,OC) += Δ(inp (N,C))
    virtual void forward(T * out, const T * inp, int N, bool train) = 0;
    // dinp (N,C) += ∂/∂inp, adapter parameter grads +=; dout (N,OC). dinp may be null.
    virtual void backward(T * dinp, const T * dout, const T * inp, int N) = 0;
};

// A place where an adapter can attach: a Linear ("blocks.3.mlp.fc1": input and output those of
// the Linear) or a block ("blocks.3.mlp": beside a transformer block's MLP sub-block, input the
// residual stream after attention, output added to the block's output).
template <typename T>
struct SiteRef {
    std::string name;
    int C = 0, OC = 0;
    SiteHook<T> ** hook = nullptr; // where the hook goes
    bool block = false;            // a block site (not a Linear)
    int rows = 0;                  // rows per sample at this site (0: the model's tokens_per_sample)
};

// A Linear layer is a *site*: it has a stable name ("blocks.3.mlp.fc1") and an optional hook.
template <typename T>
struct Linear {
    std::string name;
    int C = 0, OC = 0;
    bool has_bias = true;
    int id_w = -1, id_b = -1;
    T * w = nullptr;  // (OC,C)
    T * b = nullptr;  // (OC)
    T * dw = nullptr; // (OC,C) or null when frozen
    T * db = nullptr; // (OC)   or null when frozen
    // a frozen weight the store keeps in bfloat16 (then w is null): widened into wbuf, the
    // store's shared scratch, before each forward and input-gradient GEMM
    const uint16_t * w16 = nullptr; // (OC,C)
    T * wbuf = nullptr;             // (OC,C) scratch, overwritten by every use of any such weight
    SiteHook<T> * hook = nullptr;

    // weight U(±1/sqrt(C)) and bias U(±1/sqrt(C)) (PyTorch nn.Linear) unless overridden
    void declare(ParamStore<T> & s, const std::string & name, int C, int OC, bool bias, const TrainablePred & tr,
                 Init w_init, Init b_init);
    void declare(ParamStore<T> & s, const std::string & name, int C, int OC, bool bias, const TrainablePred & tr);
    void bind(ParamStore<T> & s);
    // out (N,OC) = inp (N,C) @ w^T + b (+ hook)
    void forward(T * out, const T * inp, int N, bool train) const;
    // dinp (N,C) +=, dw +=, db +=, hook grads +=
    void backward(T * dinp, const T * dout, const T * inp, int N);
    bool frozen() const { return dw == nullptr; }
    // w, or w16 widened into wbuf
    const T * weight() const;
};

template <typename T>
struct LayerNorm {
    std::string name;
    int C = 0;
    int id_w = -1, id_b = -1;
    T *w = nullptr, *b = nullptr, *dw = nullptr, *db = nullptr;
    double eps = 1e-5;
    std::vector<T> mean, rstd; // (N) caches

    void declare(ParamStore<T> & s, const std::string & name, int C, const TrainablePred & tr);
    void bind(ParamStore<T> & s);
    void plan(int N);
    void forward(T * out, const T * inp, int N);
    void backward(T * dinp, const T * dout, const T * inp, int N);
};

enum class Activation { gelu, relu };
Activation parse_activation(const std::string & s); // throws ErrorCode::spec

template <typename T>
void activation_forward(Activation a, T * out, const T * inp, int64_t n);
template <typename T>
void activation_backward(Activation a, T * dinp, const T * inp, const T * dout, int64_t n);

// Patch embedding: patchify -> Linear(Cin*ps*ps -> D) -> prepend CLS, add learned positions.
// Names: <name>.proj.{weight,bias}, <name>.cls (D), <name>.pos (P+1, D).
template <typename T>
struct PatchEmbed {
    int Cin = 1, H = 0, W = 0, ps = 4, D = 0, P = 0;
    Linear<T> proj;
    int id_cls = -1, id_pos = -1;
    T *cls = nullptr, *pos = nullptr, *dcls = nullptr, *dpos = nullptr;
    std::vector<T> patches, emb, demb; // (B,P,Cin*ps*ps), (B,P,D), (B,P,D)

    void declare(ParamStore<T> & s, const std::string & name, int Cin, int H, int W, int ps, int D,
                 const TrainablePred & tr);
    void bind(ParamStore<T> & s);
    void plan(int B);
    int tokens() const { return P + 1; }
    // out (B,T,D) from img (B,Cin,H,W)
    void forward(T * out, const T * img, int B, bool train);
    // grads of proj, cls, pos from dout (B,T,D); the image gets no gradient
    void backward(const T * dout, int B);
};

// Multi-head self-attention: qkv Linear(D -> 3D), attention, proj Linear(D -> D).
// Names: <name>.qkv, <name>.proj.
template <typename T>
struct SelfAttention {
    int D = 0, NH = 1, Tn = 0;
    bool causal = false;
    Linear<T> qkv, proj;
    std::vector<T> qkv_buf, att, y; // (B,T,3D), (B,NH,T,T), (B,T,D)
    std::vector<T> dqkv, dy, datt;  // (B,T,3D), (B,T,D), (T,T) scratch

    void declare(ParamStore<T> & s, const std::string & name, int D, int NH, bool causal, const TrainablePred & tr);
    void bind(ParamStore<T> & s);
    void plan(int B, int Tn);
    // out (B,T,D) from inp (B,T,D)
    void forward(T * out, const T * inp, int B, bool train);
    // dinp (B,T,D) += ; dout (B,T,D)
    void backward(T * dinp, const T * dout, const T * inp, int B);
};

// MLP block: fc1 (D -> M) -> activation -> fc2 (M -> D). Names <name>.fc1, <name>.fc2.
template <typename T>
struct MlpBlock {
    int D = 0, M = 0;
    Activation act = Activation::gelu;
    Linear<T> fc1, fc2;
    std::vector<T> h, a, dh, da; // (N,M) each

    void declare(ParamStore<T> & s, const std::string & name, int D, int M, Activation act, const TrainablePred & tr);
    void bind(ParamStore<T> & s);
    void plan(int N);
    void forward(T * out, const T * inp, int N, bool train);
    void backward(T * dinp, const T * dout, const T * inp, int N);
};

// Pre-LN transformer block: x1 = x + attn(ln1(x)); out = x1 + mlp(ln2(x1)) [+ parallel(x1)].
// Names <name>.ln1, <name>.attn.{qkv,proj}, <name>.ln2, <name>.mlp.{fc1,fc2}; the block site
// <name>.mlp takes a hook beside the MLP sub-block (SEMA's parallel adapter: AdaptFormer's
// placement), whose input is x1 and whose output is added to the block's output.
template <typename T>
struct TransformerBlock {
    int D = 0, Tn = 0;
    LayerNorm<T> ln1, ln2;
    SelfAttention<T> attn;
    MlpBlock<T> mlp;
    std::vector<T> l1, x1, l2, a_out, m_out; // (N,D) each
    std::vector<T> dl, dtmp;                 // (N,D) scratch
    std::string name;
    SiteHook<T> * parallel = nullptr; // the block site's hook (null: none)

    void declare(ParamStore<T> & s, const std::string & name, int D, int NH, int M, bool causal,
                 const TrainablePred & tr);
    void bind(ParamStore<T> & s);
    void plan(int B, int Tn);
    void forward(T * out, const T * inp, int B, bool train);
    // dinp (B,T,D) += ; dout (B,T,D)
    void backward(T * dinp, const T * dout, const T * inp, int B);
    std::vector<Linear<T> *> sites() { return {&attn.qkv, &attn.proj, &mlp.fc1, &mlp.fc2}; }
    SiteRef<T> block_site() { return {name + ".mlp", D, D, &parallel, true}; }
};

} // namespace moe::nn
