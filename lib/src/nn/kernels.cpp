// nn kernels (see moe/nn/kernels.hpp for the conventions): Linear, LayerNorm, activations, patches
// and tokens. Compiled once per SIMD target: Highway's foreach_target includes this file again for
// each one (the code between HWY_BEFORE_NAMESPACE and HWY_AFTER_NAMESPACE, in namespace N_AVX2
// etc.), and the public kernels at the end call the target chosen at run time (moe/simd/isa.hpp),
// float and double alike.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "nn/kernels.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep
#include <hwy/highway.h>

#include "row_sums-inl.hpp" // per target, as this file

#include "moe/nn/kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernel_table.hpp"
#include "moe/blas/gemm.hpp"
#include "moe/core/parallel.hpp"
#include "moe/nn/fast_math.hpp"

// The kernels of this file, one slot each; every target's pass fills one table of them (TablesOf below).
#ifndef MOE_NN_KERNELS_CPP_TABLE
#define MOE_NN_KERNELS_CPP_TABLE
#define MOE_KERNELS_OF_FILE(X)                                                                                         \
    X(linear_forward)                                                                                                  \
    X(linear_backward)                                                                                                 \
    X(layernorm_forward)                                                                                               \
    X(layernorm_backward)                                                                                              \
    X(gelu_forward)                                                                                                    \
    X(gelu_backward)                                                                                                   \
    X(bias_gelu_forward)                                                                                               \
    X(relu_forward)                                                                                                    \
    X(relu_backward)                                                                                                   \
    X(residual_forward)                                                                                                \
    X(add_inplace)                                                                                                     \
    X(zero)                                                                                                            \
    X(patchify_forward)                                                                                                \
    X(tokens_forward)                                                                                                  \
    X(tokens_backward)
namespace moe::nn::detail {
template <typename T>
struct NnTable {
    MOE_KERNELS_OF_FILE(MOE_KERNEL_SLOT)
};
using NnTables = FloatDouble<NnTable>;
} // namespace moe::nn::detail
#endif

HWY_BEFORE_NAMESPACE();
namespace moe::nn::HWY_NAMESPACE {

using blas::gemm;
using par::parallel_for;

// Threading (moe/core/parallel.hpp): a kernel splits its rows (or elements) over the pool when
// there are at least kParElems elements to touch; row reductions that sum over n (bias and
// LayerNorm weight gradients) split their columns instead, so every output is summed in the
// serial order (elementwise work needs no order at all).
constexpr int64_t kParElems = 1 << 14;
inline int64_t min_rows(int64_t C) { return std::max<int64_t>(1, kParElems / std::max<int64_t>(C, 1)); }

// ------------------------------------------------------------------------------------- Linear
template <typename T>
void linear_forward(T * out, const T * inp, const T * w, const T * b, int N, int C, int OC) {
    // out (N,OC) = inp (N,C) @ w^T (C,OC)
    if (b) {
        parallel_for(N, min_rows(OC), [&](int64_t n0, int64_t n1) {
            for (int64_t n = n0; n < n1; ++n) std::memcpy(out + n * OC, b, sizeof(T) * OC);
        });
        gemm<T>(false, true, N, OC, C, T(1), inp, C, w, C, T(1), out, OC);
    } else {
        gemm<T>(false, true, N, OC, C, T(1), inp, C, w, C, T(0), out, OC);
    }
}

template <typename T>
void linear_backward(T * dinp, T * dw, T * db, const T * dout, const T * inp, const T * w, int N, int C, int OC) {
    // forward was: out[n,o] = b[o] + sum_c inp[n,c] * w[o,c]
    if (dinp) gemm<T>(false, false, N, C, OC, T(1), dout, OC, w, C, T(1), dinp, C); // dinp += dout @ w
    if (dw) gemm<T>(true, false, OC, C, N, T(1), dout, OC, inp, C, T(1), dw, C);    // dw += dout^T @ inp
    if (db) { // columns split: db[o] sums n = 0..N-1 in order on every thread count
        parallel_for(
            OC, 16 * min_rows(N),
            [&](int64_t o0, int64_t o1) {
                for (int n = 0; n < N; ++n) {
                    const T * d = dout + (int64_t)n * OC;
                    for (int64_t o = o0; o < o1; ++o) db[o] += d[o];
                }
            },
            16);
    }
}

// ------------------------------------------------------------------------------------- LayerNorm
template <typename T>
void layernorm_forward(T * out, T * mean, T * rstd, const T * inp, const T * w, const T * b, int N, int C, T eps) {
    parallel_for(N, min_rows(C), [&](int64_t n0, int64_t n1) {
        for (int64_t n = n0; n < n1; ++n) {
            const T * x = inp + n * C;
            const T m = sum16(x, C) / C;
            const T v = sqdev16(x, m, C) / C;
            const T s = T(1) / std::sqrt(v + eps);
            T * o = out + n * C;
            for (int c = 0; c < C; ++c) o[c] = (x[c] - m) * s * w[c] + b[c];
            mean[n] = m;
            rstd[n] = s;
        }
    });
}

template <typename T>
void layernorm_backward(T * dinp, T * dw, T * db, const T * dout, const T * inp, const T * w, const T * mean,
                        const T * rstd, int N, int C) {
    // forward was: xhat = (x - mean) * rstd ; out = xhat * w + b
    // Two passes: the input gradient row by row (rows split over the threads), then dw and db
    // column by column (columns split), each column summed over n in order.
    // (one fused scalar pass for the two row means measured faster than 16-lane sums at C = 192)
    if (dinp) {
        parallel_for(N, min_rows(C), [&](int64_t n0, int64_t n1) {
            for (int64_t n = n0; n < n1; ++n) {
                const T * x = inp + n * C;
                const T * d = dout + n * C;
                const T m = mean[n], s = rstd[n];
                T dnorm_mean = 0, dnorm_norm_mean = 0;
                for (int c = 0; c < C; ++c) {
                    const T xhat = (x[c] - m) * s;
                    const T dn = w[c] * d[c];
                    dnorm_mean += dn;
                    dnorm_norm_mean += dn * xhat;
                }
                dnorm_mean /= C;
                dnorm_norm_mean /= C;
                T * di = dinp + n * C;
                for (int c = 0; c < C; ++c) {
                    const T xhat = (x[c] - m) * s;
                    di[c] += (w[c] * d[c] - dnorm_mean - xhat * dnorm_norm_mean) * s;
                }
            }
        });
    }
    if (dw || db) {
        parallel_for(
            C, 16 * min_rows(N),
            [&](int64_t c0, int64_t c1) {
                for (int n = 0; n < N; ++n) {
                    const T * x = inp + (int64_t)n * C;
                    const T * d = dout + (int64_t)n * C;
                    const T m = mean[n], s = rstd[n];
                    if (db)
                        for (int64_t c = c0; c < c1; ++c) db[c] += d[c];
                    if (dw)
                        for (int64_t c = c0; c < c1; ++c) dw[c] += (x[c] - m) * s * d[c];
                }
            },
            16);
    }
}

// ------------------------------------------------------------------------------------- activations
// erf and exp: float uses the vectorisable erf_f32 / exp_f32 (fast_math.hpp, < 1 ulp); double
// keeps libm, so the gradient checks test the exact maths.
static inline float erf_t(float x) { return erf_f32(x); }
static inline double erf_t(double x) { return std::erf(x); }
static inline float exp_t(float x) { return exp_f32(x); }
static inline double exp_t(double x) { return std::exp(x); }

template <typename T>
static inline T gelu1(T x) {
    return T(0.5) * x * (T(1) + erf_t(x * T(0.70710678118654752440)));
}
template <typename T>
static inline T gelu1_grad(T x) {
    // d/dx x Phi(x) = Phi(x) + x phi(x)
    const T cdf = T(0.5) * (T(1) + erf_t(x * T(0.70710678118654752440)));
    const T pdf = exp_t(T(-0.5) * x * x) * T(0.39894228040143267794);
    return std::fma(x, pdf, cdf);
}

template <typename T>
void gelu_forward(T * out, const T * inp, int64_t n) {
    parallel_for(
        n, kParElems,
        [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) out[i] = gelu1(inp[i]);
        },
        16);
}
template <typename T>
void gelu_backward(T * dinp, const T * inp, const T * dout, int64_t n) {
    // forward was: out = x * Phi(x)
    parallel_for(
        n, kParElems,
        [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) dinp[i] += dout[i] * gelu1_grad(inp[i]);
        },
        16);
}
template <typename T>
void bias_gelu_forward(T * out, T * x, const T * b, int N, int C) {
    parallel_for(N, min_rows(C), [&](int64_t n0, int64_t n1) {
        for (int64_t n = n0; n < n1; ++n) {
            T * xr = x + n * C;
            T * o = out + n * C;
            if (b) {
                for (int c = 0; c < C; ++c) {
                    const T v = xr[c] + b[c];
                    xr[c] = v;
                    o[c] = gelu1(v);
                }
            } else {
                for (int c = 0; c < C; ++c) o[c] = gelu1(xr[c]);
            }
        }
    });
}
template <typename T>
void relu_forward(T * out, const T * inp, int64_t n) {
    parallel_for(
        n, kParElems,
        [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) out[i] = inp[i] > T(0) ? inp[i] : T(0);
        },
        16);
}
template <typename T>
void relu_backward(T * dinp, const T * inp, const T * dout, int64_t n) {
    parallel_for(
        n, kParElems,
        [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) dinp[i] += inp[i] > T(0) ? dout[i] : T(0);
        },
        16);
}

template <typename T>
void residual_forward(T * out, const T * a, const T * b, int64_t n) {
    parallel_for(
        n, kParElems,
        [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) out[i] = a[i] + b[i];
        },
        16);
}
template <typename T>
void add_inplace(T * dst, const T * src, int64_t n) {
    parallel_for(
        n, kParElems,
        [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) dst[i] += src[i];
        },
        16);
}

template <typename T>
void zero(T * dst, int64_t n) {
    parallel_for(
        n, 4 * kParElems, [&](int64_t i0, int64_t i1) { std::memset(dst + i0, 0, sizeof(T) * (i1 - i0)); }, 16);
}

// ------------------------------------------------------------------------------------- patches, tokens
template <typename T>
void patchify_forward(T * patches, const T * img, int B, int Cin, int H, int W, int ps) {
    const int GH = H / ps, GW = W / ps, P = GH * GW, D = Cin * ps * ps;
    for (int b = 0; b < B; ++b)
        for (int gy = 0; gy < GH; ++gy)
            for (int gx = 0; gx < GW; ++gx) {
                T * dst = patches + ((int64_t)b * P + gy * GW + gx) * D;
                for (int c = 0; c < Cin; ++c)
                    for (int py = 0; py < ps; ++py) {
                        const T * src = img + (((int64_t)b * Cin + c) * H + gy * ps + py) * W + gx * ps;
                        std::memcpy(dst + (c * ps + py) * ps, src, sizeof(T) * ps);
                    }
            }
}

template <typename T>
void tokens_forward(T * out, const T * emb, const T * cls, const T * pos, int B, int P, int C) {
    const int Tn = P + 1;
    for (int b = 0; b < B; ++b) {
        T * o = out + (int64_t)b * Tn * C;
        for (int c = 0; c < C; ++c) o[c] = cls[c] + pos[c];
        for (int p = 0; p < P; ++p) {
            const T * e = emb + ((int64_t)b * P + p) * C;
            const T * ps = pos + (int64_t)(p + 1) * C;
            T * op = o + (int64_t)(p + 1) * C;
            for (int c = 0; c < C; ++c) op[c] = e[c] + ps[c];
        }
    }
}

template <typename T>
void tokens_backward(T * demb, T * dcls, T * dpos, const T * dout, int B, int P, int C) {
    const int Tn = P + 1;
    for (int b = 0; b < B; ++b) {
        const T * d = dout + (int64_t)b * Tn * C;
        if (dcls)
            for (int c = 0; c < C; ++c) dcls[c] += d[c];
        if (dpos)
            for (int64_t i = 0; i < (int64_t)Tn * C; ++i) dpos[i] += d[i];
        if (demb) {
            T * de = demb + (int64_t)b * P * C;
            for (int64_t i = 0; i < (int64_t)P * C; ++i) de[i] += d[C + i];
        }
    }
}

// this target's kernels
const detail::NnTables * NnTablesOf() {
    static const detail::NnTables t{{MOE_KERNELS_OF_FILE(MOE_KERNEL_FLOAT)}, {MOE_KERNELS_OF_FILE(MOE_KERNEL_DOUBLE)}};
    return &t;
}

} // namespace moe::nn::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace moe::nn {
HWY_EXPORT(NnTablesOf);

namespace {
// the kernels of the target chosen at run time (moe/simd/isa.hpp)
template <typename T>
const detail::NnTable<T> & table() {
    return detail::pick<T>(*HWY_DYNAMIC_DISPATCH(NnTablesOf)());
}
} // namespace

template <typename T>
void linear_forward(T * out, const T * inp, const T * w, const T * b, int N, int C, int OC) {
    return table<T>().linear_forward(out, inp, w, b, N, C, OC);
}
template <typename T>
void linear_backward(T * dinp, T * dw, T * db, const T * dout, const T * inp, const T * w, int N, int C, int OC) {
    return table<T>().linear_backward(dinp, dw, db, dout, inp, w, N, C, OC);
}
template <typename T>
void layernorm_forward(T * out, T * mean, T * rstd, const T * inp, const T * w, const T * b, int N, int C, T eps) {
    return table<T>().layernorm_forward(out, mean, rstd, inp, w, b, N, C, eps);
}
template <typename T>
void layernorm_backward(T * dinp, T * dw, T * db, const T * dout, const T * inp, const T * w, const T * mean,
                        const T * rstd, int N, int C) {
    return table<T>().layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, N, C);
}
template <typename T>
void gelu_forward(T * out, const T * inp, int64_t n) {
    return table<T>().gelu_forward(out, inp, n);
}
template <typename T>
void gelu_backward(T * dinp, const T * inp, const T * dout, int64_t n) {
    return table<T>().gelu_backward(dinp, inp, dout, n);
}
template <typename T>
void bias_gelu_forward(T * out, T * x, const T * b, int N, int C) {
    return table<T>().bias_gelu_forward(out, x, b, N, C);
}
template <typename T>
void relu_forward(T * out, const T * inp, int64_t n) {
    return table<T>().relu_forward(out, inp, n);
}
template <typename T>
void relu_backward(T * dinp, const T * inp, const T * dout, int64_t n) {
    return table<T>().relu_backward(dinp, inp, dout, n);
}
template <typename T>
void residual_forward(T * out, const T * a, const T * b, int64_t n) {
    return table<T>().residual_forward(out, a, b, n);
}
template <typename T>
void add_inplace(T * dst, const T * src, int64_t n) {
    return table<T>().add_inplace(dst, src, n);
}
template <typename T>
void zero(T * dst, int64_t n) {
    return table<T>().zero(dst, n);
}
template <typename T>
void patchify_forward(T * patches, const T * img, int B, int Cin, int H, int W, int ps) {
    return table<T>().patchify_forward(patches, img, B, Cin, H, W, ps);
}
template <typename T>
void tokens_forward(T * out, const T * emb, const T * cls, const T * pos, int B, int P, int C) {
    return table<T>().tokens_forward(out, emb, cls, pos, B, P, C);
}
template <typename T>
void tokens_backward(T * demb, T * dcls, T * dpos, const T * dout, int B, int P, int C) {
    return table<T>().tokens_backward(demb, dcls, dpos, dout, B, P, C);
}

#define MOE_NN_INSTANTIATE(T)                                                                                          \
    template void linear_forward<T>(T *, const T *, const T *, const T *, int, int, int);                              \
    template void linear_backward<T>(T *, T *, T *, const T *, const T *, const T *, int, int, int);                   \
    template void layernorm_forward<T>(T *, T *, T *, const T *, const T *, const T *, int, int, T);                   \
    template void layernorm_backward<T>(T *, T *, T *, const T *, const T *, const T *, const T *, const T *, int,     \
                                        int);                                                                          \
    template void gelu_forward<T>(T *, const T *, int64_t);                                                            \
    template void gelu_backward<T>(T *, const T *, const T *, int64_t);                                                \
    template void bias_gelu_forward<T>(T *, T *, const T *, int, int);                                                 \
    template void relu_forward<T>(T *, const T *, int64_t);                                                            \
    template void relu_backward<T>(T *, const T *, const T *, int64_t);                                                \
    template void residual_forward<T>(T *, const T *, const T *, int64_t);                                             \
    template void add_inplace<T>(T *, const T *, int64_t);                                                             \
    template void zero<T>(T *, int64_t);                                                                               \
    template void patchify_forward<T>(T *, const T *, int, int, int, int, int);                                        \
    template void tokens_forward<T>(T *, const T *, const T *, const T *, int, int, int);                              \
    template void tokens_backward<T>(T *, T *, T *, const T *, int, int, int);

MOE_NN_INSTANTIATE(float)
MOE_NN_INSTANTIATE(double)

} // namespace moe::nn
#endif // HWY_ONCE
