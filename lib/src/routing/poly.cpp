// routing: the Poly / MHR skill weights (see moe/routing/routing.hpp, docs/methods/task.md).
#include "moe/routing/routing.hpp"

#include "kernel_util.hpp"

namespace moe::routing {

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

#define MOE_POLY_INSTANTIATE(T)                                                                                        \
    template void poly_weights_forward<T>(T *, T *, const T *, const T *, int, int, bool, T);                          \
    template void poly_weights_backward<T>(T *, const T *, const T *, const T *, const T *, const T *, int, int, bool, \
                                           T);

MOE_POLY_INSTANTIATE(float)
MOE_POLY_INSTANTIATE(double)

} // namespace moe::routing
