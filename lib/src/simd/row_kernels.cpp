// simd: the float row kernels of moe/simd/row_kernels.hpp, written once over Highway and compiled
// per x86 target by foreach_target (this file includes itself once per target; HWY_ONCE marks
// the last pass, which holds the dispatchers). Tiles keep about 12 accumulators in flight to cover
// the FMA latency; the lane count N of the target sets how many vectors a row of a tile spans.
// Tiles of one-vector rows (rank 16 on AVX-512) take 8 token rows, not 12: rows of a 1024-wide
// matrix sit 4 KB apart, all in one set of the 12-way L1, and 12 of them no longer fit beside the
// weights (24-row tiles ran 25-60% slower there; measured on Zen 4).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "simd/row_kernels.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <cstdint>

#include "moe/simd/row_kernels.hpp"

HWY_BEFORE_NAMESPACE();
namespace moe {
namespace simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using D = hn::ScalableTag<float>;
constexpr int N = (int)hn::MaxLanes(D());
constexpr int kAcc = 12;
// Every loop over a tile's rows or vectors is unrolled whole, so its accumulators stay in
// registers: left alone, gcc 12 kept a 24-row AVX-512 tile's accumulators on the stack and
// looped over them (OuterAcc's (1536, 16) weight gradient ran at 70% of the core's peak).
#define MOE_UNROLL _Pragma("GCC unroll 32")

// ---- dot: ROWS x RB sums over C in L lanes, then the lanes summed, then the C % L tail -------
template <class DT, int ROWS, int RB>
HWY_INLINE void DotTile(float * HWY_RESTRICT h, int ldh, const float * const * x, const float * HWY_RESTRICT a, int C) {
    const DT d;
    constexpr int L = (int)hn::MaxLanes(DT());
    using V = hn::Vec<DT>;
    V acc[ROWS][RB];
    MOE_UNROLL
    for (int i = 0; i < ROWS; ++i) {
        MOE_UNROLL
        for (int r = 0; r < RB; ++r) acc[i][r] = hn::Zero(d);
    }
    const int CN = C / L * L;
    for (int c = 0; c < CN; c += L) {
        V av[RB];
        MOE_UNROLL
        for (int r = 0; r < RB; ++r) av[r] = hn::LoadU(d, a + (int64_t)r * C + c);
        MOE_UNROLL
        for (int i = 0; i < ROWS; ++i) {
            const V xv = hn::LoadU(d, x[i] + c);
            MOE_UNROLL
            for (int r = 0; r < RB; ++r) acc[i][r] = hn::MulAdd(xv, av[r], acc[i][r]);
        }
    }
    MOE_UNROLL
    for (int i = 0; i < ROWS; ++i) {
        MOE_UNROLL
        for (int r = 0; r < RB; ++r) {
            float t = hn::GetLane(hn::SumOfLanes(d, acc[i][r]));
            for (int c = CN; c < C; ++c) t += x[i][c] * a[(int64_t)r * C + c];
            h[(int64_t)i * ldh + r] = t;
        }
    }
}

template <class DT, int ROWS>
HWY_INLINE void DotRows(float * h, const float * const * x, const float * a, int R, int C) {
    int r = 0;
    for (; r + 4 <= R; r += 4) DotTile<DT, ROWS, 4>(h + r, R, x, a + (int64_t)r * C, C);
    for (; r < R; ++r) DotTile<DT, ROWS, 1>(h + r, R, x, a + (int64_t)r * C, C);
}

// On AVX-512 the sums run in 8 lanes: the 16-lane reductions at the end of every element cost more
// than the wider products save at LoRA widths (C = 192..1024: 50 against 66-71 GFLOP/s on one
// Zen 4 core).
using DDot = hn::CappedTag<float, 8>;

void DotRowsF32(float * h, const float * const * x, int n, const float * a, int R, int C) {
    constexpr int ROWS = kAcc / 4;
    int i = 0;
    for (; i + ROWS <= n; i += ROWS) DotRows<DDot, ROWS>(h + (int64_t)i * R, x + i, a, R, C);
    for (; i < n; ++i) DotRows<DDot, 1>(h + (int64_t)i * R, x + i, a, R, C);
}

// ---- times: ROWS rows x NV vectors of p's columns, summed over k in order --------------------
template <class DT, int ROWS, int NV>
HWY_INLINE void TimesTile(float * out, int R, const float * const * u, const float * HWY_RESTRICT p, int Kd) {
    const DT d;
    constexpr int L = (int)hn::MaxLanes(DT());
    using V = hn::Vec<DT>;
    V acc[ROWS][NV];
    MOE_UNROLL
    for (int i = 0; i < ROWS; ++i) {
        MOE_UNROLL
        for (int v = 0; v < NV; ++v) acc[i][v] = hn::Zero(d);
    }
    for (int k = 0; k < Kd; ++k) {
        V pv[NV];
        MOE_UNROLL
        for (int v = 0; v < NV; ++v) pv[v] = hn::LoadU(d, p + (int64_t)k * R + L * v);
        MOE_UNROLL
        for (int i = 0; i < ROWS; ++i) {
            const V uv = hn::Set(d, u[i][k]);
            MOE_UNROLL
            for (int v = 0; v < NV; ++v) acc[i][v] = hn::MulAdd(uv, pv[v], acc[i][v]);
        }
    }
    MOE_UNROLL
    for (int i = 0; i < ROWS; ++i) {
        MOE_UNROLL
        for (int v = 0; v < NV; ++v) hn::StoreU(acc[i][v], d, out + (int64_t)i * R + L * v);
    }
}

template <class DT, int NV>
HWY_INLINE void TimesRows(float * out, const float * const * u, int n, const float * p, int Kd) {
    constexpr int ROWS = NV == 1 ? 8 : std::max(1, kAcc / NV);
    const int R = (int)hn::MaxLanes(DT()) * NV;
    int i = 0;
    for (; i + ROWS <= n; i += ROWS) TimesTile<DT, ROWS, NV>(out + (int64_t)i * R, R, u + i, p, Kd);
    for (; i < n; ++i) TimesTile<DT, 1, NV>(out + (int64_t)i * R, R, u + i, p, Kd);
}

// R a multiple of the lanes of DT, at most 4 vectors: true when done
template <class DT>
HWY_INLINE bool TimesRowsIn(float * out, const float * const * u, int n, const float * p, int Kd, int R) {
    constexpr int L = (int)hn::MaxLanes(DT());
    if (L < 4 || R % L != 0) return false;
    switch (R / L) {
    case 1: TimesRows<DT, 1>(out, u, n, p, Kd); return true;
    case 2: TimesRows<DT, 2>(out, u, n, p, Kd); return true;
    case 3: TimesRows<DT, 3>(out, u, n, p, Kd); return true;
    case 4: TimesRows<DT, 4>(out, u, n, p, Kd); return true;
    default: return false;
    }
}

void TimesRowsF32(float * out, const float * const * u, int n, const float * p, int Kd, int R) {
    if (TimesRowsIn<D>(out, u, n, p, Kd, R)) return;
    if constexpr (N > 8) // rank 8 on 16 lanes: half vectors
        if (TimesRowsIn<hn::CappedTag<float, 8>>(out, u, n, p, Kd, R)) return;
    for (int i = 0; i < n; ++i) // any other rank: one sum per element, k in order
        for (int r = 0; r < R; ++r) {
            float acc = 0;
            for (int k = 0; k < Kd; ++k) acc += u[i][k] * p[(int64_t)k * R + r];
            out[(int64_t)i * R + r] = acc;
        }
}

// ---- outer: MA rows a x NV vectors of columns b of out += sum_i u_i[a] v_i[b] ----------------
template <class DT, int MA, int NV>
HWY_INLINE void OuterTile(float * out, int64_t ldo, int a0, int b0, const float * const * u, const float * const * v,
                          int n) {
    const DT d;
    constexpr int L = (int)hn::MaxLanes(DT());
    using V = hn::Vec<DT>;
    V acc[MA][NV];
    MOE_UNROLL
    for (int j = 0; j < MA; ++j) {
        MOE_UNROLL
        for (int k = 0; k < NV; ++k) acc[j][k] = hn::Zero(d);
    }
    for (int i = 0; i < n; ++i) {
        const float * vi = v[i] + b0;
        const float * ui = u[i] + a0;
        V vv[NV];
        MOE_UNROLL
        for (int k = 0; k < NV; ++k) vv[k] = hn::LoadU(d, vi + L * k);
        MOE_UNROLL
        for (int j = 0; j < MA; ++j) {
            const V uv = hn::Set(d, ui[j]);
            MOE_UNROLL
            for (int k = 0; k < NV; ++k) acc[j][k] = hn::MulAdd(uv, vv[k], acc[j][k]);
        }
    }
    MOE_UNROLL
    for (int j = 0; j < MA; ++j) {
        float * o = out + (int64_t)(a0 + j) * ldo + b0;
        MOE_UNROLL
        for (int k = 0; k < NV; ++k) hn::StoreU(hn::Add(hn::LoadU(d, o + L * k), acc[j][k]), d, o + L * k);
    }
}

template <class DT, int NV>
HWY_INLINE void OuterCols(float * out, int64_t ldo, int M, int b0, const float * const * u, const float * const * v,
                          int n) {
    constexpr int MA = std::max(1, kAcc / NV); // 1 vector: 12 rows, 2 vectors: 6
    int a = 0;
    for (; a + MA <= M; a += MA) OuterTile<DT, MA, NV>(out, ldo, a, b0, u, v, n);
    if constexpr (MA > 4)
        if (a + 4 <= M) { // R = 16 on 8 lanes: 6 + 6 + 4
            OuterTile<DT, 4, NV>(out, ldo, a, b0, u, v, n);
            a += 4;
        }
    for (; a + 2 <= M; a += 2) OuterTile<DT, 2, NV>(out, ldo, a, b0, u, v, n);
    for (; a < M; ++a) OuterTile<DT, 1, NV>(out, ldo, a, b0, u, v, n);
}

void OuterAccF32(float * out, int64_t ldo, int M, int W, const float * const * u, const float * const * v, int n) {
    int b = 0;
    if constexpr (N >= 4) {
        for (; b + 2 * N <= W; b += 2 * N) OuterCols<D, 2>(out, ldo, M, b, u, v, n);
        for (; b + N <= W; b += N) OuterCols<D, 1>(out, ldo, M, b, u, v, n);
        if constexpr (N > 8)
            for (; b + 8 <= W; b += 8) OuterCols<hn::CappedTag<float, 8>, 1>(out, ldo, M, b, u, v, n);
    }
    for (; b < W; ++b) // the column tail
        for (int a = 0; a < M; ++a) {
            float acc = 0;
            for (int i = 0; i < n; ++i) acc += u[i][a] * v[i][b];
            out[(int64_t)a * ldo + b] += acc;
        }
}

// ---- scatter-addmm: ROWS token rows x one 16-column panel (kPanel / N vectors) at a time -----
constexpr int kNV = kPanel / N;

template <int ROWS>
HWY_INLINE void AddmmTile(float * const * o, const float * HWY_RESTRICT h, const float * HWY_RESTRICT w, int R,
                          int OC) {
    const D d;
    using V = hn::Vec<D>;
    for (int c0 = 0; c0 < OC; c0 += kPanel) {
        const float * p = w + (int64_t)c0 * R;
        V acc[ROWS][kNV];
        MOE_UNROLL
        for (int j = 0; j < ROWS; ++j) {
            MOE_UNROLL
            for (int v = 0; v < kNV; ++v) acc[j][v] = hn::Zero(d);
        }
        for (int r = 0; r < R; ++r) {
            V wv[kNV];
            MOE_UNROLL
            for (int v = 0; v < kNV; ++v) wv[v] = hn::LoadU(d, p + r * kPanel + N * v);
            MOE_UNROLL
            for (int j = 0; j < ROWS; ++j) {
                const V hv = hn::Set(d, h[(int64_t)j * R + r]);
                MOE_UNROLL
                for (int v = 0; v < kNV; ++v) acc[j][v] = hn::MulAdd(hv, wv[v], acc[j][v]);
            }
        }
        const int nc = std::min(kPanel, OC - c0);
        MOE_UNROLL
        for (int j = 0; j < ROWS; ++j) {
            float * oj = o[j] + c0;
            if (nc == kPanel) {
                MOE_UNROLL
                for (int v = 0; v < kNV; ++v) hn::StoreU(hn::Add(hn::LoadU(d, oj + N * v), acc[j][v]), d, oj + N * v);
            } else { // the last, padded panel
                HWY_ALIGN float s[kPanel];
                MOE_UNROLL
                for (int v = 0; v < kNV; ++v) hn::Store(acc[j][v], d, s + N * v);
                for (int c = 0; c < nc; ++c) oj[c] += s[c];
            }
        }
    }
}

void ScatterAddmmF32(float * out, int64_t ldo, const int32_t * perm, int K, int n, const float * h,
                     const float * panels, int R, int ncols) {
    if constexpr (N < 4) { // one lane: the reference loop
        for (int i = 0; i < n; ++i) {
            float * o = out + (int64_t)(perm[i] / K) * ldo;
            for (int c0 = 0; c0 < ncols; c0 += kPanel) {
                const float * p = panels + (int64_t)c0 * R;
                for (int j = 0; j < std::min(kPanel, ncols - c0); ++j) {
                    float acc = 0;
                    for (int r = 0; r < R; ++r) acc += h[(int64_t)i * R + r] * p[r * kPanel + j];
                    o[c0 + j] += acc;
                }
            }
        }
    } else {
        constexpr int ROWS = kNV == 1 ? 8 : std::max(1, kAcc / kNV);
        float * o[ROWS];
        int i = 0;
        for (; i + ROWS <= n; i += ROWS) {
            for (int j = 0; j < ROWS; ++j) o[j] = out + (int64_t)(perm[i + j] / K) * ldo;
            AddmmTile<ROWS>(o, h + (int64_t)i * R, panels, R, ncols);
        }
        if constexpr (ROWS > 4)
            for (; i + 4 <= n; i += 4) {
                for (int j = 0; j < 4; ++j) o[j] = out + (int64_t)(perm[i + j] / K) * ldo;
                AddmmTile<4>(o, h + (int64_t)i * R, panels, R, ncols);
            }
        for (; i + 2 <= n; i += 2) {
            for (int j = 0; j < 2; ++j) o[j] = out + (int64_t)(perm[i + j] / K) * ldo;
            AddmmTile<2>(o, h + (int64_t)i * R, panels, R, ncols);
        }
        for (; i < n; ++i) {
            o[0] = out + (int64_t)(perm[i] / K) * ldo;
            AddmmTile<1>(o, h + (int64_t)i * R, panels, R, ncols);
        }
    }
}

int64_t RowKernelsTarget() { return HWY_TARGET; }

} // namespace HWY_NAMESPACE
} // namespace simd
} // namespace moe
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace moe::simd {
HWY_EXPORT(DotRowsF32);
HWY_EXPORT(TimesRowsF32);
HWY_EXPORT(OuterAccF32);
HWY_EXPORT(ScatterAddmmF32);
HWY_EXPORT(RowKernelsTarget);

void dot_rows(float * h, const float * const * x, int n, const float * a, int R, int C) {
    HWY_DYNAMIC_DISPATCH(DotRowsF32)(h, x, n, a, R, C);
}
void times_rows(float * out, const float * const * u, int n, const float * p, int Kd, int R) {
    HWY_DYNAMIC_DISPATCH(TimesRowsF32)(out, u, n, p, Kd, R);
}
void outer_acc(float * out, int64_t ldo, int M, int W, const float * const * u, const float * const * v, int n) {
    HWY_DYNAMIC_DISPATCH(OuterAccF32)(out, ldo, M, W, u, v, n);
}
void scatter_addmm(float * out, int64_t ldo, const int32_t * perm, int K, int n, const float * h, const float * panels,
                   int R, int ncols) {
    HWY_DYNAMIC_DISPATCH(ScatterAddmmF32)(out, ldo, perm, K, n, h, panels, R, ncols);
}
int64_t row_kernels_target() { return HWY_DYNAMIC_DISPATCH(RowKernelsTarget)(); }
} // namespace moe::simd
#endif
