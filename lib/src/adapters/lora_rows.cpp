// adapters: LoRA experts multiplying their token rows in place (no gathered blocks), in the SIMD
// register tiles of moe/simd for float and plain loops in the reference order for any other scalar.
#include <algorithm>
#include <cstring>

#include "moe/adapters/adapters.hpp"
#include "moe/blas/gemm.hpp"
#include "moe/nn/fast_math.hpp"
#include "moe/simd/row_kernels.hpp"

namespace moe::adapters {

// ---- LoRA experts on their token rows in place -------------------------------------------------
// The rows of a block, as pointers (at most kRowsChunk, on the stack): token perm[i] / K of a
// (., ld) matrix, or row i of a contiguous one (perm null). Worked out once, not per tile.
namespace {
template <typename T>
struct Rows {
    const T * p[kRowsChunk];
    Rows(const T * base, int64_t ld, const int32_t * perm, int K, int n) {
        for (int i = 0; i < n; ++i) p[i] = base + (perm ? (int64_t)(perm[i] / K) : (int64_t)i) * ld;
    }
    const T * operator[](int i) const { return p[i]; }
};

// h[i][r] = sum_c x_i[c] a[r][c], i < n, r < R (a (R, C) row-major). Reference order: c ascending.
template <typename T>
void rows_dot(T * h, const Rows<T> & x, int n, const T * a, int R, int C) {
    for (int i = 0; i < n; ++i)
        for (int r = 0; r < R; ++r) {
            T acc = 0;
            for (int c = 0; c < C; ++c) acc += x[i][c] * a[(int64_t)r * C + c];
            h[(int64_t)i * R + r] = acc;
        }
}
// out[i][r] = sum_k u_i[k] p[k][r], i < n, r < R, k < Kd (p (Kd, R) row-major)
template <typename T>
void rows_times(T * out, const Rows<T> & u, int n, const T * p, int Kd, int R) {
    for (int i = 0; i < n; ++i)
        for (int r = 0; r < R; ++r) {
            T acc = 0;
            for (int k = 0; k < Kd; ++k) acc += u[i][k] * p[(int64_t)k * R + r];
            out[(int64_t)i * R + r] = acc;
        }
}
// out[a][b] += sum_i u_i[a] v_i[b], a < M, b < W (out rows ldo apart); each sum over i in order,
// then added
template <typename T>
void outer_acc(T * out, int64_t ldo, int M, int W, const Rows<T> & u, const Rows<T> & v, int n) {
    for (int a = 0; a < M; ++a)
        for (int b = 0; b < W; ++b) {
            T acc = 0;
            for (int i = 0; i < n; ++i) acc += u[i][a] * v[i][b];
            out[(int64_t)a * ldo + b] += acc;
        }
}

// float: register tiles over the SIMD target dispatched at run time (moe/simd/row_kernels.hpp)
template <>
void rows_dot<float>(float * h, const Rows<float> & x, int n, const float * a, int R, int C) {
    simd::dot_rows(h, x.p, n, a, R, C);
}
template <>
void rows_times<float>(float * out, const Rows<float> & u, int n, const float * p, int Kd, int R) {
    simd::times_rows(out, u.p, n, p, Kd, R);
}
template <>
void outer_acc<float>(float * out, int64_t ldo, int M, int W, const Rows<float> & u, const Rows<float> & v, int n) {
    simd::outer_acc(out, ldo, M, W, u.p, v.p, n);
}
} // namespace

template <typename T>
void lora_rows_forward(T * h, T * hg, const T * inp, const T * g, const T * a, T s, const int32_t * perm, int begin,
                       int end, int K, int C, int R) {
    for (int c0 = begin; c0 < end; c0 += kRowsChunk) { // chunks of at most kRowsChunk rows
        const int n = std::min(kRowsChunk, end - c0);
        T *hc = h + (int64_t)(c0 - begin) * R, *hgc = hg + (int64_t)(c0 - begin) * R;
        rows_dot<T>(hc, Rows<T>(inp, C, perm + c0, K, n), n, a, R, C); // h = inp[token] @ a^T
        for (int i = 0; i < n; ++i) {                                  // hg[i] = (s * g[i]) * h[i]
            const T sg = s * g[c0 - begin + i];
            for (int r = 0; r < R; ++r) hgc[(int64_t)i * R + r] = sg * hc[(int64_t)i * R + r];
        }
    }
    if (end > begin) blas::count_flops(2.0 * (end - begin) * R * C);
}

template <typename T>
void lora_rows_backward(T * da, T * db, T * dg, T * dh, const T * dout, const T * inp, const T * h, const T * hg,
                        const T * g, const T * b, T s, const int32_t * perm, int begin, int end, int K, int C, int OC,
                        int R) {
    for (int c0 = begin; c0 < end; c0 += kRowsChunk) { // chunks of at most kRowsChunk rows
        const int n = std::min(kRowsChunk, end - c0);
        const int64_t o = (int64_t)(c0 - begin) * R;
        T * dhc = dh + o;
        const Rows<T> drows(dout, OC, perm + c0, K, n);
        // forward was: out[token] += hg @ b^T   so   db += dout[token]^T @ hg ; dhg = dout[token] @ b
        if (db) outer_acc<T>(db, R, OC, R, drows, Rows<T>(hg + o, R, nullptr, 1, n), n);
        rows_times<T>(dhc, drows, n, b, OC, R);
        // forward was: hg[i] = (s * g[i]) * h[i]   so   dg[i] += s <h[i], dhg[i]> ; dh[i] = (s * g[i]) * dhg[i]
        for (int i = 0; i < n; ++i) {
            T * d = dhc + (int64_t)i * R;
            const int64_t ib = c0 - begin + i;
            if (dg) dg[ib] += s * nn::dot16(h + ib * R, d, R);
            const T sg = s * g[ib];
            for (int r = 0; r < R; ++r) d[r] *= sg;
        }
        // forward was: h = inp[token] @ a^T   so   da += dh^T @ inp[token]
        if (da) outer_acc<T>(da, C, R, C, Rows<T>(dhc, R, nullptr, 1, n), Rows<T>(inp, C, perm + c0, K, n), n);
    }
    if (end > begin) blas::count_flops(2.0 * (end - begin) * R * ((db ? OC : 0) + OC + (da ? C : 0)));
}

#define MOE_LORA_ROWS_INSTANTIATE(T)                                                                                   \
    template void lora_rows_forward<T>(T *, T *, const T *, const T *, const T *, T, const int32_t *, int, int, int,   \
                                       int, int);                                                                      \
    template void lora_rows_backward<T>(T *, T *, T *, T *, const T *, const T *, const T *, const T *, const T *,     \
                                        const T *, T, const int32_t *, int, int, int, int, int, int);

MOE_LORA_ROWS_INSTANTIATE(float)
MOE_LORA_ROWS_INSTANTIATE(double)

} // namespace moe::adapters
