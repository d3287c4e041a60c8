// Router kernels: selection and gating (see moe/routing/routing.hpp for the conventions; the
// formulas and their sources are in docs/methods/).
//
// Dimension letters: N tokens, E (true) experts, M null experts, P = row stride of probs
// (E, or E+M), K slots per token, k_c picks per expert (expert choice).
// Selection kernels write indices only; gating and loss kernels are differentiable given the
// selection, and every *_backward ADDS into its gradient. No kernel allocates: sorting is done
// in place in the caller's idx rows, and the Switch capacity counter is a bounded stack block.
#include "moe/routing/routing.hpp"

#include "kernel_util.hpp"

namespace moe::routing {

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
            if (s > T(0))
                denom = s + static_cast<T>(kRenormEps); // a token that selected nothing: all zeros (denominator 1)
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

template <typename T>
void sigmoid_forward(T * s, const T * z, int64_t n) {
    for (int64_t i = 0; i < n; ++i) s[i] = sigmoid(z[i]);
}

template <typename T>
void sigmoid_backward(T * dz, const T * s, const T * ds, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dz[i] += ds[i] * s[i] * (T(1) - s[i]);
}

template <typename T>
void jitter_forward(T * out, const T * inp, const T * noise, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = inp[i] * noise[i];
}

template <typename T>
void jitter_backward(T * dinp, const T * dout, const T * noise, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dinp[i] += dout[i] * noise[i];
}

// ============================================================================ losses

#define MOE_SELECT_INSTANTIATE(T)                                                                                      \
    template void topk_select<T>(int32_t *, const T *, int, int, int);                                                 \
    template void topp_select<T>(int32_t *, const T *, int, int, T);                                                   \
    template void dynmole_select<T>(int32_t *, T *, const T *, int, int, T, int, T, T, T);                             \
    template void expert_choice_select<T>(int32_t *, const T *, int, int, int);                                        \
    template void biased_topk_select<T>(int32_t *, const T *, const T *, int, int, int);                               \
    template void bias_update<T>(T *, const int64_t *, int, T);                                                        \
    template void gate_forward<T>(T *, const T *, const int32_t *, int, int, int, bool, T);                            \
    template void gate_backward<T>(T *, const T *, const T *, const T *, const int32_t *, int, int, int, bool, T);     \
    template void expert_choice_gate_forward<T>(T *, const T *, const int32_t *, int, int, int);                       \
    template void expert_choice_gate_backward<T>(T *, const T *, const int32_t *, int, int, int);                      \
    template void gates_to_dense<T>(T *, const T *, const int32_t *, int, int, int);                                   \
    template void sigmoid_forward<T>(T *, const T *, int64_t);                                                         \
    template void sigmoid_backward<T>(T *, const T *, const T *, int64_t);                                             \
    template void jitter_forward<T>(T *, const T *, const T *, int64_t);                                               \
    template void jitter_backward<T>(T *, const T *, const T *, int64_t);

MOE_SELECT_INSTANTIATE(float)
MOE_SELECT_INSTANTIATE(double)

} // namespace moe::routing
