// adapters: LoRA experts multiplying their token rows in place (no gathered blocks), in 8-lane
// register tiles for float and plain loops in the reference order for any other scalar.
#include <algorithm>
#include <cstring>

#include "moe/adapters/adapters.hpp"
#include "moe/blas/gemm.hpp"
#include "moe/nn/fast_math.hpp"
#include "simd8.hpp"

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

// float: 8-lane tiles (GCC's vector extension, as addmm_rows)
static inline float hsum8(v8f v) {
    float s[8];
    store8(s, v);
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// ROWS x RB dot products over C in 8 lanes, then the lanes summed, then the C % 8 tail
template <int ROWS, int RB>
static void dot_tile(float * h, int ldh, const float * const * x, const float * a, int C) {
    v8f acc[ROWS][RB] = {};
    const int C8 = C / 8 * 8;
    for (int c = 0; c < C8; c += 8) {
        v8f av[RB];
        for (int r = 0; r < RB; ++r) av[r] = load8(a + (int64_t)r * C + c);
        for (int i = 0; i < ROWS; ++i) {
            const v8f xv = load8(x[i] + c);
            for (int r = 0; r < RB; ++r) acc[i][r] += xv * av[r];
        }
    }
    for (int i = 0; i < ROWS; ++i)
        for (int r = 0; r < RB; ++r) {
            float t = hsum8(acc[i][r]);
            for (int c = C8; c < C; ++c) t += x[i][c] * a[(int64_t)r * C + c];
            h[(int64_t)i * ldh + r] = t;
        }
}

template <int ROWS>
static void dot_rows(float * h, const float * const * x, const float * a, int R, int C) {
    int r = 0;
    for (; r + 4 <= R; r += 4) dot_tile<ROWS, 4>(h + r, R, x, a + (int64_t)r * C, C);
    for (; r < R; ++r) dot_tile<ROWS, 1>(h + r, R, x, a + (int64_t)r * C, C);
}

template <>
void rows_dot<float>(float * h, const Rows<float> & x, int n, const float * a, int R, int C) {
    const float * xr[3];
    int i = 0;
    for (; i + 3 <= n; i += 3) {
        for (int j = 0; j < 3; ++j) xr[j] = x[i + j];
        dot_rows<3>(h + (int64_t)i * R, xr, a, R, C);
    }
    for (; i < n; ++i) {
        xr[0] = x[i];
        dot_rows<1>(h + (int64_t)i * R, xr, a, R, C);
    }
}

// ROWS rows x NV*8 columns of p, summed over k in order
template <int ROWS, int NV>
static void times_tile(float * out, int R, const float * const * u, const float * p, int Kd) {
    v8f acc[ROWS][NV] = {};
    for (int k = 0; k < Kd; ++k) {
        v8f pv[NV];
        for (int v = 0; v < NV; ++v) pv[v] = load8(p + (int64_t)k * R + 8 * v);
        for (int i = 0; i < ROWS; ++i) {
            const float uv = u[i][k];
            for (int v = 0; v < NV; ++v) acc[i][v] += uv * pv[v];
        }
    }
    for (int i = 0; i < ROWS; ++i)
        for (int v = 0; v < NV; ++v) store8(out + (int64_t)i * R + 8 * v, acc[i][v]);
}

template <int NV>
static void times_rows(float * out, const Rows<float> & u, int n, const float * p, int Kd) {
    constexpr int ROWS = 12 / NV; // 12 accumulators in flight
    const int R = 8 * NV;
    const float * ur[ROWS];
    int i = 0;
    for (; i + ROWS <= n; i += ROWS) {
        for (int j = 0; j < ROWS; ++j) ur[j] = u[i + j];
        times_tile<ROWS, NV>(out + (int64_t)i * R, R, ur, p, Kd);
    }
    for (; i < n; ++i) {
        ur[0] = u[i];
        times_tile<1, NV>(out + (int64_t)i * R, R, ur, p, Kd);
    }
}

template <>
void rows_times<float>(float * out, const Rows<float> & u, int n, const float * p, int Kd, int R) {
    switch (R) { // 8-lane tiles for ranks that are multiples of 8 (MoeSite: 8 and 16)
    case 8: times_rows<1>(out, u, n, p, Kd); return;
    case 16: times_rows<2>(out, u, n, p, Kd); return;
    case 24: times_rows<3>(out, u, n, p, Kd); return;
    case 32: times_rows<4>(out, u, n, p, Kd); return;
    default: break;
    }
    for (int i = 0; i < n; ++i) // generic
        for (int r = 0; r < R; ++r) {
            float acc = 0;
            for (int k = 0; k < Kd; ++k) acc += u[i][k] * p[(int64_t)k * R + r];
            out[(int64_t)i * R + r] = acc;
        }
}

// MA rows a x NV*8 columns b of out += sum_i u_i[a] v_i[b]
template <int MA, int NV>
static void outer_tile(float * out, int64_t ldo, int a0, int b0, const Rows<float> & u, const Rows<float> & v, int n) {
    v8f acc[MA][NV] = {};
    for (int i = 0; i < n; ++i) {
        const float * vi = v[i] + b0;
        const float * ui = u[i] + a0;
        v8f vv[NV];
        for (int k = 0; k < NV; ++k) vv[k] = load8(vi + 8 * k);
        for (int j = 0; j < MA; ++j) {
            const float uv = ui[j];
            for (int k = 0; k < NV; ++k) acc[j][k] += uv * vv[k];
        }
    }
    for (int j = 0; j < MA; ++j) {
        float * o = out + (int64_t)(a0 + j) * ldo + b0;
        for (int k = 0; k < NV; ++k) store8(o + 8 * k, load8(o + 8 * k) + acc[j][k]);
    }
}

template <int NV>
static void outer_cols(float * out, int64_t ldo, int M, int b0, const Rows<float> & u, const Rows<float> & v, int n) {
    int a = 0;
    for (; a + 6 <= M; a += 6) outer_tile<6, NV>(out, ldo, a, b0, u, v, n);
    if (a + 4 <= M) {
        outer_tile<4, NV>(out, ldo, a, b0, u, v, n);
        a += 4;
    } // R = 16: 6 + 6 + 4
    for (; a + 2 <= M; a += 2) outer_tile<2, NV>(out, ldo, a, b0, u, v, n);
    for (; a < M; ++a) outer_tile<1, NV>(out, ldo, a, b0, u, v, n);
}

template <>
void outer_acc<float>(float * out, int64_t ldo, int M, int W, const Rows<float> & u, const Rows<float> & v, int n) {
    int b = 0;
    for (; b + 16 <= W; b += 16) outer_cols<2>(out, ldo, M, b, u, v, n);
    for (; b + 8 <= W; b += 8) outer_cols<1>(out, ldo, M, b, u, v, n);
    for (; b < W; ++b) // the W % 8 tail
        for (int a = 0; a < M; ++a) {
            float acc = 0;
            for (int i = 0; i < n; ++i) acc += u[i][a] * v[i][b];
            out[(int64_t)a * ldo + b] += acc;
        }
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
