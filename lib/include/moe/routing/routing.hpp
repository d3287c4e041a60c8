// moe/routing/routing.hpp — router kernels and balancing losses (formulas and sources: docs/methods/).
//
// A router splits SELECTION (indices, no gradient) from GATING (differentiable given the
// selection), so every gate is gradient-checked with the selection held fixed.
//
// Dimension letters: N tokens, E experts (true experts), M null experts, K slots per token.
// A routing decision is a Selection: for each token n and slot j < K,
//   idx[n*K + j]  expert index in [0,E) or -1 (empty slot / dropped token / null expert)
//   gate[n*K + j] the weight of that expert's output (0 where idx = -1)
// Slots of a token are ordered by decreasing score; ties go to the lower expert index.
// All routers compute in the kernel's scalar type (float in training, double in tests).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace moe::routing {

// ---- selection (no gradient) -------------------------------------------------------------------

// Top-k of scores (N,E) per token: idx (N,K) by decreasing score, lower index wins ties.
template <typename T>
void topk_select(int32_t * idx, const T * scores, int N, int E, int K);

// Top-p per token (MixLoRA-dynamic): the smallest prefix of experts, by decreasing probability,
// whose cumulative probability REACHES top_p (the crossing expert is included); at most K = E
// slots, unused slots -1. Returns nothing; idx (N,E).
// Exactly as MoE-PEFT `_dynamic_top_p` (mask = cumsum > top_p, minus its first true entry):
// expert j of the sorted order is kept iff the cumsum BEFORE it is <= top_p. So an expert whose
// cumsum equals top_p exactly does not stop the prefix (the next one, which exceeds it, is kept
// too), and if the cumsum never exceeds top_p every expert is kept.
template <typename T>
void topp_select(int32_t * idx, const T * probs, int N, int E, T top_p);

// DynMoLE: experts with cumsum <= top_p, plus the first keep_top_k in sorted order; if the
// normalised Tsallis entropy of the token exceeds entropy_threshold, every expert. idx (N,E),
// entropy (N) receives H_q(p). See tsallis_entropy.
// The selected experts always form a prefix of the sorted order: idx[n, 0..m) holds them by
// decreasing probability, idx[n, m..E) = -1 (slot j is NOT expert j; use gates_to_dense to get
// the dense (N,E) weights w = p * mask that dynmole_loss_* take).
template <typename T>
void dynmole_select(int32_t * idx, T * entropy, const T * probs, int N, int E, T top_p, int keep_top_k,
                    T entropy_threshold, T q, T eps);

// Switch capacity: given top-1 idx (N,1) in token order, keep a token only while its expert has
// received <= capacity tokens (cumulative count, token order); dropped tokens get idx -1.
// Returns the number of dropped tokens. capacity = ceil(capacity_factor * N / E) is the caller's.
// Tokens whose idx is already -1 (or outside [0,E)) are left alone and not counted.
int switch_capacity_drop(int32_t * idx, int N, int E, int capacity);

// Expert choice (Zhou et al. 2022): each expert picks its k_c highest-probability tokens
// (lower token index wins ties). picks (E,k_c) token indices. k_c = (int)(c * N / E) is the
// caller's (the reference golden uses T*c/E with c=2).
template <typename T>
void expert_choice_select(int32_t * picks, const T * probs, int N, int E, int k_c);

// DeepSeek-V3 aux-loss-free: top-k of (scores + bias), scores (N,E) sigmoid scores, bias (E).
template <typename T>
void biased_topk_select(int32_t * idx, const T * scores, const T * bias, int N, int E, int K);
// Bias update after an optimizer step: c_e = load (tokens routed to e in the step),
// b_e += u * sign(mean(c) - c_e).
template <typename T>
void bias_update(T * bias, const int64_t * load, int E, T u);

// ---- gating (differentiable given the selection) ----------------------------------------------
// probs (N,P) where P = E (or E+M for null experts); idx (N,K); gate (N,K).
//
// renorm = true : gate_j = p[idx_j] / sum_{selected} p      (Mixtral, MoLA, MixLoRA, AdaMoE
//                 among true experts: pass idx with nulls already set to -1)
// renorm = false: gate_j = p[idx_j]                            (Switch, DynMoLE, top-p, soft)
// scale multiplies every gate (DeepSeek route_scale). Empty slots get 0; a token with no
// selected expert gets all zeros (the denominator is taken as 1).
template <typename T>
void gate_forward(T * gate, const T * probs, const int32_t * idx, int N, int P, int K, bool renorm, T scale);
// dprobs (N,P) += ∂/∂p of sum_j dgate_j * gate_j
template <typename T>
void gate_backward(T * dprobs, const T * dgate, const T * gate, const T * probs, const int32_t * idx, int N, int P,
                   int K, bool renorm, T scale);

// Expert-choice gates are per (expert, pick): gate (E,k_c) = probs[picks, e] (no renorm).
template <typename T>
void expert_choice_gate_forward(T * gate, const T * probs, const int32_t * picks, int N, int E, int k_c);
template <typename T>
void expert_choice_gate_backward(T * dprobs, const T * dgate, const int32_t * picks, int N, int E, int k_c);

// Scatter per-slot gates into a dense (N,E) matrix: dense[n, idx[n,j]] += gate[n,j] after
// zeroing dense (overwrites). Slots with idx -1 or idx >= E (null experts) are skipped. With
// un-renormalised gates (scale 1) this is DynMoLE's w = p * mask for dynmole_loss_*.
template <typename T>
void gates_to_dense(T * dense, const T * gate, const int32_t * idx, int N, int E, int K);

// Sigmoid scores: s = σ(z); backward dz += ds * s * (1 - s).
template <typename T>
void sigmoid_forward(T * s, const T * z, int64_t n);
template <typename T>
void sigmoid_backward(T * dz, const T * s, const T * ds, int64_t n);

// Multiplicative input jitter (Switch / Mixtral / MixLoRA): out = x * U(1-eps, 1+eps); the
// factors are written to `noise` (N,C) so backward is dx += dout * noise.
// (The caller draws the factors; this only applies them.) n = N*C elements.
template <typename T>
void jitter_forward(T * out, const T * inp, const T * noise, int64_t n);
template <typename T>
void jitter_backward(T * dinp, const T * dout, const T * noise, int64_t n);

// ---- balancing and router losses (each returns its un-scaled value; *_backward adds
// coef * ∂L/∂probs into dprobs) -------------------------------------------------------------------

// Load-balancing conventions, all of the form  L = scale * sum_e f_e * P_e,  P_e = mean_n p[n,e]:
//   "mixtral":  f_e = (1/N) * #{(n,j): idx = e}          scale = E      (balanced minimum = K)
//   "megatron": f_e = #{(n,j): idx = e} / (K*N)          scale = E      (balanced minimum = 1)
//   "switch":   f_e = (1/N) * #{n: top-1 = e}            scale = E      (balanced minimum = 1;
//               = E^2 * mean_e(f*P); pass K = 1 slots)
// counts (E) = #{(n,j): idx = e} over the tokens the statistics cover; the caller may pass
// counts accumulated over several micro-batches ("global batch", Demons in the Detail) with
// n_count the number of tokens they cover, while P comes from this micro-batch.
enum class LblConvention { mixtral, megatron, switch_ };
LblConvention parse_lbl(const std::string & s); // throws ErrorCode::spec
// f_e from counts for a convention ("switch" ignores K: pass top-1 counts). n_count = 0 gives f = 0.
template <typename T>
void lbl_frequencies(T * f, const int64_t * counts, int64_t n_count, int E, int K, LblConvention c);
template <typename T>
T lbl_forward(const T * probs, const T * f, int N, int P, int E); // E * sum_e f_e * P_e over the first E columns
template <typename T>
void lbl_backward(T * dprobs, const T * f, T coef, int N, int P, int E); // dprobs[n,e] += coef * E * f_e / N

// Router z-loss (ST-MoE): mean_n (logsumexp_e z[n,e])^2 over logits (N,P). lse (N), when given,
// receives each row's logsumexp (softmax_entropy_sum reuses them).
template <typename T>
T zloss_forward(const T * logits, int N, int P, T * lse = nullptr);
// Sum over the rows of the Shannon entropy of p = softmax(z) (the router's probabilities), in
// nats: H_n = lse(z_n) - sum_e p[n,e] z[n,e], one multiply-add per element instead of a
// logarithm (32768 std::log per site at E = 64 took 0.19 ms, on one thread). lse (N): the rows'
// logsumexp if known (zloss_forward's), else null. A row whose logsumexp is not finite falls back
// to -sum p ln p.
template <typename T>
double softmax_entropy_sum(const T * logits, const T * probs, const T * lse, int N, int P);
template <typename T>
void zloss_backward(T * dlogits, const T * logits, T coef, int N, int P);

// Normalised Tsallis entropy H_q(p) per token with DynMoLE's eps (q = 1 -> Shannon / ln N):
//   q != 1: (1 - sum_i (p_i+eps)^q) / (1 - E^(1-q))      q == 1 (exactly): -sum (p_i+eps) ln(p_i+eps) / ln E
// E = 1 gives 0 (the normaliser vanishes). H_q(uniform) < 1 because of eps (0.999704 for E=4, q=1.1).
template <typename T>
T tsallis_entropy(const T * p, int E, T q, T eps);
// DynMoLE router loss = beta * mean_n H_q(p_n) + alpha * E * sum_e ftilde_e * P_e with
// ftilde_e = mean_n w[n,e] (the masked, un-renormalised weights, dense (N,E)).
// Returns the value; entropy part and LB part are written to *ent, *lb (un-scaled).
template <typename T>
T dynmole_loss_forward(T * ent, T * lb, const T * probs, const T * w_dense, int N, int E, T q, T eps, T beta, T alpha);
// Gradient, as the reference (mikecovlee/DynMoLE@9354b27 `_dynamic_load_balancing_loss_func`:
// routing_weights = softmax * final_mask is NOT detached; only the 0/1 mask has no gradient):
// w = p * m with the mask m held fixed, so
//   dprobs[n,e] += beta/N * dH_q(p_n)/dp_e + alpha * E/N * (ftilde_e + m[n,e] * P_e)
// where m[n,e] = (w_dense[n,e] != 0) (p > 0 after a softmax; a p that underflowed to 0 gets no
// gradient through the softmax anyway).
template <typename T>
void dynmole_loss_backward(T * dprobs, const T * probs, const T * w_dense, int N, int E, T q, T eps, T beta, T alpha);

// DynMoLE's router loss pooled over the rows of several sites, as MoE-PEFT computes it (every
// layer's router outputs concatenated, TUDB-Labs/MoE-PEFT@40f8cb7 moe_peft/common/moe_utils.py):
// each site adds its rows' statistics, h_sum += Σ_n H_q(p_n), w_sum (E) += Σ_n w[n,:],
// p_sum (E) += Σ_n p[n,:] (double); over N_tot rows of all sites
//   L = beta * h_sum / N_tot + alpha * E * Σ_e (w_sum_e / N_tot) (p_sum_e / N_tot).
template <typename T>
void dynmole_loss_stats(double * h_sum, double * w_sum, double * p_sum, const T * probs, const T * w_dense, int N,
                        int E, T q, T eps);
// Its gradient on one site's rows, given the pooled means ftilde_e = w_sum_e / N_tot and
// pbar_e = p_sum_e / N_tot (E each): dprobs[n,e] += beta/N_tot * dH_q(p_n)/dp_e
//                                                 + alpha * E/N_tot * (ftilde_e + m[n,e] * pbar_e)
// with m = (w_dense != 0) held fixed (as dynmole_loss_backward).
template <typename T>
void dynmole_pooled_backward(T * dprobs, const T * probs, const T * w_dense, const T * ftilde, const T * pbar, int N,
                             int64_t n_total, int E, T q, T eps, T beta, T alpha);

// AdaMoE null-expert LBL (exp_1 pooled-null version): counts over E true + M null experts,
// null counts replaced by their mean, f = c / sum c, L = (E+M) * sum_e f_e * P_e.
template <typename T>
T adamoe_lbl_forward(T * f, const T * probs, const int64_t * counts, int N, int E, int M);
template <typename T>
void adamoe_lbl_backward(T * dprobs, const T * f, T coef, int N, int E, int M);

// Poly / MHR task router (PEFT): weights w (q,S) from module logits phi (q*S) of a task.
// eval: z = σ(phi); train: relaxed Bernoulli with u (q*S) uniforms given by the caller,
// z = σ((log u - log(1-u) + log p - log(1-p)) / tau), p = clamp(σ(phi), eps, 1-eps), u clamped.
// w[q,s] = z[q,s] / (sum_s z[q,s] + 1e-12). zbuf (q*S) caches z.
template <typename T>
void poly_weights_forward(T * w, T * zbuf, const T * phi, const T * u, int q, int S, bool train, T tau);
template <typename T>
void poly_weights_backward(T * dphi, const T * dw, const T * w, const T * zbuf, const T * phi, const T * u, int q,
                           int S, bool train, T tau);

} // namespace moe::routing
