// adapters: LoRA on a contiguous block of rows, plain and gated (see moe/adapters/adapters.hpp).
#include "moe/adapters/adapters.hpp"

#include "moe/blas/gemm.hpp"
#include "moe/nn/fast_math.hpp"

namespace moe::adapters {

using blas::gemm;

template <typename T>
void lora_forward(T * out, T * h, const T * inp, const T * a, const T * b, T s, int N, int C, int OC, int R) {
    if (N == 0) return;
    gemm<T>(false, true, N, R, C, T(1), inp, C, a, C, T(0), h, R); // h = inp @ a^T
    gemm<T>(false, true, N, OC, R, s, h, R, b, R, T(1), out, OC);  // out += s * h @ b^T
}

template <typename T>
void lora_backward(T * dinp, T * da, T * db, T * dh, const T * dout, const T * inp, const T * h, const T * a,
                   const T * b, T s, int N, int C, int OC, int R) {
    if (N == 0) return;
    // forward was: out += s * h @ b^T   so   db += s * dout^T @ h ; dh = s * dout @ b
    if (db) gemm<T>(true, false, OC, R, N, s, dout, OC, h, R, T(1), db, R);
    gemm<T>(false, false, N, R, OC, s, dout, OC, b, R, T(0), dh, R);
    // forward was: h = inp @ a^T   so   da += dh^T @ inp ; dinp += dh @ a
    if (da) gemm<T>(true, false, R, C, N, T(1), dh, R, inp, C, T(1), da, C);
    if (dinp) gemm<T>(false, false, N, C, R, T(1), dh, R, a, C, T(1), dinp, C);
}

template <typename T>
void lora_gated_forward(T * out, T * h, T * hg, const T * inp, const T * g, const T * a, const T * b, T s, int n, int C,
                        int OC, int R) {
    if (n == 0) return;
    gemm<T>(false, true, n, R, C, T(1), inp, C, a, C, T(0), h, R); // h = inp @ a^T
    for (int i = 0; i < n; ++i) {                                  // hg[i] = (s * g[i]) * h[i]
        const T sg = s * g[i];
        for (int r = 0; r < R; ++r) hg[(int64_t)i * R + r] = sg * h[(int64_t)i * R + r];
    }
    if (out) gemm<T>(false, true, n, OC, R, T(1), hg, R, b, R, T(0), out, OC); // out = hg @ b^T
}

template <typename T>
void lora_gated_backward(T * dxg, T * da, T * db, T * dg, T * dh, const T * dout, const T * inp, const T * h,
                         const T * hg, const T * g, const T * a, const T * b, T s, int n, int C, int OC, int R) {
    if (n == 0) return;
    // forward was: out = hg @ b^T   so   db += dout^T @ hg ; dhg = dout @ b
    if (db) gemm<T>(true, false, OC, R, n, T(1), dout, OC, hg, R, T(1), db, R);
    gemm<T>(false, false, n, R, OC, T(1), dout, OC, b, R, T(0), dh, R);
    // forward was: hg[i] = (s * g[i]) * h[i]   so   dg[i] += s <h[i], dhg[i]> ; dh[i] = (s * g[i]) * dhg[i]
    for (int i = 0; i < n; ++i) {
        T * d = dh + (int64_t)i * R;
        if (dg) dg[i] += s * nn::dot16(h + (int64_t)i * R, d, R);
        const T sg = s * g[i];
        for (int r = 0; r < R; ++r) d[r] *= sg;
    }
    // forward was: h = inp @ a^T   so   da += dh^T @ inp ; dxg = dh @ a
    if (da) gemm<T>(true, false, R, C, n, T(1), dh, R, inp, C, T(1), da, C);
    if (dxg) gemm<T>(false, false, n, C, R, T(1), dh, R, a, C, T(0), dxg, C);
}

#define MOE_LORA_INSTANTIATE(T)                                                                                        \
    template void lora_forward<T>(T *, T *, const T *, const T *, const T *, T, int, int, int, int);                   \
    template void lora_backward<T>(T *, T *, T *, T *, const T *, const T *, const T *, const T *, const T *, T, int,  \
                                   int, int, int);                                                                     \
    template void lora_gated_forward<T>(T *, T *, T *, const T *, const T *, const T *, const T *, T, int, int, int,   \
                                        int);                                                                          \
    template void lora_gated_backward<T>(T *, T *, T *, T *, T *, const T *, const T *, const T *, const T *,          \
                                         const T *, const T *, const T *, T, int, int, int, int);

MOE_LORA_INSTANTIATE(float)
MOE_LORA_INSTANTIATE(double)

} // namespace moe::adapters
