// nn: row sums in a fixed order that gcc vectorises, for the kernels compiled per SIMD target
// (kernels.cpp, attention_kernels.cpp). Highway's per-target header convention: each target's
// pass of foreach_target includes it again (HWY_TARGET_TOGGLE), into that target's namespace.
// Private to lib/src/nn.
#if defined(MOE_NN_ROW_SUMS_INL_HPP) == defined(HWY_TARGET_TOGGLE)
#ifdef MOE_NN_ROW_SUMS_INL_HPP
#undef MOE_NN_ROW_SUMS_INL_HPP
#else
#define MOE_NN_ROW_SUMS_INL_HPP
#endif

#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace moe::nn::HWY_NAMESPACE {

// Row sums in 16 interleaved partial sums (lane j takes c = j mod 16), folded pairwise: a fixed
// order that gcc can vectorise (a plain running sum is a serial chain it may not reorder).
template <typename T>
static inline T fold16(T * acc) {
    for (int w = 8; w > 0; w /= 2)
        for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
    return acc[0];
}
// sum_c x[c]
template <typename T>
static inline T sum16(const T * x, int C) {
    T acc[16] = {}, tail = 0;
    int c = 0;
    for (; c + 16 <= C; c += 16)
        for (int j = 0; j < 16; ++j) acc[j] += x[c + j];
    for (; c < C; ++c) tail += x[c];
    return fold16(acc) + tail;
}
// sum_c (x[c] - m)^2
template <typename T>
static inline T sqdev16(const T * x, T m, int C) {
    T acc[16] = {}, tail = 0;
    int c = 0;
    for (; c + 16 <= C; c += 16)
        for (int j = 0; j < 16; ++j) {
            const T d = x[c + j] - m;
            acc[j] += d * d;
        }
    for (; c < C; ++c) {
        const T d = x[c] - m;
        tail += d * d;
    }
    return fold16(acc) + tail;
}

} // namespace moe::nn::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif
