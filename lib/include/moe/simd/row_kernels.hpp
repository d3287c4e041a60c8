// moe/simd/row_kernels.hpp — float rank-R products on token rows (LoRA experts in place, the
// per-expert scatter-addmm), register-tiled over Highway vectors of the dispatched target (4, 8
// or 16 lanes). Each output element is one sum in a fixed order for a given target; the double
// reference loops live with their callers in lib/src/adapters.
#pragma once
#include <cstdint>

namespace moe::simd {

// Columns of a weight panel: w (R, OC) as column blocks of kPanel, each (R, kPanel) contiguous.
inline constexpr int kPanel = 16;

// h[i * R + r] = sum_c x[i][c] a[r * C + c], i < n, r < R
void dot_rows(float * h, const float * const * x, int n, const float * a, int R, int C);

// out[i * R + r] = sum_k u[i][k] p[k * R + r], i < n, r < R, k < Kd
void times_rows(float * out, const float * const * u, int n, const float * p, int Kd, int R);

// out[a * ldo + b] += sum_i u[i][a] v[i][b], a < M, b < W: each sum over i in order, then added
void outer_acc(float * out, int64_t ldo, int M, int W, const float * const * u, const float * const * v, int n);

// Row out + (perm[i] / K) * ldo gains sum_r h[i * R + r] w[r][c] for its first ncols columns,
// i < n, where w travels as panels (ceil(ncols / kPanel) blocks of (R, kPanel)). Each sum over r
// in order, then added (a token twice still adds both).
void scatter_addmm(float * out, int64_t ldo, const int32_t * perm, int K, int n, const float * h, const float * panels,
                   int R, int ncols);

// The Highway target bit these kernels dispatch to now (for isa()).
int64_t row_kernels_target();

} // namespace moe::simd
