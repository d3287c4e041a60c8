// moe/adapters/adapters.hpp — LoRA and bottleneck adapter kernels, and sparse dispatch.
//
// LoRA (PEFT, huggingface/peft@5d602fd src/peft/tuners/lora/layer.py; docs/methods/lora.md):  out += s * B (A dropout(x)),
//   A (R,C), B (OC,R), s = alpha/R (or alpha/sqrt(R) for rsLoRA). Experts are stacked per site:
//   A (E,R,C), B (E,OC,R).
// Bottleneck adapter (SEMA / AdaptMLP): out += up(ReLU(down(x))), down (R,C)+(R), up (OC,R)+(OC).
//
// Sparse dispatch: the (token, slot) pairs routed to each expert are grouped by a counting sort
// (dispatch_plan), each expert gathers its rows into a contiguous block, runs dense GEMMs on it
// and scatter-adds the gate-weighted result back (bottleneck experts, and LoRA at ranks other
// than 8 and 16); LoRA experts of rank 8 or 16 multiply their token rows in place (lora_rows_*,
// experts_addmm). Compute grows with K, not with E. The permutation is built once
// per forward and reused by backward.
#pragma once
#include <cstdint>

namespace moe::adapters {

// ---- LoRA on a contiguous block of N rows ----------------------------------------------------
// h (N,R) cache = inp (N,C) @ a^T ; out (N,OC) += s * h @ b^T     (out is ACCUMULATED)
template <typename T>
void lora_forward(T * out, T * h, const T * inp, const T * a, const T * b, T s, int N, int C, int OC, int R);
// dh (N,R) scratch (overwritten) = s * dout @ b ; db (OC,R) += s * dout^T @ h ; da (R,C) += dh^T @ inp ;
// dinp (N,C) += dh @ a.  Null da/db/dinp are skipped.
template <typename T>
void lora_backward(T * dinp, T * da, T * db, T * dh, const T * dout, const T * inp, const T * h, const T * a,
                   const T * b, T s, int N, int C, int OC, int R);

// ---- gated LoRA on one expert block of gathered rows (sparse dispatch) -------------------------
// The gate is folded into the rank-R activations, so the block output needs no zero fill, no gate
// pass and no copy kept for backward (the gate gradient comes from the R-wide h instead):
//   h (n,R) cache = inp (n,C) @ a^T ;  hg (n,R) cache = (s * g[i]) * h[i]  (row i) ;
//   out (n,OC) = hg @ b^T                                   (OVERWRITTEN: scatter-added by the caller;
//                                                            null: skipped, the caller uses experts_addmm)
// inp (n,C) the block's gathered rows; g (n) the gate of each row (gathered).
template <typename T>
void lora_gated_forward(T * out, T * h, T * hg, const T * inp, const T * g, const T * a, const T * b, T s, int n, int C,
                        int OC, int R);
// dout (n,OC) the block's gathered upstream gradient (no gate applied).
//   dh (n,R) scratch: first dhg = dout @ b, then dh = (s * g[i]) * dhg[i] ;
//   dg (n) += s * <h[i], dhg[i]> ; db (OC,R) += dout^T @ hg ; da (R,C) += dh^T @ inp ;
//   dxg (n,C) = dh @ a                    (OVERWRITTEN: block scratch, the caller adds it back)
// Null dxg/da/db/dg are skipped.
template <typename T>
void lora_gated_backward(T * dxg, T * da, T * db, T * dg, T * dh, const T * dout, const T * inp, const T * h,
                         const T * hg, const T * g, const T * a, const T * b, T s, int n, int C, int OC, int R);

// ---- gated LoRA on one expert's rows read in place -------------------------------------------
// The products of lora_gated_forward/backward without the gathered blocks: the expert's row i
// (i in [begin, end)) is token perm[i] / K of inp (N,C) and of dout (N,OC), read where it lies.
// OpenBLAS on an expert block packs both operands of every product (at rank 16 the packing costs
// about what the multiplying does, and with a dozen rows per expert, E = 64, more), after the
// gathers have copied every row once already; these loops multiply from the rows in place, in
// 8-lane register tiles (float; any T: plain loops, the reference order), kRowsChunk rows at a time.
//   h (n,R) cache = inp[token] @ a^T ;  hg (n,R) cache = (s * g[i]) * h[i]
// g (n) the gates of the block's rows (dispatch order). The up-projection is experts_addmm's.
template <typename T>
void lora_rows_forward(T * h, T * hg, const T * inp, const T * g, const T * a, T s, const int32_t * perm, int begin,
                       int end, int K, int C, int R);
//   dh (n,R) scratch: first dhg = dout[token] @ b, then dh = (s * g[i]) * dhg[i] ;
//   dg (n) += s * <h[i], dhg[i]> ;  db (OC,R) += sum_i dout[token_i]^T hg[i] ;
//   da (R,C) += sum_i dh[i]^T inp[token_i]     (summed over each chunk of rows, then added)
// Null da/db/dg are skipped. The input gradient is experts_addmm's.
template <typename T>
void lora_rows_backward(T * da, T * db, T * dg, T * dh, const T * dout, const T * inp, const T * h, const T * hg,
                        const T * g, const T * b, T s, const int32_t * perm, int begin, int end, int K, int C, int OC,
                        int R);
inline constexpr int kRowsChunk = 64;
// The ranks MoeSite runs in place: 8 and 16, where the tiles beat OpenBLAS on the gathered blocks
// at every block size measured (`moe-bench --lora-kernels`). At 24 and 32 the in-place backward
// measured slower than OpenBLAS at E = 64; those and all other ranks take the gathered blocks
// (lora_gated_forward/backward). The functions themselves take any rank.
inline bool lora_rows_in_place(int R) { return R == 8 || R == 16; }

// ---- bottleneck adapter on a contiguous block ------------------------------------------------
// hpre (N,R) = inp @ wd^T + bd ; h (N,R) = relu(hpre) ; out (N,OC) += h @ wu^T + bu (ACCUMULATED)
template <typename T>
void bottleneck_forward(T * out, T * hpre, T * h, const T * inp, const T * wd, const T * bd, const T * wu, const T * bu,
                        int N, int C, int OC, int R);
// dh (N,R) scratch; grads accumulate; null pointers skipped
template <typename T>
void bottleneck_backward(T * dinp, T * dwd, T * dbd, T * dwu, T * dbu, T * dh, const T * dout, const T * inp,
                         const T * hpre, const T * h, const T * wd, const T * wu, int N, int C, int OC, int R);

// ---- dispatch ----------------------------------------------------------------------------------
// idx (N,K) expert of each (token, slot) or -1. Writes offsets (E+1) and perm (N*K): perm lists
// the flat (token*K + slot) positions grouped by expert, in token order within an expert;
// offsets[e]..offsets[e+1] is expert e's block. Returns the number of routed pairs.
int dispatch_plan(int32_t * perm, int32_t * offsets, const int32_t * idx, int N, int K, int E);
// xg (n_e, C) = inp[perm[i] / K] for i in [begin, end)
template <typename T>
void gather_rows(T * xg, const T * inp, const int32_t * perm, int begin, int end, int K, int C);
// out[perm[i]/K] += gate[perm[i]] * yg[i - begin]   (scatter-add, gate (N*K); null gate = 1)
template <typename T>
void scatter_add_rows(T * out, const T * yg, const T * gate, const int32_t * perm, int begin, int end, int K, int OC);
// Backward of scatter_add_rows:
//   dyg[i-begin] (overwritten) = gate[perm[i]] * dout[token] ;  dgate[perm[i]] += <dout[token], yg[i-begin]>
template <typename T>
void scatter_add_rows_backward(T * dyg, T * dgate, const T * dout, const T * yg, const T * gate, const int32_t * perm,
                               int begin, int end, int K, int OC);
// Backward of gather_rows: dinp[perm[i]/K] += dxg[i-begin]
template <typename T>
void gather_rows_backward(T * dinp, const T * dxg, const int32_t * perm, int begin, int end, int K, int C);

// The token-major form of the scatter-add, for all experts at once (the tokens split over
// the threads without two threads adding into one row).
// pos (N*K) = the inverse of perm: pos[perm[i]] = i, -1 for unrouted (token, slot) pairs.
void dispatch_positions(int32_t * pos, const int32_t * perm, int routed, int N, int K);
// out[n] += sum_{j = 0..K-1, pos[n*K+j] >= 0} gate[n*K+j] * yg[pos[n*K+j]]   (null gate = 1)
// yg (routed, OC) in dispatch order. With a null gate it is also the backward of every
// expert's gather_rows: dinp[n] += sum_j dxg[pos[n*K+j]].
template <typename T>
void combine_rows(T * out, const T * yg, const T * gate, const int32_t * pos, int N, int K, int OC);

// ---- rank-R products added straight into token rows (LoRA's up-projection and input gradient) ----
// w (R, OC) travels as panels: column blocks of kPanel, each (R, kPanel) contiguous, the last
// zero-padded; panel_size(R, OC) elements. pack_panels writes the panels of columns
// [c_begin, c_end) (c_begin a multiple of kPanel; c_end = -1: OC) from w (R, OC) row-major or,
// transposed, from w^T (OC, R) row-major (LoRA's B).
inline constexpr int kPanel = 16;
inline int64_t panel_size(int R, int OC) { return (int64_t)R * ((OC + kPanel - 1) / kPanel * kPanel); }
template <typename T>
void pack_panels(T * dst, const T * w, int R, int OC, bool transposed, int c_begin = 0, int c_end = -1);
// out[perm[i] / K] (ncols, rows ldo apart) += h[i - begin] (R) @ w (R, ncols, panels)
// for i in [begin, end). Each output is summed over R in order and then added to its token's
// row; rows are added one after another (two rows of one token add in row order). No block
// output, no zero fill, no separate scatter pass: the product lands in the token's row while it
// is in registers.
template <typename T>
void scatter_addmm_rows(T * out, int64_t ldo, const T * h, const T * w, const int32_t * perm, int begin, int end, int K,
                        int R, int ncols);
// Every expert at once: out[token] (N, OC) += h[i] @ w_e for each routed row i of expert e, where
// h (routed, R) is in dispatch order and w_e = w + e * w_stride is (R, OC) row-major, or (OC, R)
// when transposed (w_e^T stored, as LoRA's B). The threads split the tokens (experts with many
// rows) or the output columns (experts with few rows, whose panels would otherwise be packed by
// every thread); each token adds its experts' products in expert order, whatever the split and
// the thread count.
template <typename T>
void experts_addmm(T * out, const T * h, const T * w, int64_t w_stride, bool transposed, const int32_t * perm,
                   const int32_t * offsets, int E, int N, int K, int R, int OC);

} // namespace moe::adapters
