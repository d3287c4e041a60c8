// Router kernels and balancing losses (see moe/routing/routing.hpp for the conventions and
// ../shared/reference/routing.md for the formulas and their sources).
//
// Dimension letters: N tokens, E (true) experts, M null experts, P = row stride of probs
// (E, or E+M), K slots per token, k_c picks per expert (expert choice).
// Selection kernels write indices only; gating and loss kernels are differentiable given the
// selection, and every *_backward ADDS into its gradient. No kernel allocates: sorting is done
// in place in the caller's idx rows, and the Switch capacity counter is a bounded stack block.
#include "moe/routing/routing.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "moe/core/error.hpp"
#include "moe/core/parallel.hpp"

namespace moe::routing {

namespace {

// Insert candidates 0..n-1 into out[0..K) keeping the K best by decreasing score; a candidate
// replaces/shifts only entries with a STRICTLY lower score, so among equal scores the lower
// index (inserted first) stays ahead — the stable "lower index wins" rule. Unused slots get -1.
// O(n * K); score(i) is read on the fly (strided columns, biased scores) so nothing is copied.
template <typename T, typename Score>
void topk_insert(int32_t * out, int n, int K, Score score) {
    int cnt = 0;
    for (int i = 0; i < n; ++i) {
        const T s = score(i);
        int pos;
        if (cnt < K) {
            pos = cnt++;
        } else {
            if (K == 0 || !(s > score(out[K - 1]))) continue;
            pos = K - 1; // the current last one drops out
        }
        while (pos > 0 && s > score(out[pos - 1])) {
            out[pos] = out[pos - 1];
            --pos;
        }
        out[pos] = static_cast<int32_t>(i);
    }
    for (int j = cnt; j < K; ++j) out[j] = -1;
}

template <typename T> inline T sigmoid(T z) {
    if (z >= T(0)) return T(1) / (T(1) + std::exp(-z));
    const T e = std::exp(z);
    return e / (T(1) + e);
}

// log-sum-exp of a row, max-subtracted
// Row-wise kernels split their rows over the pool from kParElems elements on (every row is
// computed alone, so the bits do not depend on the thread count).
constexpr int64_t kParElems = 1 << 14;
inline int64_t min_rows(int64_t P) { return std::max<int64_t>(1, kParElems / std::max<int64_t>(P, 1)); }

template <typename T> inline T row_logsumexp(const T * z, int P) {
    T m = z[0];
    for (int e = 1; e < P; ++e) m = std::max(m, z[e]);
    if (!std::isfinite(m)) return m; // all -inf (or an inf/NaN): nothing sensible to subtract
    T s = 0;
    for (int e = 0; e < P; ++e) s += std::exp(z[e] - m);
    return m + std::log(s);
}

// H_q normaliser: (1 - E^(1-q)) for q != 1, ln E for q == 1 (0 when E == 1)
template <typename T> inline T tsallis_norm(int E, T q) {
    if (q == T(1)) return std::log(static_cast<T>(E));
    return T(1) - std::pow(static_cast<T>(E), T(1) - q);
}

void check_dims(int N, int E, int K) {
    MOE_CHECK(N >= 0 && E >= 0 && K >= 0, ErrorCode::internal, "routing: negative dimension");
}

} // namespace

// ============================================================================ selection

template <typename T>
void topk_select(int32_t * idx, const T * scores, int N, int E, int K) {
    check_dims(N, E, K);
    par::parallel_for(N, min_rows(E), [&](int64_t n0, int64_t n1) { // rows are independent
        for (int64_t n = n0; n < n1; ++n) {
            const T * s = scores + n * E;
            topk_insert<T>(idx + n * K, E, K, [s](int i) { return s[i]; });
        }
    });
}

template <typename T>
void topp_select(int32_t * idx, const T * probs, int N, int E, T top_p) {
    check_dims(N, E, 0);
    for (int n = 0; n < N; ++n) {
        const T * p = probs + (int64_t)n * E;
        int32_t * id = idx + (int64_t)n * E;
        topk_insert<T>(id, E, E, [p](int i) { return p[i]; }); // full stable sort, in place
        // MoE-PEFT _dynamic_top_p: keep j iff cumsum before j <= top_p
        T before = 0;
        int j = 0;
        for (; j < E; ++j) {
            if (!(before <= top_p)) break;
            before += p[id[j]];
        }
        for (; j < E; ++j) id[j] = -1;
    }
}

template <typename T>
void dynmole_select(int32_t * idx, T * entropy, const T * probs, int N, int E, T top_p, int keep_top_k,
                    T entropy_threshold, T q, T eps) {
    check_dims(N, E, 0);
    MOE_CHECK(q > T(0), ErrorCode::internal, "dynmole_select: entropy index q must be > 0");
    for (int n = 0; n < N; ++n) {
        const T * p = probs + (int64_t)n * E;
        int32_t * id = idx + (int64_t)n * E;
        topk_insert<T>(id, E, E, [p](int i) { return p[i]; });
        const T h = tsallis_entropy(p, E, q, eps);
        if (entropy) entropy[n] = h;
        if (h > entropy_threshold) continue; // "broadcast": every expert, already in sorted order
        // m_j = 1 if cumsum(j) <= top_p or j < keep_top_k: both are prefixes of the sorted order
        T cum = 0;
        int keep = 0;
        for (int j = 0; j < E; ++j) {
            cum += p[id[j]];
            if (cum <= top_p || j < keep_top_k) keep = j + 1;
        }
        for (int j = keep; j < E; ++j) id[j] = -1;
    }
}

int switch_capacity_drop(int32_t * idx, int N, int E, int capacity) {
    check_dims(N, E, 0);
    MOE_CHECK(capacity >= 0, ErrorCode::internal, "switch_capacity_drop: negative capacity");
    // Switch: token_priority = cumsum(onehot) in token order; keep while priority <= capacity.
    // Counters for a block of at most 256 experts live on the stack; larger E takes more passes.
    constexpr int kBlock = 256;
    int counts[kBlock];
    int dropped = 0;
    for (int e0 = 0; e0 < E; e0 += kBlock) {
        const int e1 = std::min(E, e0 + kBlock);
        std::fill(counts, counts + (e1 - e0), 0);
        for (int n = 0; n < N; ++n) {
            const int32_t e = idx[n];
            if (e < e0 || e >= e1) continue;
            if (++counts[e - e0] > capacity) {
                idx[n] = -1;
                ++dropped;
            }
        }
    }
    return dropped;
}

template <typename T>
void expert_choice_select(int32_t * picks, const T * probs, int N, int E, int k_c) {
    check_dims(N, E, k_c);
    for (int e = 0; e < E; ++e)
        topk_insert<T>(picks + (int64_t)e * k_c, N, k_c, [probs, e, E](int t) { return probs[(int64_t)t * E + e]; });
}

template <typename T>
void biased_topk_select(int32_t * idx, const T * scores, const T * bias, int N, int E, int K) {
    check_dims(N, E, K);
    for (int n = 0; n < N; ++n) {
        const T * s = scores + (int64_t)n * E;
        topk_insert<T>(idx + (int64_t)n * K, E, K, [s, bias](int i) { return s[i] + bias[i]; });
    }
}

template <typename T>
void bias_update(T * bias, const int64_t * load, int E, T u) {
    // sign(mean(c) - c_e) = sign(sum(c) - E * c_e), compared exactly in integers
    int64_t total = 0;
    for (int e = 0; e < E; ++e) total += load[e];
    for (int e = 0; e < E; ++e) {
        const int64_t d = total - (int64_t)E * load[e];
        bias[e] += u * static_cast<T>((d > 0) - (d < 0));
    }
}

// ============================================================================ gating

// The renormalising denominator is S + 1e-20 (HF transformers' DeepSeek-V3 port: `denominator =
// topk_weights.sum(-1) + 1e-20`). It changes no float or double result unless S < ~1e-12, which only
// sigmoid scores reach: with every selected logit below about -90, S underflows towards 0, dS/S
// overflows, and the sigmoid's derivative (0 for an underflowed score) turned inf into NaN.
constexpr double kRenormEps = 1e-20;

template <typename T>
void gate_forward(T * gate, const T * probs, const int32_t * idx, int N, int P, int K, bool renorm, T scale) {
    check_dims(N, P, K);
    for (int n = 0; n < N; ++n) {
        const T * p = probs + (int64_t)n * P;
        const int32_t * id = idx + (int64_t)n * K;
        T * g = gate + (int64_t)n * K;
        T denom = 1;
        if (renorm) {
            T s = 0;
            for (int j = 0; j < K; ++j)
                if (id[j] >= 0) s += p[id[j]];
            if (s > T(0)) denom = s + static_cast<T>(kRenormEps); // a token that selected nothing: all zeros (denominator 1)
        }
        for (int j = 0; j < K; ++j) g[j] = id[j] >= 0 ? scale * p[id[j]] / denom : T(0);
    }
}

template <typename T>
void gate_backward(T * dprobs, const T * dgate, const T * gate, const T * probs, const int32_t * idx, int N, int P,
                   int K, bool renorm, T scale) {
    check_dims(N, P, K);
    for (int n = 0; n < N; ++n) {
        const T * p = probs + (int64_t)n * P;
        const int32_t * id = idx + (int64_t)n * K;
        const T * dg = dgate + (int64_t)n * K;
        const T * g = gate + (int64_t)n * K;
        T * dp = dprobs + (int64_t)n * P;
        if (!renorm) {
            // forward was: g_j = scale * p[idx_j]
            for (int j = 0; j < K; ++j)
                if (id[j] >= 0) dp[id[j]] += scale * dg[j];
            continue;
        }
        // forward was: g_j = scale * p[idx_j] / S,  S = sum_{selected} p
        // so: dp[idx_i] += (scale * dg_i - sum_j dg_j * g_j) / S
        T s = 0, dot = 0;
        for (int j = 0; j < K; ++j)
            if (id[j] >= 0) {
                s += p[id[j]];
                dot += dg[j] * g[j];
            }
        if (!(s > T(0))) continue; // nothing selected: the gates were constant zeros
        for (int j = 0; j < K; ++j)
            if (id[j] >= 0) dp[id[j]] += (scale * dg[j] - dot) / (s + static_cast<T>(kRenormEps));
    }
}

template <typename T>
void expert_choice_gate_forward(T * gate, const T * probs, const int32_t * picks, int N, int E, int k_c) {
    check_dims(N, E, k_c);
    for (int e = 0; e < E; ++e)
        for (int j = 0; j < k_c; ++j) {
            const int32_t t = picks[(int64_t)e * k_c + j];
            gate[(int64_t)e * k_c + j] = t >= 0 ? probs[(int64_t)t * E + e] : T(0);
        }
}

template <typename T>
void expert_choice_gate_backward(T * dprobs, const T * dgate, const int32_t * picks, int N, int E, int k_c) {
    check_dims(N, E, k_c);
    // forward was: gate[e,j] = probs[picks[e,j], e]
    for (int e = 0; e < E; ++e)
        for (int j = 0; j < k_c; ++j) {
            const int32_t t = picks[(int64_t)e * k_c + j];
            if (t >= 0) dprobs[(int64_t)t * E + e] += dgate[(int64_t)e * k_c + j];
        }
}

template <typename T>
void gates_to_dense(T * dense, const T * gate, const int32_t * idx, int N, int E, int K) {
    check_dims(N, E, K);
    std::fill(dense, dense + (int64_t)N * E, T(0));
    for (int n = 0; n < N; ++n)
        for (int j = 0; j < K; ++j) {
            const int32_t e = idx[(int64_t)n * K + j];
            if (e >= 0 && e < E) dense[(int64_t)n * E + e] += gate[(int64_t)n * K + j];
        }
}

template <typename T> void sigmoid_forward(T * s, const T * z, int64_t n) {
    for (int64_t i = 0; i < n; ++i) s[i] = sigmoid(z[i]);
}

template <typename T> void sigmoid_backward(T * dz, const T * s, const T * ds, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dz[i] += ds[i] * s[i] * (T(1) - s[i]);
}

template <typename T> void jitter_forward(T * out, const T * inp, const T * noise, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = inp[i] * noise[i];
}

template <typename T> void jitter_backward(T * dinp, const T * dout, const T * noise, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dinp[i] += dout[i] * noise[i];
}

// ============================================================================ losses

LblConvention parse_lbl(const std::string & s) {
    if (s == "mixtral") return LblConvention::mixtral;
    if (s == "megatron") return LblConvention::megatron;
    if (s == "switch") return LblConvention::switch_;
    throw Error(ErrorCode::spec, "unknown load-balancing convention '" + s + "'",
                {"expected one of: mixtral (HF Mixtral, balanced = K), megatron (balanced = 1), switch (top-1)"});
}

template <typename T>
void lbl_frequencies(T * f, const int64_t * counts, int64_t n_count, int E, int K, LblConvention c) {
    check_dims(0, E, K);
    double denom = static_cast<double>(n_count);
    if (c == LblConvention::megatron) denom *= K;
    for (int e = 0; e < E; ++e) f[e] = denom > 0 ? static_cast<T>(static_cast<double>(counts[e]) / denom) : T(0);
}

template <typename T>
T lbl_forward(const T * probs, const T * f, int N, int P, int E) {
    check_dims(N, P, E);
    MOE_CHECK(E <= P, ErrorCode::internal, "lbl_forward: E > P");
    if (N == 0) return T(0);
    // E * sum_e f_e * P_e,  P_e = (1/N) sum_n p[n,e]
    double acc = 0;
    for (int e = 0; e < E; ++e) {
        if (f[e] == T(0)) continue;
        double pe = 0;
        for (int n = 0; n < N; ++n) pe += probs[(int64_t)n * P + e];
        acc += static_cast<double>(f[e]) * (pe / N);
    }
    return static_cast<T>(E * acc);
}

template <typename T>
void lbl_backward(T * dprobs, const T * f, T coef, int N, int P, int E) {
    check_dims(N, P, E);
    if (N == 0) return;
    // forward was: L = E * sum_e f_e * (1/N) sum_n p[n,e]  (f constant)
    const T c = coef * static_cast<T>(E) / static_cast<T>(N);
    for (int n = 0; n < N; ++n)
        for (int e = 0; e < E; ++e) dprobs[(int64_t)n * P + e] += c * f[e];
}

template <typename T> T zloss_forward(const T * logits, int N, int P, T * lse) {
    check_dims(N, P, 0);
    if (N == 0) return T(0);
    double acc = 0;
    if (lse) { // the rows' logsumexps in parallel, then their squares summed in row order
        par::parallel_for(N, min_rows(P), [&](int64_t n0, int64_t n1) {
            for (int64_t n = n0; n < n1; ++n) lse[n] = row_logsumexp(logits + n * P, P);
        });
        for (int n = 0; n < N; ++n) acc += static_cast<double>(lse[n]) * lse[n];
        return static_cast<T>(acc / N);
    }
    for (int n = 0; n < N; ++n) {
        const T l = row_logsumexp(logits + (int64_t)n * P, P);
        acc += static_cast<double>(l) * l;
    }
    return static_cast<T>(acc / N);
}

template <typename T> double softmax_entropy_sum(const T * logits, const T * probs, const T * lse, int N, int P) {
    check_dims(N, P, 0);
    double sum = 0;
    for (int n = 0; n < N; ++n) {
        const T * z = logits + (int64_t)n * P;
        const T * p = probs + (int64_t)n * P;
        const T l = lse ? lse[n] : row_logsumexp(z, P);
        double h = 0;
        if (std::isfinite(l)) {
            // -sum p ln p with ln p_e = z_e - lse; a zero probability (a removed expert's -1e30
            // logit) adds nothing
            double pz = 0;
            for (int e = 0; e < P; ++e)
                if (p[e] > 0) pz += static_cast<double>(p[e]) * z[e];
            h = static_cast<double>(l) - pz;
        } else {
            for (int e = 0; e < P; ++e)
                if (p[e] > 0) h -= static_cast<double>(p[e]) * std::log(static_cast<double>(p[e]));
        }
        sum += h;
    }
    return sum;
}

template <typename T> void zloss_backward(T * dlogits, const T * logits, T coef, int N, int P) {
    check_dims(N, P, 0);
    if (N == 0) return;
    // forward was: L = (1/N) sum_n lse_n^2;  d lse_n / dz[n,e] = softmax(z_n)_e
    for (int n = 0; n < N; ++n) {
        const T * z = logits + (int64_t)n * P;
        T * dz = dlogits + (int64_t)n * P;
        const T l = row_logsumexp(z, P);
        const T c = coef * T(2) * l / static_cast<T>(N);
        for (int e = 0; e < P; ++e) dz[e] += c * std::exp(z[e] - l);
    }
}

template <typename T> T tsallis_entropy(const T * p, int E, T q, T eps) {
    if (E <= 1) return T(0);
    const T norm = tsallis_norm(E, q);
    if (q == T(1)) {
        T h = 0;
        for (int i = 0; i < E; ++i) h -= (p[i] + eps) * std::log(p[i] + eps);
        return h / norm;
    }
    T s = 0;
    for (int i = 0; i < E; ++i) s += std::pow(p[i] + eps, q);
    // [(1 - s)/(q-1)] / [(1 - E^(1-q))/(q-1)]
    return (T(1) - s) / norm;
}

template <typename T>
T dynmole_loss_forward(T * ent, T * lb, const T * probs, const T * w_dense, int N, int E, T q, T eps, T beta,
                       T alpha) {
    check_dims(N, E, 0);
    double h = 0, acc = 0;
    if (N > 0) {
        for (int n = 0; n < N; ++n) h += tsallis_entropy(probs + (int64_t)n * E, E, q, eps);
        h /= N;
        for (int e = 0; e < E; ++e) {
            double fe = 0, pe = 0;
            for (int n = 0; n < N; ++n) {
                fe += w_dense[(int64_t)n * E + e];
                pe += probs[(int64_t)n * E + e];
            }
            acc += (fe / N) * (pe / N);
        }
        acc *= E;
    }
    if (ent) *ent = static_cast<T>(h);
    if (lb) *lb = static_cast<T>(acc);
    return static_cast<T>(static_cast<double>(beta) * h + static_cast<double>(alpha) * acc);
}

template <typename T>
void dynmole_loss_backward(T * dprobs, const T * probs, const T * w_dense, int N, int E, T q, T eps, T beta,
                           T alpha) {
    check_dims(N, E, 0);
    if (N == 0 || E == 0) return;
    const T invN = T(1) / static_cast<T>(N);
    // entropy term: beta * (1/N) sum_n H_q(p_n)
    if (beta != T(0) && E > 1) {
        const T norm = tsallis_norm(E, q);
        for (int n = 0; n < N; ++n) {
            const T * p = probs + (int64_t)n * E;
            T * dp = dprobs + (int64_t)n * E;
            for (int e = 0; e < E; ++e) {
                const T pe = p[e] + eps;
                // q != 1: dH/dp = -q (p+eps)^(q-1) / norm;  q == 1: -(ln(p+eps) + 1) / ln E
                const T dh = q == T(1) ? -(std::log(pe) + T(1)) / norm : -q * std::pow(pe, q - T(1)) / norm;
                dp[e] += beta * invN * dh;
            }
        }
    }
    // LB term: alpha * E * sum_e ftilde_e P_e, ftilde_e = (1/N) sum_n p[n,e] m[n,e] (m fixed),
    // P_e = (1/N) sum_n p[n,e]  =>  dL/dp[n,e] = alpha * E/N * (ftilde_e + m[n,e] * P_e)
    if (alpha == T(0)) return;
    const T c = alpha * static_cast<T>(E) * invN;
    for (int e = 0; e < E; ++e) {
        T fe = 0, pe = 0;
        for (int n = 0; n < N; ++n) {
            fe += w_dense[(int64_t)n * E + e];
            pe += probs[(int64_t)n * E + e];
        }
        fe *= invN;
        pe *= invN;
        for (int n = 0; n < N; ++n) {
            const T m = w_dense[(int64_t)n * E + e] != T(0) ? T(1) : T(0);
            dprobs[(int64_t)n * E + e] += c * (fe + m * pe);
        }
    }
}

template <typename T>
void dynmole_loss_stats(double * h_sum, double * w_sum, double * p_sum, const T * probs, const T * w_dense, int N, int E,
                        T q, T eps) {
    check_dims(N, E, 0);
    for (int n = 0; n < N; ++n) {
        *h_sum += tsallis_entropy(probs + (int64_t)n * E, E, q, eps);
        for (int e = 0; e < E; ++e) {
            w_sum[e] += w_dense[(int64_t)n * E + e];
            p_sum[e] += probs[(int64_t)n * E + e];
        }
    }
}

template <typename T>
void dynmole_pooled_backward(T * dprobs, const T * probs, const T * w_dense, const T * ftilde, const T * pbar, int N,
                             int64_t n_total, int E, T q, T eps, T beta, T alpha) {
    check_dims(N, E, 0);
    if (N == 0 || E == 0 || n_total <= 0) return;
    const T inv = T(1) / static_cast<T>(n_total);
    if (beta != T(0) && E > 1) { // as dynmole_loss_backward's entropy term, over N_tot rows
        const T norm = tsallis_norm(E, q);
        for (int n = 0; n < N; ++n) {
            const T * p = probs + (int64_t)n * E;
            T * dp = dprobs + (int64_t)n * E;
            for (int e = 0; e < E; ++e) {
                const T pe = p[e] + eps;
                const T dh = q == T(1) ? -(std::log(pe) + T(1)) / norm : -q * std::pow(pe, q - T(1)) / norm;
                dp[e] += beta * inv * dh;
            }
        }
    }
    if (alpha == T(0)) return;
    const T c = alpha * static_cast<T>(E) * inv;
    for (int n = 0; n < N; ++n)
        for (int e = 0; e < E; ++e) {
            const T m = w_dense[(int64_t)n * E + e] != T(0) ? T(1) : T(0);
            dprobs[(int64_t)n * E + e] += c * (ftilde[e] + m * pbar[e]);
        }
}

template <typename T>
T adamoe_lbl_forward(T * f, const T * probs, const int64_t * counts, int N, int E, int M) {
    check_dims(N, E, M);
    const int P = E + M;
    // exp_1: null counts replaced by their mean (the total is unchanged), f = c / sum c
    double total = 0, null_sum = 0;
    for (int e = 0; e < P; ++e) total += static_cast<double>(counts[e]);
    for (int e = E; e < P; ++e) null_sum += static_cast<double>(counts[e]);
    const double null_mean = M > 0 ? null_sum / M : 0.0;
    for (int e = 0; e < P; ++e) {
        const double c = e < E ? static_cast<double>(counts[e]) : null_mean;
        f[e] = total > 0 ? static_cast<T>(c / total) : T(0);
    }
    if (N == 0) return T(0);
    double acc = 0;
    for (int e = 0; e < P; ++e) {
        double pe = 0;
        for (int n = 0; n < N; ++n) pe += probs[(int64_t)n * P + e];
        acc += static_cast<double>(f[e]) * (pe / N);
    }
    return static_cast<T>(P * acc);
}

template <typename T>
void adamoe_lbl_backward(T * dprobs, const T * f, T coef, int N, int E, int M) {
    check_dims(N, E, M);
    if (N == 0) return;
    const int P = E + M;
    // forward was: L = (E+M) * sum_e f_e * (1/N) sum_n p[n,e]   (f constant)
    const T c = coef * static_cast<T>(P) / static_cast<T>(N);
    for (int n = 0; n < N; ++n)
        for (int e = 0; e < P; ++e) dprobs[(int64_t)n * P + e] += c * f[e];
}

// Poly router. eps = finfo(T).eps as torch's clamp_probs; 1e-12 in the normaliser as PEFT.
template <typename T>
void poly_weights_forward(T * w, T * zbuf, const T * phi, const T * u, int q, int S, bool train, T tau) {
    check_dims(q, S, 0);
    const T eps = std::numeric_limits<T>::epsilon();
    for (int h = 0; h < q; ++h) {
        const T * ph = phi + (int64_t)h * S;
        T * z = zbuf + (int64_t)h * S;
        T * wh = w + (int64_t)h * S;
        T sum = 0;
        for (int s = 0; s < S; ++s) {
            if (train) {
                // torch LogitRelaxedBernoulli.rsample, then sigmoid (RelaxedBernoulli)
                const T uu = std::clamp(u[(int64_t)h * S + s], eps, T(1) - eps);
                const T pp = std::clamp(sigmoid(ph[s]), eps, T(1) - eps);
                const T y = (std::log(uu) - std::log1p(-uu) + std::log(pp) - std::log1p(-pp)) / tau;
                z[s] = sigmoid(y);
            } else {
                z[s] = sigmoid(ph[s]);
            }
            sum += z[s];
        }
        const T d = sum + T(1e-12);
        for (int s = 0; s < S; ++s) wh[s] = z[s] / d;
    }
}

template <typename T>
void poly_weights_backward(T * dphi, const T * dw, const T * w, const T * zbuf, const T * phi, const T * u, int q,
                           int S, bool train, T tau) {
    check_dims(q, S, 0);
    const T eps = std::numeric_limits<T>::epsilon();
    for (int h = 0; h < q; ++h) {
        const T * z = zbuf + (int64_t)h * S;
        const T * wh = w + (int64_t)h * S;
        const T * dwh = dw + (int64_t)h * S;
        T sum = 0, dot = 0;
        for (int s = 0; s < S; ++s) {
            sum += z[s];
            dot += dwh[s] * wh[s];
        }
        const T d = sum + T(1e-12);
        for (int s = 0; s < S; ++s) {
            // forward was: w_s = z_s / D, D = sum z + 1e-12  =>  dz_s = (dw_s - sum_s' dw_s' w_s') / D
            const T dz = (dwh[s] - dot) / d;
            // eval: z = sigmoid(phi); train: z = sigmoid((logit(u) + logit(clamp(sigmoid(phi)))) / tau),
            // and d logit(sigmoid(phi)) / d phi = 1 inside the clamp, 0 where it clamps
            T g = dz * z[s] * (T(1) - z[s]);
            if (train) {
                const T pp = sigmoid(phi[(int64_t)h * S + s]);
                g = (pp < eps || pp > T(1) - eps) ? T(0) : g / tau;
            }
            dphi[(int64_t)h * S + s] += g;
        }
    }
}

// ============================================================================ instantiation
#define MOE_ROUTING_INSTANTIATE(T)                                                                          \
    template void topk_select<T>(int32_t *, const T *, int, int, int);                                     \
    template void topp_select<T>(int32_t *, const T *, int, int, T);                                       \
    template void dynmole_select<T>(int32_t *, T *, const T *, int, int, T, int, T, T, T);                 \
    template void expert_choice_select<T>(int32_t *, const T *, int, int, int);                            \
    template void biased_topk_select<T>(int32_t *, const T *, const T *, int, int, int);                   \
    template void bias_update<T>(T *, const int64_t *, int, T);                                            \
    template void gate_forward<T>(T *, const T *, const int32_t *, int, int, int, bool, T);                \
    template void gate_backward<T>(T *, const T *, const T *, const T *, const int32_t *, int, int, int,   \
                                   bool, T);                                                               \
    template void expert_choice_gate_forward<T>(T *, const T *, const int32_t *, int, int, int);           \
    template void expert_choice_gate_backward<T>(T *, const T *, const int32_t *, int, int, int);          \
    template void gates_to_dense<T>(T *, const T *, const int32_t *, int, int, int);                       \
    template void sigmoid_forward<T>(T *, const T *, int64_t);                                             \
    template void sigmoid_backward<T>(T *, const T *, const T *, int64_t);                                 \
    template void jitter_forward<T>(T *, const T *, const T *, int64_t);                                   \
    template void jitter_backward<T>(T *, const T *, const T *, int64_t);                                  \
    template void lbl_frequencies<T>(T *, const int64_t *, int64_t, int, int, LblConvention);              \
    template T lbl_forward<T>(const T *, const T *, int, int, int);                                        \
    template void lbl_backward<T>(T *, const T *, T, int, int, int);                                       \
    template T zloss_forward<T>(const T *, int, int, T *);                                                 \
    template double softmax_entropy_sum<T>(const T *, const T *, const T *, int, int);                     \
    template void zloss_backward<T>(T *, const T *, T, int, int);                                          \
    template T tsallis_entropy<T>(const T *, int, T, T);                                                   \
    template T dynmole_loss_forward<T>(T *, T *, const T *, const T *, int, int, T, T, T, T);              \
    template void dynmole_loss_stats<T>(double *, double *, double *, const T *, const T *, int, int, T, T);    \
    template void dynmole_pooled_backward<T>(T *, const T *, const T *, const T *, const T *, int, int64_t, int, T, \
                                             T, T, T);                                                         \
    template void dynmole_loss_backward<T>(T *, const T *, const T *, int, int, T, T, T, T);               \
    template T adamoe_lbl_forward<T>(T *, const T *, const int64_t *, int, int, int);                      \
    template void adamoe_lbl_backward<T>(T *, const T *, T, int, int, int);                                \
    template void poly_weights_forward<T>(T *, T *, const T *, const T *, int, int, bool, T);              \
    template void poly_weights_backward<T>(T *, const T *, const T *, const T *, const T *, const T *,     \
                                           int, int, bool, T);

MOE_ROUTING_INSTANTIATE(float)
MOE_ROUTING_INSTANTIATE(double)

} // namespace moe::routing
