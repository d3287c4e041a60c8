// adapters: LoRA and bottleneck kernels, dispatch (see moe/adapters/adapters.hpp).
#include "moe/adapters/adapters.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "moe/blas/gemm.hpp"
#include "moe/core/parallel.hpp"
#include "moe/nn/fast_math.hpp"

namespace moe::adapters {

using blas::gemm;

template <typename T>
void lora_forward(T * out, T * h, const T * inp, const T * a, const T * b, T s, int N, int C, int OC, int R) {
    if (N == 0) return;
    gemm<T>(false, true, N, R, C, T(1), inp, C, a, C, T(0), h, R);     // h = inp @ a^T
    gemm<T>(false, true, N, OC, R, s, h, R, b, R, T(1), out, OC);      // out += s * h @ b^T
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
void lora_gated_forward(T * out, T * h, T * hg, const T * inp, const T * g, const T * a, const T * b, T s, int n,
                        int C, int OC, int R) {
    if (n == 0) return;
    gemm<T>(false, true, n, R, C, T(1), inp, C, a, C, T(0), h, R); // h = inp @ a^T
    for (int i = 0; i < n; ++i) {                                   // hg[i] = (s * g[i]) * h[i]
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

template <typename T>
void bottleneck_forward(T * out, T * hpre, T * h, const T * inp, const T * wd, const T * bd, const T * wu,
                        const T * bu, int N, int C, int OC, int R) {
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

int dispatch_plan(int32_t * perm, int32_t * offsets, const int32_t * idx, int N, int K, int E) {
    // counting sort of the (token, slot) pairs by expert; stable in token order
    std::fill(offsets, offsets + E + 1, 0);
    for (int64_t i = 0; i < (int64_t)N * K; ++i)
        if (idx[i] >= 0) ++offsets[idx[i] + 1];
    for (int e = 0; e < E; ++e) offsets[e + 1] += offsets[e];
    // offsets[e] is used as a cursor, then restored
    for (int64_t i = 0; i < (int64_t)N * K; ++i)
        if (idx[i] >= 0) perm[offsets[idx[i]]++] = (int32_t)i;
    for (int e = E; e > 0; --e) offsets[e] = offsets[e - 1];
    offsets[0] = 0;
    return offsets[E];
}

template <typename T>
void gather_rows(T * xg, const T * inp, const int32_t * perm, int begin, int end, int K, int C) {
    for (int i = begin; i < end; ++i)
        std::memcpy(xg + (int64_t)(i - begin) * C, inp + (int64_t)(perm[i] / K) * C, sizeof(T) * C);
}

template <typename T>
void scatter_add_rows(T * out, const T * yg, const T * gate, const int32_t * perm, int begin, int end, int K, int OC) {
    for (int i = begin; i < end; ++i) {
        T * o = out + (int64_t)(perm[i] / K) * OC;
        const T * y = yg + (int64_t)(i - begin) * OC;
        if (gate) {
            const T g = gate[perm[i]];
            for (int c = 0; c < OC; ++c) o[c] += g * y[c];
        } else {
            for (int c = 0; c < OC; ++c) o[c] += y[c];
        }
    }
}

template <typename T>
void scatter_add_rows_backward(T * dyg, T * dgate, const T * dout, const T * yg, const T * gate, const int32_t * perm,
                               int begin, int end, int K, int OC) {
    // forward was: out[tok] += gate[p] * yg[i]
    for (int i = begin; i < end; ++i) {
        const T g = gate[perm[i]];
        const T * d = dout + (int64_t)(perm[i] / K) * OC;
        T * dy = dyg + (int64_t)(i - begin) * OC;
        const T * y = yg + (int64_t)(i - begin) * OC;
        for (int c = 0; c < OC; ++c) dy[c] = g * d[c];
        if (dgate) dgate[perm[i]] += nn::dot16(d, y, OC);
    }
}

template <typename T>
void gather_rows_backward(T * dinp, const T * dxg, const int32_t * perm, int begin, int end, int K, int C) {
    for (int i = begin; i < end; ++i) {
        T * d = dinp + (int64_t)(perm[i] / K) * C;
        const T * s = dxg + (int64_t)(i - begin) * C;
        for (int c = 0; c < C; ++c) d[c] += s[c];
    }
}

void dispatch_positions(int32_t * pos, const int32_t * perm, int routed, int N, int K) {
    std::fill(pos, pos + (int64_t)N * K, -1);
    for (int i = 0; i < routed; ++i) pos[perm[i]] = i;
}

template <typename T>
void combine_rows(T * out, const T * yg, const T * gate, const int32_t * pos, int N, int K, int OC) {
    // each token's row is summed over its slots in slot order, whatever the thread count
    par::parallel_for(N, std::max(1, (1 << 14) / std::max(1, K * OC)), [&](int64_t n0, int64_t n1) {
        for (int64_t n = n0; n < n1; ++n) {
            T * o = out + n * OC;
            for (int j = 0; j < K; ++j) {
                const int32_t i = pos[n * K + j];
                if (i < 0) continue;
                const T * y = yg + (int64_t)i * OC;
                if (gate) {
                    const T g = gate[n * K + j];
                    for (int c = 0; c < OC; ++c) o[c] += g * y[c];
                } else {
                    for (int c = 0; c < OC; ++c) o[c] += y[c];
                }
            }
        }
    });
}

// GCC's vector extension: AVX2 + FMA with -march=native, pairs of SSE registers without.
typedef float v8f __attribute__((vector_size(32)));
static inline v8f load8(const float * p) { v8f v; __builtin_memcpy(&v, p, sizeof v); return v; }
static inline void store8(float * p, v8f v) { __builtin_memcpy(p, &v, sizeof v); }

// dst[t * ldd + i] = src[i * lds + t], i, t < 8: an 8 x 8 block transposed in registers (pairs
// interleaved, then 2 x 2 blocks, then 4 x 4 halves). Only moves values: the same bits as the loop.
static inline void transpose8(float * dst, int64_t ldd, const float * src, int64_t lds) {
    v8f r[8], t[8], u[8];
    for (int i = 0; i < 8; ++i) r[i] = load8(src + i * lds);
    for (int i = 0; i < 8; i += 2) {
        t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int i = 0; i < 8; i += 4)
        for (int j = 0; j < 2; ++j) {
            u[i + 2 * j] = __builtin_shufflevector(t[i + j], t[i + j + 2], 0, 1, 8, 9, 4, 5, 12, 13);
            u[i + 2 * j + 1] = __builtin_shufflevector(t[i + j], t[i + j + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        }
    for (int c = 0; c < 4; ++c) {
        store8(dst + c * ldd, __builtin_shufflevector(u[c], u[c + 4], 0, 1, 2, 3, 8, 9, 10, 11));
        store8(dst + (c + 4) * ldd, __builtin_shufflevector(u[c], u[c + 4], 4, 5, 6, 7, 12, 13, 14, 15));
    }
}

// Panels: w (R, OC) stored as ceil(OC / kPanel) column blocks, each (R, kPanel) contiguous, the
// last zero-padded. A tile of outputs then reads one contiguous panel (1 KB at rank 16) rather
// than R lines that sit OC floats apart, 4 KB at OC = 1024, all in one L1 set: an expert with a
// dozen rows (E = 64) ran 7% slower per step that way.
template <typename T>
void pack_panels(T * dst, const T * w, int R, int OC, bool transposed, int c_begin, int c_end) {
    if (c_end < 0) c_end = OC;
    const int full = c_begin + (c_end - c_begin) / kPanel * kPanel;
    for (int c0 = c_begin; c0 < full; c0 += kPanel, dst += (int64_t)R * kPanel) {
        if (!transposed) { // w (R, OC): a 16-float piece of each row
            for (int r = 0; r < R; ++r) std::memcpy(dst + r * kPanel, w + (int64_t)r * OC + c0, sizeof(T) * kPanel);
        } else { // w^T (OC, R): the panel is the transpose of its 16 rows
            const T * src = w + (int64_t)c0 * R;
            if constexpr (std::is_same_v<T, float>) {
                if (R % 8 == 0) { // in 8 x 8 blocks
                    for (int j = 0; j < kPanel; j += 8)
                        for (int r = 0; r < R; r += 8) transpose8(dst + r * kPanel + j, kPanel, src + j * R + r, R);
                    continue;
                }
            }
            for (int j = 0; j < kPanel; ++j)
                for (int r = 0; r < R; ++r) dst[r * kPanel + j] = src[j * R + r];
        }
    }
    if (full < c_end) { // the last panel, zero-padded
        std::fill(dst, dst + (int64_t)R * kPanel, T(0));
        for (int r = 0; r < R; ++r)
            for (int c = full; c < c_end; ++c)
                dst[r * kPanel + (c - full)] = transposed ? w[(int64_t)c * R + r] : w[(int64_t)r * OC + c];
    }
}

// One row, one panel, its first nc columns: each summed over R in order, then added. The
// reference order every path keeps.
template <typename T>
static inline void addmm_panel_row(T * o, const T * h, const T * p, int R, int nc) {
    for (int j = 0; j < nc; ++j) {
        T acc = 0;
        for (int r = 0; r < R; ++r) acc += h[r] * p[r * kPanel + j];
        o[j] += acc;
    }
}

template <typename T>
void scatter_addmm_rows(T * out, int64_t ldo, const T * h, const T * w, const int32_t * perm, int begin, int end, int K,
                        int R, int ncols) {
    for (int i = begin; i < end; ++i) {
        T * o = out + (int64_t)(perm[i] / K) * ldo;
        const T * hi = h + (int64_t)(i - begin) * R;
        for (int c0 = 0; c0 < ncols; c0 += kPanel)
            addmm_panel_row(o + c0, hi, w + (int64_t)c0 * R, R, std::min(kPanel, ncols - c0));
    }
}

// float: ROWS (6) rows x 16 columns of sums in 2*ROWS 8-lane registers (12 in flight cover the FMA
// latency); each of the R steps loads the panel's two vectors once for all the rows and broadcasts
// one h per row; then the sums are added into the token rows, row by row (a token twice in a tile
// still adds both). GCC's vector extension: AVX2 + FMA with -march=native, pairs of SSE registers
// without.

template <int ROWS>
static void addmm_rows(float * const * o, const float * h, const float * w, int R, int OC) {
    for (int c0 = 0; c0 < OC; c0 += kPanel) {
        const float * p = w + (int64_t)c0 * R;
        v8f acc[ROWS][2] = {};
        for (int r = 0; r < R; ++r) {
            const v8f w0 = load8(p + r * kPanel), w1 = load8(p + r * kPanel + 8);
            for (int j = 0; j < ROWS; ++j) {
                const float hv = h[(int64_t)j * R + r];
                acc[j][0] += hv * w0;
                acc[j][1] += hv * w1;
            }
        }
        const int nc = std::min(kPanel, OC - c0);
        for (int j = 0; j < ROWS; ++j) {
            float * oj = o[j] + c0;
            if (nc == kPanel) {
                store8(oj, load8(oj) + acc[j][0]);
                store8(oj + 8, load8(oj + 8) + acc[j][1]);
            } else { // the last, padded panel
                float s[kPanel];
                store8(s, acc[j][0]);
                store8(s + 8, acc[j][1]);
                for (int c = 0; c < nc; ++c) oj[c] += s[c];
            }
        }
    }
}

template <>
void scatter_addmm_rows<float>(float * out, int64_t ldo, const float * h, const float * w, const int32_t * perm,
                               int begin, int end, int K, int R, int ncols) {
    float * o[6];
    int i = begin;
    for (; i + 6 <= end; i += 6) {
        for (int j = 0; j < 6; ++j) o[j] = out + (int64_t)(perm[i + j] / K) * ldo;
        addmm_rows<6>(o, h + (int64_t)(i - begin) * R, w, R, ncols);
    }
    for (; i + 2 <= end; i += 2) {
        for (int j = 0; j < 2; ++j) o[j] = out + (int64_t)(perm[i + j] / K) * ldo;
        addmm_rows<2>(o, h + (int64_t)(i - begin) * R, w, R, ncols);
    }
    for (; i < end; ++i) {
        o[0] = out + (int64_t)(perm[i] / K) * ldo;
        addmm_rows<1>(o, h + (int64_t)(i - begin) * R, w, R, ncols);
    }
}

template <typename T>
void experts_addmm(T * out, const T * h, const T * w, int64_t w_stride, bool transposed, const int32_t * perm,
                   const int32_t * offsets, int E, int N, int K, int R, int OC) {
    // Every thread packs the panels it needs into its own scratch (it stays in L2; grown once, at
    // the first call with this shape). Two splits, the same bits (each element is summed over R
    // and added in expert order either way):
    // - experts with many rows (>= kRowsForTokenSplit on average): the tokens split; each thread
    //   adds into its own rows, packing every expert's panels;
    // - experts with few rows (E = 64 over 512 tokens: ~16): the output columns split (whole
    //   panels), so no panel is packed twice, packing being most of the work there.
    constexpr int64_t kRowsForTokenSplit = 64;
    const int64_t routed = offsets[E];
    blas::count_flops(2.0 * routed * R * OC); // a matrix product, counted like gemm's
    const int64_t psize = panel_size(R, OC);
    if (routed >= kRowsForTokenSplit * E) {
        const int64_t serial_tokens = (1 << 17) / std::max<int64_t>(1, (int64_t)K * R * OC) + 1;
        par::parallel_for(N, serial_tokens, [&](int64_t n0, int64_t n1) {
            thread_local std::vector<T> panels;
            if ((int64_t)panels.size() < psize) panels.resize(psize);
            for (int e = 0; e < E; ++e) { // expert e's rows with perm in [n0*K, n1*K) (its block is in token order)
                const int32_t * first = perm + offsets[e], * last = perm + offsets[e + 1];
                const int b = int(std::lower_bound(first, last, (int32_t)(n0 * K)) - perm);
                const int en = int(std::lower_bound(perm + b, last, (int32_t)(n1 * K)) - perm);
                if (en == b) continue;
                pack_panels(panels.data(), w + e * w_stride, R, OC, transposed);
                scatter_addmm_rows(out, OC, h + (int64_t)b * R, panels.data(), perm, b, en, K, R, OC);
            }
        });
        return;
    }
    const int64_t n_panels = (OC + kPanel - 1) / kPanel;
    const int64_t serial_panels = (1 << 17) / std::max<int64_t>(1, routed * R * kPanel) + 1;
    par::parallel_for(n_panels, serial_panels, [&](int64_t p0, int64_t p1) {
        const int c0 = int(p0 * kPanel), c1 = std::min(OC, int(p1 * kPanel));
        thread_local std::vector<T> panels;
        if ((int64_t)panels.size() < psize) panels.resize(psize);
        for (int e = 0; e < E; ++e) {
            if (offsets[e + 1] == offsets[e]) continue;
            pack_panels(panels.data(), w + e * w_stride, R, OC, transposed, c0, c1);
            scatter_addmm_rows(out + c0, OC, h + (int64_t)offsets[e] * R, panels.data(), perm, offsets[e], offsets[e + 1],
                               K, R, c1 - c0);
        }
    });
}

// ---- LoRA experts on their token rows in place -------------------------------------------------
// The rows of a block, as pointers (at most kRowsChunk, on the stack): token perm[i] / K of a
// (., ld) matrix, or row i of a contiguous one (perm null). Worked out once, not per tile.
namespace {
template <typename T> struct Rows {
    const T * p[kRowsChunk];
    Rows(const T * base, int64_t ld, const int32_t * perm, int K, int n) {
        for (int i = 0; i < n; ++i) p[i] = base + (perm ? (int64_t)(perm[i] / K) : (int64_t)i) * ld;
    }
    const T * operator[](int i) const { return p[i]; }
};

// h[i][r] = sum_c x_i[c] a[r][c], i < n, r < R (a (R, C) row-major). Reference order: c ascending.
template <typename T> void rows_dot(T * h, const Rows<T> & x, int n, const T * a, int R, int C) {
    for (int i = 0; i < n; ++i)
        for (int r = 0; r < R; ++r) {
            T acc = 0;
            for (int c = 0; c < C; ++c) acc += x[i][c] * a[(int64_t)r * C + c];
            h[(int64_t)i * R + r] = acc;
        }
}
// out[i][r] = sum_k u_i[k] p[k][r], i < n, r < R, k < Kd (p (Kd, R) row-major)
template <typename T> void rows_times(T * out, const Rows<T> & u, int n, const T * p, int Kd, int R) {
    for (int i = 0; i < n; ++i)
        for (int r = 0; r < R; ++r) {
            T acc = 0;
            for (int k = 0; k < Kd; ++k) acc += u[i][k] * p[(int64_t)k * R + r];
            out[(int64_t)i * R + r] = acc;
        }
}
// out[a][b] += sum_i u_i[a] v_i[b], a < M, b < W (out rows ldo apart); each sum over i in order,
// then added
template <typename T> void outer_acc(T * out, int64_t ldo, int M, int W, const Rows<T> & u, const Rows<T> & v, int n) {
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

template <> void rows_dot<float>(float * h, const Rows<float> & x, int n, const float * a, int R, int C) {
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

template <> void rows_times<float>(float * out, const Rows<float> & u, int n, const float * p, int Kd, int R) {
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
    if (a + 4 <= M) { outer_tile<4, NV>(out, ldo, a, b0, u, v, n); a += 4; } // R = 16: 6 + 6 + 4
    for (; a + 2 <= M; a += 2) outer_tile<2, NV>(out, ldo, a, b0, u, v, n);
    for (; a < M; ++a) outer_tile<1, NV>(out, ldo, a, b0, u, v, n);
}

template <> void outer_acc<float>(float * out, int64_t ldo, int M, int W, const Rows<float> & u, const Rows<float> & v, int n) {
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
        T * hc = h + (int64_t)(c0 - begin) * R, * hgc = hg + (int64_t)(c0 - begin) * R;
        rows_dot<T>(hc, Rows<T>(inp, C, perm + c0, K, n), n, a, R, C); // h = inp[token] @ a^T
        for (int i = 0; i < n; ++i) {                                    // hg[i] = (s * g[i]) * h[i]
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

#define MOE_ADAPTERS_INSTANTIATE(T)                                                                               \
    template void lora_forward<T>(T *, T *, const T *, const T *, const T *, T, int, int, int, int);            \
    template void lora_backward<T>(T *, T *, T *, T *, const T *, const T *, const T *, const T *, const T *, T, \
                                   int, int, int, int);                                                         \
    template void lora_gated_forward<T>(T *, T *, T *, const T *, const T *, const T *, const T *, T, int, int, int,  \
                                        int);                                                                   \
    template void lora_gated_backward<T>(T *, T *, T *, T *, T *, const T *, const T *, const T *, const T *,     \
                                         const T *, const T *, const T *, T, int, int, int, int);               \
    template void bottleneck_forward<T>(T *, T *, T *, const T *, const T *, const T *, const T *, const T *,    \
                                        int, int, int, int);                                                    \
    template void bottleneck_backward<T>(T *, T *, T *, T *, T *, T *, const T *, const T *, const T *,          \
                                         const T *, const T *, const T *, int, int, int, int);                  \
    template void gather_rows<T>(T *, const T *, const int32_t *, int, int, int, int);                          \
    template void scatter_add_rows<T>(T *, const T *, const T *, const int32_t *, int, int, int, int);          \
    template void scatter_add_rows_backward<T>(T *, T *, const T *, const T *, const T *, const int32_t *, int, \
                                               int, int, int);                                                  \
    template void gather_rows_backward<T>(T *, const T *, const int32_t *, int, int, int, int);                  \
    template void combine_rows<T>(T *, const T *, const T *, const int32_t *, int, int, int);                 \
    template void experts_addmm<T>(T *, const T *, const T *, int64_t, bool, const int32_t *, const int32_t *, int, \
                                   int, int, int, int);                                                              \
    template void pack_panels<T>(T *, const T *, int, int, bool, int, int);                                   \
    template void lora_rows_forward<T>(T *, T *, const T *, const T *, const T *, T, const int32_t *, int, int, int, \
                                       int, int);                                                                \
    template void lora_rows_backward<T>(T *, T *, T *, T *, const T *, const T *, const T *, const T *, const T *, \
                                        const T *, T, const int32_t *, int, int, int, int, int, int);

MOE_ADAPTERS_INSTANTIATE(float)
MOE_ADAPTERS_INSTANTIATE(double)
template void scatter_addmm_rows<double>(double *, int64_t, const double *, const double *, const int32_t *, int, int,
                                         int, int, int);

} // namespace moe::adapters
