// adapters: rank-R products added straight into token rows (LoRA's up-projection and input
// gradient): weight panels, 8 x 8 register transposes and the per-expert scatter-addmm.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "moe/adapters/adapters.hpp"
#include "moe/blas/gemm.hpp"
#include "moe/core/parallel.hpp"
#include "moe/simd/row_kernels.hpp"
#include "simd8.hpp"

namespace moe::adapters {

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

// float: register tiles over the SIMD target dispatched at run time (moe/simd/row_kernels.hpp)
static_assert(kPanel == simd::kPanel, "the panels the SIMD kernels read");
template <>
void scatter_addmm_rows<float>(float * out, int64_t ldo, const float * h, const float * w, const int32_t * perm,
                               int begin, int end, int K, int R, int ncols) {
    simd::scatter_addmm(out, ldo, perm + begin, K, end - begin, h, w, R, ncols);
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
                const int32_t *first = perm + offsets[e], *last = perm + offsets[e + 1];
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
    // packing a panel costs about as much as using it once: at batch 1 (generation, two routed rows)
    // the panels of a 1536-wide output split over the pool
    const int64_t serial_panels = (1 << 15) / std::max<int64_t>(1, routed * R * kPanel) + 1;
    par::parallel_for(n_panels, serial_panels, [&](int64_t p0, int64_t p1) {
        const int c0 = int(p0 * kPanel), c1 = std::min(OC, int(p1 * kPanel));
        thread_local std::vector<T> panels;
        if ((int64_t)panels.size() < psize) panels.resize(psize);
        for (int e = 0; e < E; ++e) {
            if (offsets[e + 1] == offsets[e]) continue;
            pack_panels(panels.data(), w + e * w_stride, R, OC, transposed, c0, c1);
            scatter_addmm_rows(out + c0, OC, h + (int64_t)offsets[e] * R, panels.data(), perm, offsets[e],
                               offsets[e + 1], K, R, c1 - c0);
        }
    });
}

#define MOE_ROW_PRODUCTS_INSTANTIATE(T)                                                                                \
    template void experts_addmm<T>(T *, const T *, const T *, int64_t, bool, const int32_t *, const int32_t *, int,    \
                                   int, int, int, int);                                                                \
    template void pack_panels<T>(T *, const T *, int, int, bool, int, int);

MOE_ROW_PRODUCTS_INSTANTIATE(float)
MOE_ROW_PRODUCTS_INSTANTIATE(double)
template void scatter_addmm_rows<double>(double *, int64_t, const double *, const double *, const int32_t *, int, int,
                                         int, int, int);

} // namespace moe::adapters
