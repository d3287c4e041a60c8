// optim: the AdamW update (adamw_kernel.hpp), compiled once per SIMD target by Highway's
// foreach_target (this file includes itself once per target) and dispatched at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "optim/adamw_kernel.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep
#include <hwy/highway.h>

#include "adamw_kernel.hpp"

#include <cmath>

HWY_BEFORE_NAMESPACE();
namespace moe::optim::HWY_NAMESPACE {

// Restrict-qualified arguments let gcc vectorise the loop (sqrt and the division included: the
// library is built with -fno-math-errno). (gcc would split the zero store of g back out into a
// memset pass: the attribute keeps the one pass)
template <typename T>
__attribute__((optimize("no-tree-loop-distribute-patterns"))) static void
adamw(T * __restrict p, T * __restrict m, T * __restrict v, T * __restrict g, int64_t n, T b1, T b2, T decay,
      T step_size, T inv_sqrt_bc2, T eps, bool zero_grads) {
    for (int64_t i = 0; i < n; ++i) {
        const T gi = g[i];
        if (zero_grads) g[i] = T(0); // cleared while its cache line is at hand (gcc unswitches the test)
        m[i] = b1 * m[i] + (T(1) - b1) * gi;
        v[i] = b2 * v[i] + (T(1) - b2) * gi * gi;
        p[i] = p[i] * decay - step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
    }
}

void AdamwF32(float * p, float * m, float * v, float * g, int64_t n, float b1, float b2, float decay, float step_size,
              float inv_sqrt_bc2, float eps, bool zero_grads) {
    adamw(p, m, v, g, n, b1, b2, decay, step_size, inv_sqrt_bc2, eps, zero_grads);
}
void AdamwF64(double * p, double * m, double * v, double * g, int64_t n, double b1, double b2, double decay,
              double step_size, double inv_sqrt_bc2, double eps, bool zero_grads) {
    adamw(p, m, v, g, n, b1, b2, decay, step_size, inv_sqrt_bc2, eps, zero_grads);
}

} // namespace moe::optim::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace moe::optim {
HWY_EXPORT(AdamwF32);
HWY_EXPORT(AdamwF64);

template <>
void adamw_update<float>(float * p, float * m, float * v, float * g, int64_t n, float b1, float b2, float decay,
                         float step_size, float inv_sqrt_bc2, float eps, bool zero_grads) {
    HWY_DYNAMIC_DISPATCH(AdamwF32)(p, m, v, g, n, b1, b2, decay, step_size, inv_sqrt_bc2, eps, zero_grads);
}
template <>
void adamw_update<double>(double * p, double * m, double * v, double * g, int64_t n, double b1, double b2, double decay,
                          double step_size, double inv_sqrt_bc2, double eps, bool zero_grads) {
    HWY_DYNAMIC_DISPATCH(AdamwF64)(p, m, v, g, n, b1, b2, decay, step_size, inv_sqrt_bc2, eps, zero_grads);
}
} // namespace moe::optim
#endif // HWY_ONCE
