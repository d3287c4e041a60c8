// adapters: the 8-lane float vector the register-tiled row kernels use (GCC's vector extension:
// AVX2 + FMA with -march=native, pairs of SSE registers without). Private to lib/src/adapters.
#pragma once
#include <cstdint>

namespace moe::adapters {

typedef float v8f __attribute__((vector_size(32)));
static inline v8f load8(const float * p) {
    v8f v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}
static inline void store8(float * p, v8f v) { __builtin_memcpy(p, &v, sizeof v); }

} // namespace moe::adapters
