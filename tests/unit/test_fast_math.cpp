// The vectorisable float exp/erf of moe/nn/fast_math.hpp against libm (double), and the float
// GELU kernels (which use them) against the double ones (which use std::erf / std::exp).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "moe/nn/fast_math.hpp"
#include "moe/nn/kernels.hpp"
#include "moe/nn/lm_kernels.hpp"

using namespace moe;

namespace {

float from_bits(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
// size of one float ulp at |r| (r rounded to float)
double ulp_at(double r) {
    const float f = std::fabs((float)r);
    return (double)std::nextafter(f, std::numeric_limits<float>::infinity()) - f;
}

// Every `stride`-th float bit pattern in [lo_bits, hi_bits] plus its negative: a dense grid over
// every binade, denormals and the tails included (the exhaustive run over all 2^32 floats gave
// erf 5.93e-8 / 0.995 ulp and exp 0.87 ulp; it takes about a minute, so the test samples).
template <typename F>
void for_grid(uint32_t lo_bits, uint32_t hi_bits, uint32_t stride, F && f) {
    for (uint64_t u = lo_bits; u <= hi_bits; u += stride) {
        f(from_bits((uint32_t)u));
        f(-from_bits((uint32_t)u));
    }
}

} // namespace

TEST_CASE("fast_math: erf_f32 is within 1e-7 (1 ulp) of std::erf over a dense float grid") {
    double max_abs = 0, max_ulp = 0;
    float worst = 0;
    for_grid(0, 0x7f7fffffu, 101, [&](float x) { // 0 .. FLT_MAX and negatives: 42M points
        const double r = std::erf((double)x);
        const float f = nn::erf_f32(x);
        const double e = std::fabs((double)f - r);
        if (e > max_abs) {
            max_abs = e;
            worst = x;
        }
        if (r != 0) max_ulp = std::max(max_ulp, e / ulp_at(r));
    });
    INFO("max abs error " << max_abs << " at " << worst << ", max ulp " << max_ulp);
    CHECK(max_abs <= 1e-7);
    CHECK(max_ulp <= 1.0);
    // odd, exact at the ends, NaN propagates
    for (float x : {0.3f, 0.927734375f, 0.93f, 1.5f, 3.9f, 10.f}) CHECK(nn::erf_f32(-x) == -nn::erf_f32(x));
    CHECK(nn::erf_f32(0.f) == 0.f);
    CHECK(std::signbit(nn::erf_f32(-0.f)));
    CHECK(nn::erf_f32(std::numeric_limits<float>::infinity()) == 1.f);
    CHECK(nn::erf_f32(-std::numeric_limits<float>::infinity()) == -1.f);
    CHECK(nn::erf_f32(1e30f) == 1.f);
    CHECK(std::isnan(nn::erf_f32(std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("fast_math: exp_f32 is within 1 ulp of std::exp on [-87.3, 88]") {
    double max_ulp = 0;
    float worst = 0;
    for_grid(0, 0x42b00000u /* 88 */, 29, [&](float x) {
        if (x < -87.3f) return;
        const double r = std::exp((double)x);
        const double u = std::fabs((double)nn::exp_f32(x) - r) / ulp_at(r);
        if (u > max_ulp) {
            max_ulp = u;
            worst = x;
        }
    });
    INFO("max ulp " << max_ulp << " at " << worst);
    CHECK(max_ulp <= 1.0);
    CHECK(nn::exp_f32(0.f) == 1.f);
    CHECK(nn::exp_f32(-100.f) == 0.f);
    CHECK(nn::exp_f32(-std::numeric_limits<float>::infinity()) == 0.f);
    CHECK(std::isnan(nn::exp_f32(std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("fast_math: float GELU forward/backward match the double (libm) kernels") {
    // x in [-20, 20] every 2^-10, plus large magnitudes
    std::vector<float> xf;
    for (int i = -20 * 1024; i <= 20 * 1024; ++i) xf.push_back((float)i / 1024.f);
    for (float x : {1e3f, -1e3f, 1e10f, -1e10f, 3e38f, -3e38f}) xf.push_back(x);
    const int64_t n = (int64_t)xf.size();
    std::vector<double> xd(xf.begin(), xf.end());
    std::vector<float> of(n), gf(n, 0.f), onef(n, 1.f);
    std::vector<double> od(n), gd(n, 0.0), oned(n, 1.0);
    nn::gelu_forward(of.data(), xf.data(), n);
    nn::gelu_forward(od.data(), xd.data(), n);
    nn::gelu_backward(gf.data(), xf.data(), onef.data(), n); // gf = gelu'(x)
    nn::gelu_backward(gd.data(), xd.data(), oned.data(), n);
    double max_fwd = 0, max_bwd = 0;
    for (int64_t i = 0; i < n; ++i) {
        // forward: a few float roundings of x * Phi(x), relative to max(1, |gelu|)
        max_fwd = std::max(max_fwd, std::fabs(of[i] - od[i]) / std::max(1.0, std::fabs(od[i])));
        // backward: gelu' is in [-0.17, 1.13]
        max_bwd = std::max(max_bwd, std::fabs(gf[i] - gd[i]));
    }
    INFO("max forward error (relative to max(1,|y|)) " << max_fwd << ", max backward error " << max_bwd);
    CHECK(max_fwd <= 4e-7);
    CHECK(max_bwd <= 4e-7);
    // the fused bias + GELU is the same computation
    const int N = 3, C = (int)(n / 3);
    std::vector<float> xb(xf.begin(), xf.begin() + (size_t)N * C), b(C), ob((size_t)N * C), ref((size_t)N * C);
    for (int c = 0; c < C; ++c) b[c] = 0.01f * (float)(c % 7) - 0.03f;
    std::vector<float> xsum(xb);
    for (int r = 0; r < N; ++r)
        for (int c = 0; c < C; ++c) xsum[(size_t)r * C + c] += b[c];
    nn::bias_gelu_forward(ob.data(), xb.data(), b.data(), N, C);
    nn::gelu_forward(ref.data(), xsum.data(), (int64_t)N * C);
    CHECK(std::memcmp(ob.data(), ref.data(), sizeof(float) * ob.size()) == 0);
    CHECK(std::memcmp(xb.data(), xsum.data(), sizeof(float) * xb.size()) == 0);
}

TEST_CASE("fast_math: tanh_f32 is within 2.5e-7 of std::tanh over a dense float grid") {
    double max_abs = 0;
    float worst = 0;
    for_grid(0, 0x7f7fffffu, 101, [&](float x) {
        const double e = std::fabs((double)nn::tanh_f32(x) - std::tanh((double)x));
        if (e > max_abs) {
            max_abs = e;
            worst = x;
        }
    });
    INFO("max abs error " << max_abs << " at " << worst);
    CHECK(max_abs <= 2.5e-7);
    // small arguments keep their relative precision (the series branch), odd, ends and NaN
    for (float x : {1e-30f, 1e-6f, 0.01f, 0.399f})
        CHECK(std::fabs(nn::tanh_f32(x) - std::tanh((double)x)) <= 2e-7 * std::tanh((double)x));
    for (float x : {0.1f, 0.4f, 1.f, 5.f, 50.f}) CHECK(nn::tanh_f32(-x) == -nn::tanh_f32(x));
    CHECK(nn::tanh_f32(std::numeric_limits<float>::infinity()) == 1.f);
    CHECK(nn::tanh_f32(-std::numeric_limits<float>::infinity()) == -1.f);
    CHECK(std::isnan(nn::tanh_f32(std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("fast_math: float tanh-GELU and SwiGLU kernels match the double (libm) ones") {
    std::vector<float> xf, uf;
    for (int i = -20 * 256; i <= 20 * 256; ++i) xf.push_back((float)i / 256.f);
    for (float x : {1e3f, -1e3f, 1e10f, -1e10f}) xf.push_back(x);
    const int64_t n = (int64_t)xf.size();
    for (int64_t i = 0; i < n; ++i) uf.push_back(0.5f - 0.25f * (float)(i % 5));
    std::vector<double> xd(xf.begin(), xf.end()), ud(uf.begin(), uf.end());
    std::vector<float> of(n), gf(n, 0.f), onef(n, 1.f), sf(n), dgf(n, 0.f), duf(n, 0.f);
    std::vector<double> od(n), gd(n, 0.0), oned(n, 1.0), sd(n), dgd(n, 0.0), dud(n, 0.0);
    nn::gelu_tanh_forward(of.data(), xf.data(), n);
    nn::gelu_tanh_forward(od.data(), xd.data(), n);
    nn::gelu_tanh_backward(gf.data(), xf.data(), onef.data(), n);
    nn::gelu_tanh_backward(gd.data(), xd.data(), oned.data(), n);
    nn::swiglu_forward(sf.data(), xf.data(), uf.data(), n);
    nn::swiglu_forward(sd.data(), xd.data(), ud.data(), n);
    nn::swiglu_backward(dgf.data(), duf.data(), onef.data(), xf.data(), uf.data(), n);
    nn::swiglu_backward(dgd.data(), dud.data(), oned.data(), xd.data(), ud.data(), n);
    double e_fwd = 0, e_bwd = 0, e_sw = 0, e_swb = 0;
    for (int64_t i = 0; i < n; ++i) {
        const auto rel = [](double a, double b) { return std::fabs(a - b) / std::max(1.0, std::fabs(b)); };
        e_fwd = std::max(e_fwd, rel(of[i], od[i]));
        e_bwd = std::max(e_bwd, rel(gf[i], gd[i]));
        e_sw = std::max(e_sw, rel(sf[i], sd[i]));
        e_swb = std::max(e_swb, std::max(rel(dgf[i], dgd[i]), rel(duf[i], dud[i])));
    }
    INFO("gelu_tanh " << e_fwd << " / " << e_bwd << ", swiglu " << e_sw << " / " << e_swb);
    CHECK(e_fwd <= 5e-7);
    CHECK(e_bwd <= 2e-6); // (a sum of products of O(1) terms in float)
    CHECK(e_sw <= 5e-7);
    CHECK(e_swb <= 1e-6);
}
