// moe/nn/lm_kernels.hpp — the kernels of causal language models (llm.c style, as kernels.hpp):
// token and position embeddings, RMSNorm, rotary position embeddings (RoPE), SwiGLU, the tanh
// GELU, grouped-query causal attention and its one-position decode against a KV cache.
// References: huggingface/transformers@c44b2d9 src/transformers/models/gpt2/modeling_gpt2.py and
// @5dd4a63 src/transformers/models/llama/modeling_llama.py (RMSNorm, rotate_half RoPE, repeat_kv,
// SwiGLU); karpathy/llm.c@f1e2ace train_gpt2.c (layout, gelu_forward/backward).
//
// Dimension letters: N rows (B*T tokens), B sequences, T positions, C width, V vocabulary,
// NH query heads, NKV key/value heads (NH a multiple of NKV; query head h reads kv head
// h / (NH/NKV), HF's repeat_kv), hd head size, I MLP width. Every backward ADDS into its
// gradients; null gradient pointers are skipped.
#pragma once
#include <cstdint>

namespace moe::nn {

// ---- embeddings: out[n] = wte[tokens[n]] (+ wpe[n % T] with learned positions) ----------------
// out (N,C); tokens (N) in [0,V); wte (V,C); wpe (T,C) or null; rows are (b, t) with t = n % T
template <typename T>
void embedding_forward(T * out, const int32_t * tokens, const T * wte, const T * wpe, int N, int Tn, int C);
// dwte (V,C) += ; dwpe (T,C) += (null: skipped); each sum over the rows in row order
template <typename T>
void embedding_backward(T * dwte, T * dwpe, const T * dout, const int32_t * tokens, int N, int Tn, int C, int V);

// ---- RMSNorm: out = w * x / sqrt(mean(x^2) + eps) (LlamaRMSNorm) -------------------------------
// out (N,C); rstd (N) cache; inp (N,C); w (C)
template <typename T>
void rmsnorm_forward(T * out, T * rstd, const T * inp, const T * w, int N, int C, T eps);
template <typename T>
void rmsnorm_backward(T * dinp, T * dw, const T * dout, const T * inp, const T * w, const T * rstd, int N, int C);

// ---- RoPE, HF's rotate_half convention: for each head, pairs (i, i + hd/2) rotate by
// angle pos * theta^(-2i/hd):  x'_i = x_i cos - x_{i+hd/2} sin ; x'_{i+hd/2} = x_{i+hd/2} cos + x_i sin
// cos_sin (Tmax, hd/2, 2) from rope_table. x (N rows of n_heads * hd, ld apart), in place; the
// position of row n is pos0 + n % Tn.
void rope_table(double * cos_sin, int Tmax, int hd, double theta);
template <typename T>
void rope_forward(T * x, int64_t ld, const double * cos_sin, int N, int Tn, int pos0, int n_heads, int hd);
// the backward is the inverse rotation, applied in place to the gradient
template <typename T>
void rope_backward(T * dx, int64_t ld, const double * cos_sin, int N, int Tn, int pos0, int n_heads, int hd);

// ---- activations (n elements) ----------------------------------------------------------------
// GELU, tanh form (GPT-2's gelu_new): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
template <typename T>
void gelu_tanh_forward(T * out, const T * inp, int64_t n);
template <typename T>
void gelu_tanh_backward(T * dinp, const T * inp, const T * dout, int64_t n);
// SwiGLU: out = silu(gate) * up, silu(g) = g * sigmoid(g)
template <typename T>
void swiglu_forward(T * out, const T * gate, const T * up, int64_t n);
// dgate += dout * up * silu'(gate) ; dup += dout * silu(gate)
template <typename T>
void swiglu_backward(T * dgate, T * dup, const T * dout, const T * gate, const T * up, int64_t n);

// ---- grouped-query causal attention ----------------------------------------------------------
// out (B,T,NH*hd); att (B,NH,T,T) softmax cache (0 above the diagonal); q (B*T rows, NH*hd used,
// lq apart), k and v (B*T rows, NKV*hd used, lk / lv apart): pointers into a fused qkv buffer or
// separate ones. Scores q k^T / sqrt(hd), position t attends to t' <= t.
template <typename T>
void gqa_attention_forward(T * out, T * att, const T * q, const T * k, const T * v, int64_t lq, int64_t lk, int64_t lv,
                           int B, int Tn, int NH, int NKV, int hd);
// dq, dk, dv (same layouts) += ; datt (B,NH,T,T) scratch (overwritten). The kv heads of a
// sequence are independent: each (sequence, kv head) runs its query heads in order, on one thread.
template <typename T>
void gqa_attention_backward(T * dq, T * dk, T * dv, T * datt, const T * dout, const T * q, const T * k, const T * v,
                            const T * att, int64_t lq, int64_t lk, int64_t lv, int B, int Tn, int NH, int NKV, int hd);

// ---- one position against a KV cache (generation) ----------------------------------------------
// The new token of each of B sequences sits at position t; kc, vc (B, NKV, Tmax, hd) hold the keys
// and values of positions 0..t (position t already written). out (B, NH*hd); q (B rows, lq apart);
// scratch (B * NH * Tmax) overwritten. Equals row t of gqa_attention_forward over positions 0..t
// up to rounding (the scores are vector dot products here, GEMM rows there).
template <typename T>
void gqa_attention_decode(T * out, T * scratch, const T * q, int64_t lq, const T * kc, const T * vc, int B, int t,
                          int Tmax, int NH, int NKV, int hd);

} // namespace moe::nn
