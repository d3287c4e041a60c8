// moe/nn/kernels.hpp — layer kernels as free functions (llm.c style).
//
// Dimension letters: N rows (tokens = B*T), B batch, T tokens per sample, C input channels,
// OC output channels, NH heads, hs = C/NH head size, V classes.
// Conventions: outputs first, then inputs, then parameters, dimensions last. Every backward
// ADDS into the gradients it produces (beta = 1); zeroing is a separate step. A null gradient
// pointer means "not wanted" (frozen weight, or the input is data) and its work is skipped.
// Templated on the scalar: float in training, double in the gradient checker.
#pragma once
#include <cstdint>

namespace moe::nn {

// ---- Linear:  out = inp @ w^T + b ------------------------------------------------------------
// out (N,OC); inp (N,C); w (OC,C); b (OC) or null
template <typename T>
void linear_forward(T * out, const T * inp, const T * w, const T * b, int N, int C, int OC);
// dinp (N,C) += dout @ w ; dw (OC,C) += dout^T @ inp ; db (OC) += sum_n dout
template <typename T>
void linear_backward(T * dinp, T * dw, T * db, const T * dout, const T * inp, const T * w, int N, int C, int OC);

// ---- LayerNorm (reference: https://pytorch.org/docs/stable/generated/torch.nn.LayerNorm.html)
// out (N,C); mean, rstd (N) caches; inp (N,C); w, b (C); eps inside the square root (PyTorch's 1e-5)
template <typename T>
void layernorm_forward(T * out, T * mean, T * rstd, const T * inp, const T * w, const T * b, int N, int C,
                       T eps = T(1e-5));
template <typename T>
void layernorm_backward(T * dinp, T * dw, T * db, const T * dout, const T * inp, const T * w, const T * mean,
                        const T * rstd, int N, int C);

// ---- activations (n elements) --------------------------------------------------------------
// GELU, exact erf form (PyTorch nn.GELU default): x * Phi(x)
template <typename T>
void gelu_forward(T * out, const T * inp, int64_t n);
template <typename T>
void gelu_backward(T * dinp, const T * inp, const T * dout, int64_t n);
// fused bias + GELU in one pass: x[n,c] += b[c]; out = gelu(x)   (x (N,C) keeps the pre-activation)
template <typename T>
void bias_gelu_forward(T * out, T * x, const T * b, int N, int C);
template <typename T>
void relu_forward(T * out, const T * inp, int64_t n);
template <typename T>
void relu_backward(T * dinp, const T * inp, const T * dout, int64_t n);

// ---- residual:  out = a + b (n elements); backward is an add of dout into both -----------------
template <typename T>
void residual_forward(T * out, const T * a, const T * b, int64_t n);
template <typename T>
void add_inplace(T * dst, const T * src, int64_t n); // dst += src
// dst[0..n) = 0, split over the pool: the gradient buffers a backward then adds into
template <typename T>
void zero(T * dst, int64_t n);

// ---- patchify: images to flattened patches (no parameters) ------------------------------------
// patches (B, P, Cin*ps*ps) with P = (H/ps)*(W/ps), patch order row-major, inner order (c, py, px)
// img (B, Cin, H, W)
template <typename T>
void patchify_forward(T * patches, const T * img, int B, int Cin, int H, int W, int ps);

// ---- tokens: out[b,0] = cls + pos[0]; out[b,1+p] = emb[b,p] + pos[1+p] ------------------------
// out (B,T,C) with T = P+1; emb (B,P,C); cls (C); pos (T,C)
template <typename T>
void tokens_forward(T * out, const T * emb, const T * cls, const T * pos, int B, int P, int C);
// demb (B,P,C) += ; dcls (C) += ; dpos (T,C) +=
template <typename T>
void tokens_backward(T * demb, T * dcls, T * dpos, const T * dout, int B, int P, int C);

// ---- multi-head self-attention on a packed qkv --------------------------------------------------
// out (B,T,C); att (B,NH,T,T) softmax cache; qkv (B,T,3C) laid out [q | k | v], head h at h*hs
// causal: position t attends to t' <= t only
template <typename T>
void attention_forward(T * out, T * att, const T * qkv, int B, int Tn, int C, int NH, bool causal);
// dqkv (B,T,3C) += ; datt_scratch (B,NH,T,T) is overwritten (one (T,T) block per sample and head,
// so the pairs can run on different threads)
template <typename T>
void attention_backward(T * dqkv, T * datt_scratch, const T * dout, const T * qkv, const T * att, int B, int Tn, int C,
                        int NH);

// ---- softmax cross-entropy ------------------------------------------------------------------
// losses (N) per-row loss; probs (N,V) softmax cache; logits (N,V); targets (N) in [0,V).
// Classes outside [v_lo, v_hi) are masked out (logit = -inf) — the SEMA/class-incremental mask;
// pass 0, V for an unmasked loss. Returns the mean loss over the N rows.
template <typename T>
T cross_entropy_forward(T * losses, T * probs, const T * logits, const int32_t * targets, int N, int V, int v_lo,
                        int v_hi);
// dlogits (N,V) += dloss * (probs - onehot(target))   (dloss = 1/N for a mean)
template <typename T>
void cross_entropy_backward(T * dlogits, const T * probs, const int32_t * targets, T dloss, int N, int V);

// ---- row softmax (N,V), max-subtracted; used by routers ---------------------------------------
template <typename T>
void softmax_forward(T * probs, const T * logits, int N, int V);
// dlogits += probs * (dprobs - sum(dprobs * probs))
template <typename T>
void softmax_backward(T * dlogits, const T * probs, const T * dprobs, int N, int V);

} // namespace moe::nn
