// routing: the balancing and router loss kernels (see moe/routing/routing.hpp; formulas and
// sources in docs/methods/lbl.md, z_loss.md, dynmole_loss.md, null_loss.md).
#include "moe/routing/routing.hpp"

#include "kernel_util.hpp"

namespace moe::routing {

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

template <typename T>
T zloss_forward(const T * logits, int N, int P, T * lse) {
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

template <typename T>
double softmax_entropy_sum(const T * logits, const T * probs, const T * lse, int N, int P) {
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

template <typename T>
void zloss_backward(T * dlogits, const T * logits, T coef, int N, int P) {
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

template <typename T>
T tsallis_entropy(const T * p, int E, T q, T eps) {
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
T dynmole_loss_forward(T * ent, T * lb, const T * probs, const T * w_dense, int N, int E, T q, T eps, T beta, T alpha) {
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
void dynmole_loss_backward(T * dprobs, const T * probs, const T * w_dense, int N, int E, T q, T eps, T beta, T alpha) {
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
void dynmole_loss_stats(double * h_sum, double * w_sum, double * p_sum, const T * probs, const T * w_dense, int N,
                        int E, T q, T eps) {
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

#define MOE_LOSS_KERNELS_INSTANTIATE(T)                                                                                \
    template void lbl_frequencies<T>(T *, const int64_t *, int64_t, int, int, LblConvention);                          \
    template T lbl_forward<T>(const T *, const T *, int, int, int);                                                    \
    template void lbl_backward<T>(T *, const T *, T, int, int, int);                                                   \
    template T zloss_forward<T>(const T *, int, int, T *);                                                             \
    template double softmax_entropy_sum<T>(const T *, const T *, const T *, int, int);                                 \
    template void zloss_backward<T>(T *, const T *, T, int, int);                                                      \
    template T tsallis_entropy<T>(const T *, int, T, T);                                                               \
    template T dynmole_loss_forward<T>(T *, T *, const T *, const T *, int, int, T, T, T, T);                          \
    template void dynmole_loss_stats<T>(double *, double *, double *, const T *, const T *, int, int, T, T);           \
    template void dynmole_pooled_backward<T>(T *, const T *, const T *, const T *, const T *, int, int64_t, int, T, T, \
                                             T, T);                                                                    \
    template void dynmole_loss_backward<T>(T *, const T *, const T *, int, int, T, T, T, T);                           \
    template T adamoe_lbl_forward<T>(T *, const T *, const int64_t *, int, int, int);                                  \
    template void adamoe_lbl_backward<T>(T *, const T *, T, int, int, int);

MOE_LOSS_KERNELS_INSTANTIATE(float)
MOE_LOSS_KERNELS_INSTANTIATE(double)

} // namespace moe::routing
