// nn: attention, softmax and the cross-entropy loss (see moe/nn/kernels.hpp for the conventions),
// compiled once per SIMD target and dispatched at run time as the kernels of kernels.cpp.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "nn/attention_kernels.cpp"
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
#ifndef MOE_NN_ATTENTION_KERNELS_CPP_TABLE
#define MOE_NN_ATTENTION_KERNELS_CPP_TABLE
#define MOE_KERNELS_OF_FILE(X)                                                                                         \
    X(attention_forward)                                                                                               \
    X(attention_backward)                                                                                              \
    X(cross_entropy_forward)                                                                                           \
    X(cross_entropy_backward)                                                                                          \
    X(softmax_forward)                                                                                                 \
    X(softmax_backward)
namespace moe::nn::detail {
template <typename T>
struct AttentionTable {
    MOE_KERNELS_OF_FILE(MOE_KERNEL_SLOT)
};
using AttentionTables = FloatDouble<AttentionTable>;
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

// exp: float uses the vectorisable exp_f32 (fast_math.hpp, < 1 ulp); double keeps libm
static inline float exp_t(float x) { return exp_f32(x); }
static inline double exp_t(double x) { return std::exp(x); }

// ------------------------------------------------------------------------------------- attention
template <typename T>
void attention_forward(T * out, T * att, const T * qkv, int B, int Tn, int C, int NH, bool causal) {
    const int hs = C / NH, C3 = 3 * C;
    const T scale = T(1) / std::sqrt(T(hs));
    // one (sample, head) pair per iteration, the pairs split over the threads
    parallel_for((int64_t)B * NH, std::max<int64_t>(1, kParElems / ((int64_t)Tn * Tn)), [&](int64_t p0, int64_t p1) {
        for (int64_t bh = p0; bh < p1; ++bh) {
            const int b = int(bh / NH), h = int(bh % NH);
            const T * q = qkv + (int64_t)b * Tn * C3 + h * hs;
            const T * k = q + C;
            const T * v = q + 2 * C;
            T * a = att + bh * Tn * Tn;
            // preatt (T,T) = scale * q (T,hs) @ k^T (hs,T)
            gemm<T>(false, true, Tn, Tn, hs, scale, q, C3, k, C3, T(0), a, Tn);
            for (int t = 0; t < Tn; ++t) {
                T * row = a + (int64_t)t * Tn;
                const int valid = causal ? t + 1 : Tn;
                T mx = row[0];
                for (int j = 1; j < valid; ++j) mx = std::max(mx, row[j]);
                for (int j = 0; j < valid; ++j) row[j] = exp_t(row[j] - mx); // vectorised exp, then the sum
                const T inv = T(1) / sum16(row, valid);
                for (int j = 0; j < valid; ++j) row[j] *= inv;
                for (int j = valid; j < Tn; ++j) row[j] = T(0);
            }
            // out_h (T,hs) = att (T,T) @ v (T,hs)
            gemm<T>(false, false, Tn, hs, Tn, T(1), a, Tn, v, C3, T(0), out + (int64_t)b * Tn * C + h * hs, C);
        }
    });
}

template <typename T>
void attention_backward(T * dqkv, T * datt_all, const T * dout, const T * qkv, const T * att, int B, int Tn, int C,
                        int NH) {
    const int hs = C / NH, C3 = 3 * C;
    const T scale = T(1) / std::sqrt(T(hs));
    parallel_for((int64_t)B * NH, std::max<int64_t>(1, kParElems / ((int64_t)Tn * Tn)), [&](int64_t p0, int64_t p1) {
        for (int64_t bh = p0; bh < p1; ++bh) {
            const int b = int(bh / NH), h = int(bh % NH);
            const T * q = qkv + (int64_t)b * Tn * C3 + h * hs;
            const T * k = q + C;
            const T * v = q + 2 * C;
            T * datt = datt_all + bh * Tn * Tn;
            T * dq = dqkv + (int64_t)b * Tn * C3 + h * hs;
            T * dk = dq + C;
            T * dv = dq + 2 * C;
            const T * a = att + bh * Tn * Tn;
            const T * dout_h = dout + (int64_t)b * Tn * C + h * hs;
            // forward was: out_h = att @ v   so   dv += att^T @ dout_h ; datt = dout_h @ v^T
            gemm<T>(true, false, Tn, hs, Tn, T(1), a, Tn, dout_h, C, T(1), dv, C3);
            gemm<T>(false, true, Tn, Tn, hs, T(1), dout_h, C, v, C3, T(0), datt, Tn);
            // forward was: att = softmax(preatt) row-wise   so   dpre = att * (datt - sum(datt * att))
            // (masked entries have att = 0, so they get dpre = 0)
            for (int t = 0; t < Tn; ++t) {
                const T * ar = a + (int64_t)t * Tn;
                T * dr = datt + (int64_t)t * Tn;
                const T dot = dot16(ar, dr, Tn);
                for (int j = 0; j < Tn; ++j) dr[j] = ar[j] * (dr[j] - dot);
            }
            // forward was: preatt = scale * q @ k^T   so   dq += scale * dpre @ k ; dk += scale * dpre^T @ q
            gemm<T>(false, false, Tn, hs, Tn, scale, datt, Tn, k, C3, T(1), dq, C3);
            gemm<T>(true, false, Tn, hs, Tn, scale, datt, Tn, q, C3, T(1), dk, C3);
        }
    });
}

// ------------------------------------------------------------------------------------- losses
template <typename T>
T cross_entropy_forward(T * losses, T * probs, const T * logits, const int32_t * targets, int N, int V, int v_lo,
                        int v_hi) {
    T total = 0;
    for (int n = 0; n < N; ++n) {
        const T * z = logits + (int64_t)n * V;
        T * p = probs + (int64_t)n * V;
        T mx = -std::numeric_limits<T>::infinity();
        for (int v = v_lo; v < v_hi; ++v) mx = std::max(mx, z[v]);
        T sum = 0;
        for (int v = 0; v < V; ++v) {
            if (v < v_lo || v >= v_hi) {
                p[v] = 0;
                continue;
            }
            p[v] = std::exp(z[v] - mx);
            sum += p[v];
        }
        const T inv = T(1) / sum;
        for (int v = v_lo; v < v_hi; ++v) p[v] *= inv;
        const int y = targets[n];
        // -log p[y] computed from the logits for accuracy: logsumexp - z[y]
        T l = (y >= v_lo && y < v_hi) ? (mx + std::log(sum) - z[y]) : std::numeric_limits<T>::infinity();
        losses[n] = l;
        total += l;
    }
    return N > 0 ? total / N : T(0);
}

template <typename T>
void cross_entropy_backward(T * dlogits, const T * probs, const int32_t * targets, T dloss, int N, int V) {
    // forward was: loss = -log softmax(z)[y]   so   dz = p - onehot(y)
    for (int n = 0; n < N; ++n) {
        const T * p = probs + (int64_t)n * V;
        T * d = dlogits + (int64_t)n * V;
        for (int v = 0; v < V; ++v) d[v] += dloss * p[v];
        d[targets[n]] -= dloss;
    }
}

template <typename T>
void softmax_forward(T * probs, const T * logits, int N, int V) {
    parallel_for(N, min_rows(V), [&](int64_t n0, int64_t n1) { // rows are independent
        for (int64_t n = n0; n < n1; ++n) {
            const T * z = logits + n * V;
            T * p = probs + n * V;
            T mx = z[0];
            for (int v = 1; v < V; ++v) mx = std::max(mx, z[v]);
            T sum = 0;
            for (int v = 0; v < V; ++v) {
                p[v] = std::exp(z[v] - mx);
                sum += p[v];
            }
            const T inv = T(1) / sum;
            for (int v = 0; v < V; ++v) p[v] *= inv;
        }
    });
}

template <typename T>
void softmax_backward(T * dlogits, const T * probs, const T * dprobs, int N, int V) {
    parallel_for(N, min_rows(V), [&](int64_t n0, int64_t n1) {
        for (int64_t n = n0; n < n1; ++n) {
            const T * p = probs + n * V;
            const T * dp = dprobs + n * V;
            T * dz = dlogits + n * V;
            T dot = 0;
            for (int v = 0; v < V; ++v) dot += p[v] * dp[v];
            for (int v = 0; v < V; ++v) dz[v] += p[v] * (dp[v] - dot);
        }
    });
}

// this target's kernels
const detail::AttentionTables * AttentionTablesOf() {
    static const detail::AttentionTables t{{MOE_KERNELS_OF_FILE(MOE_KERNEL_FLOAT)},
                                           {MOE_KERNELS_OF_FILE(MOE_KERNEL_DOUBLE)}};
    return &t;
}

} // namespace moe::nn::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace moe::nn {
HWY_EXPORT(AttentionTablesOf);

namespace {
// the kernels of the target chosen at run time (moe/simd/isa.hpp)
template <typename T>
const detail::AttentionTable<T> & table() {
    return detail::pick<T>(*HWY_DYNAMIC_DISPATCH(AttentionTablesOf)());
}
} // namespace

template <typename T>
void attention_forward(T * out, T * att, const T * qkv, int B, int Tn, int C, int NH, bool causal) {
    return table<T>().attention_forward(out, att, qkv, B, Tn, C, NH, causal);
}
template <typename T>
void attention_backward(T * dqkv, T * datt_scratch, const T * dout, const T * qkv, const T * att, int B, int Tn, int C,
                        int NH) {
    return table<T>().attention_backward(dqkv, datt_scratch, dout, qkv, att, B, Tn, C, NH);
}
template <typename T>
T cross_entropy_forward(T * losses, T * probs, const T * logits, const int32_t * targets, int N, int V, int v_lo,
                        int v_hi) {
    return table<T>().cross_entropy_forward(losses, probs, logits, targets, N, V, v_lo, v_hi);
}
template <typename T>
void cross_entropy_backward(T * dlogits, const T * probs, const int32_t * targets, T dloss, int N, int V) {
    return table<T>().cross_entropy_backward(dlogits, probs, targets, dloss, N, V);
}
template <typename T>
void softmax_forward(T * probs, const T * logits, int N, int V) {
    return table<T>().softmax_forward(probs, logits, N, V);
}
template <typename T>
void softmax_backward(T * dlogits, const T * probs, const T * dprobs, int N, int V) {
    return table<T>().softmax_backward(dlogits, probs, dprobs, N, V);
}

#define MOE_NN_ATTENTION_INSTANTIATE(T)                                                                                \
    template void attention_forward<T>(T *, T *, const T *, int, int, int, int, bool);                                 \
    template void attention_backward<T>(T *, T *, const T *, const T *, const T *, int, int, int, int);                \
    template T cross_entropy_forward<T>(T *, T *, const T *, const int32_t *, int, int, int, int);                     \
    template void cross_entropy_backward<T>(T *, const T *, const int32_t *, T, int, int);                             \
    template void softmax_forward<T>(T *, const T *, int, int);                                                        \
    template void softmax_backward<T>(T *, const T *, const T *, int, int);

MOE_NN_ATTENTION_INSTANTIATE(float)
MOE_NN_ATTENTION_INSTANTIATE(double)

} // namespace moe::nn
#endif // HWY_ONCE
