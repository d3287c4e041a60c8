// adapters: the bottleneck adapter up(ReLU(down(x))) on a contiguous block of rows.
#include <cstring>

#include "moe/adapters/adapters.hpp"
#include "moe/blas/gemm.hpp"

namespace moe::adapters {

using blas::gemm;

template <typename T>
void bottleneck_forward(T * out, T * hpre, T * h, const T * inp, const T * wd, const T * bd, const T * wu, const T * bu,
                        int N, int C, int OC, int R) {
    if (N == 0) return;
    for (int n = 0; n < N; ++n) std::memcpy(hpre + (int64_t)n * R, bd, sizeof(T) * R);
    gemm<T>(false, true, N, R, C, T(1), inp, C, wd, C, T(1), hpre, R);
    for (int64_t i = 0; i < (int64_t)N * R; ++i) h[i] = hpre[i] > T(0) ? hpre[i] : T(0);
    gemm<T>(false, true, N, OC, R, T(1), h, R, wu, R, T(1), out, OC);
    for (int n = 0; n < N; ++n) {
        T * o = out + (int64_t)n * OC;
        for (int c = 0; c < OC; ++c) o[c] += bu[c];
    }
}

template <typename T>
void bottleneck_backward(T * dinp, T * dwd, T * dbd, T * dwu, T * dbu, T * dh, const T * dout, const T * inp,
                         const T * hpre, const T * h, const T * wd, const T * wu, int N, int C, int OC, int R) {
    if (N == 0) return;
    // forward was: out += h @ wu^T + bu
    if (dbu)
        for (int n = 0; n < N; ++n)
            for (int c = 0; c < OC; ++c) dbu[c] += dout[(int64_t)n * OC + c];
    if (dwu) gemm<T>(true, false, OC, R, N, T(1), dout, OC, h, R, T(1), dwu, R);
    gemm<T>(false, false, N, R, OC, T(1), dout, OC, wu, R, T(0), dh, R);
    // forward was: h = relu(hpre)
    for (int64_t i = 0; i < (int64_t)N * R; ++i)
        if (!(hpre[i] > T(0))) dh[i] = T(0);
    // forward was: hpre = inp @ wd^T + bd
    if (dbd)
        for (int n = 0; n < N; ++n)
            for (int r = 0; r < R; ++r) dbd[r] += dh[(int64_t)n * R + r];
    if (dwd) gemm<T>(true, false, R, C, N, T(1), dh, R, inp, C, T(1), dwd, C);
    if (dinp) gemm<T>(false, false, N, C, R, T(1), dh, R, wd, C, T(1), dinp, C);
}

#define MOE_BOTTLENECK_INSTANTIATE(T)                                                                                  \
    template void bottleneck_forward<T>(T *, T *, T *, const T *, const T *, const T *, const T *, const T *, int,     \
                                        int, int, int);                                                                \
    template void bottleneck_backward<T>(T *, T *, T *, T *, T *, T *, const T *, const T *, const T *, const T *,     \
                                         const T *, const T *, int, int, int, int);

MOE_BOTTLENECK_INSTANTIATE(float)
MOE_BOTTLENECK_INSTANTIATE(double)

} // namespace moe::adapters
