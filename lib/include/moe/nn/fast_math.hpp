// moe/nn/fast_math.hpp — branch-free float exp and erf that gcc vectorises, and a dot product
// whose summation order is fixed.
//
// std::erf / std::exp are scalar libm calls: in the exact-erf GELU they were ~40% of an
// mlp-mole step. These inline versions are straight-line fma/select code, so a loop over them
// becomes AVX-512/AVX2 code. Both are deterministic (no reassociation; every multiply-add is an
// explicit fma, so the vector body and the scalar tail give the same bits).
// Only the float kernels use them; the double kernels (the gradient checker) keep std::erf and
// std::exp, so the checks test the exact maths.
//
// Accuracy, measured exhaustively over every float (tests/unit/test_fast_math.cpp checks a
// dense grid):
//   exp_f32: max 0.87 ulp on [-87.3, 88]; 0 below -87.33654 (no subnormal results); x > 88 is
//            treated as 88; NaN -> NaN.
//   erf_f32: max abs error 5.93e-8, max 0.995 ulp vs std::erf (double) over all floats; odd;
//            erf(±inf) = ±1; NaN -> NaN.
// erf_f32 follows Norbert Juffa's single-precision erff (an odd minimax polynomial for
// |a| <= 0.927734375, 1 - exp(p(|a|)) above), with both branches evaluated and one selected.
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>

namespace moe::nn {

inline float exp_f32(float x) {
    const bool under = x < -87.33654f; // exp(-87.33654) = FLT_MIN
    x = under ? -87.33654f : x;
    x = x > 88.0f ? 88.0f : x;
    // x = j ln2 + f with j = rint(x / ln2) (adding 1.5 * 2^23 rounds to an integer), |f| <= ln2/2
    const float j = std::fma(x, 1.44269504f, 12582912.f) - 12582912.f;
    float f = std::fma(j, -6.93145752e-1f, x); // ln2, high part
    f = std::fma(j, -1.42860677e-6f, f);       // ln2, low part
    // exp(f) on [-ln2/2, ln2/2], minimax degree 6
    float r = 1.37805939e-3f;
    r = std::fma(r, f, 8.37312452e-3f);
    r = std::fma(r, f, 4.16695364e-2f);
    r = std::fma(r, f, 1.66664720e-1f);
    r = std::fma(r, f, 4.99999851e-1f);
    r = std::fma(r, f, 1.0f);
    r = std::fma(r, f, 1.0f);
    const float y = r * std::bit_cast<float>(((int32_t)j + 127) << 23); // r * 2^j, j in [-126, 127]
    return under ? 0.0f : y;
}

inline float erf_f32(float a) {
    const float t = std::fabs(a), s = a * a;
    // |a| > 0.927734375:  erf(a) = sign(a) (1 - exp(p(t))), p(t) = -t + t^2 (...) of degree 7
    float r = std::fma(-1.72853470e-5f, t, 3.83197126e-4f);
    const float u = std::fma(-3.88396438e-3f, t, 2.42546219e-2f);
    r = std::fma(r, s, u);
    r = std::fma(r, t, -1.06777877e-1f);
    r = std::fma(r, t, -6.34846687e-1f);
    r = std::fma(r, t, -1.28717512e-1f);
    r = std::fma(r, t, -t);
    const float big = std::copysign(1.0f - exp_f32(r), a);
    // |a| <= 0.927734375:  erf(a) = a + a q(a^2)
    float q = -5.96761703e-4f;
    q = std::fma(q, s, 4.99119423e-3f);
    q = std::fma(q, s, -2.67681349e-2f);
    q = std::fma(q, s, 1.12819925e-1f);
    q = std::fma(q, s, -3.76125336e-1f);
    q = std::fma(q, s, 1.28379166e-1f);
    const float small = std::fma(q, a, a);
    return t > 0.927734375f ? big : small;
}

// tanh u, branch-free: for |u| < 0.4 its odd Taylor series to u^13 (truncation below 3e-9
// there), above sign(u) (1 - e) / (1 + e) with e = exp_f32(-2 |u|) (1 - e >= 0.55: no
// cancellation); max abs error 2.4e-7 over a dense float grid (tests/unit/test_fast_math.cpp).
// Used by the tanh-approximated GELU of the language models (GPT-2's).
inline float tanh_f32(float u) {
    const float a = std::fabs(u), s = u * u;
    const float e = exp_f32(-2.0f * a);
    const float big = (1.0f - e) / (1.0f + e);
    float p = 21844.f / 6081075.f;
    p = std::fma(p, s, -1382.f / 155925.f);
    p = std::fma(p, s, 62.f / 2835.f);
    p = std::fma(p, s, -17.f / 315.f);
    p = std::fma(p, s, 2.f / 15.f);
    p = std::fma(p, s, -1.f / 3.f);
    const float small = std::fma(a * s, p, a);
    return std::copysign(a < 0.4f ? small : big, u);
}

// Dot product sum_i a[i] b[i] (n elements) in 16 interleaved partial sums (lane j takes the
// elements i = j mod 16 of the whole 16-blocks), folded pairwise, plus the n mod 16 tail. Without -ffast-math gcc cannot vectorise a
// plain `s += a[i] * b[i]` (it may not reorder the sum); this order is written out, so it
// vectorises and stays the same from run to run. Used by the row reductions of the kernels.
template <typename T>
inline T dot16(const T * a, const T * b, int n) {
    constexpr int L = 16;
    T acc[L] = {}, tail = 0;
    int i = 0;
    for (; i + L <= n; i += L)
        for (int j = 0; j < L; ++j) acc[j] += a[i + j] * b[i + j];
    for (; i < n; ++i) tail += a[i] * b[i];
    for (int w = L / 2; w > 0; w /= 2)
        for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
    return acc[0] + tail;
}

} // namespace moe::nn
