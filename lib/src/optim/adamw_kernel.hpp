// optim: the AdamW update of n elements, compiled once per SIMD target and dispatched at run time
// (adamw_kernel.cpp, moe/simd/isa.hpp). Private to lib/src/optim.
#pragma once
#include <cstdint>

namespace moe::optim {

// m = b1 m + (1 - b1) g ; v = b2 v + (1 - b2) g^2 ; p = p decay - step_size m / (sqrt(v) inv_sqrt_bc2 + eps),
// then g = 0 when zero_grads
template <typename T>
void adamw_update(T * p, T * m, T * v, T * g, int64_t n, T b1, T b2, T decay, T step_size, T inv_sqrt_bc2, T eps,
                  bool zero_grads);

} // namespace moe::optim
