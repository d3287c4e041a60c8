// The SIMD row kernels (moe/simd/row_kernels.hpp) on every instruction set this CPU runs, each
// forced in turn with simd::force_isa, against double-precision sums: tile sizes, remainders and
// tails of every shape the tiles cut, a token added twice. A target gives the same bits twice.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "each_isa.hpp"
#include "moe/core/rng.hpp"
#include "moe/simd/isa.hpp"
#include "moe/simd/row_kernels.hpp"

using namespace moe;
using std::vector;
using test::AutoIsa;
using test::each_isa;

namespace {

vector<float> random_floats(size_t n, uint64_t seed) {
    Rng rng(seed);
    vector<float> v(n);
    for (auto & x : v) x = static_cast<float>(rng.uniform(-1.0, 1.0));
    return v;
}

// |got - want| within float rounding of a sum of `terms` products of magnitude sum `mag`
bool close(float got, double want, double mag, int terms) {
    return std::fabs((double)got - want) <= 1.2e-7 * (terms + 2) * (mag + std::fabs(want)) + 1e-30;
}

vector<const float *> row_ptrs(const vector<float> & m, int n, int ld) {
    vector<const float *> p((size_t)n);
    for (int i = 0; i < n; ++i) p[(size_t)i] = m.data() + (size_t)i * ld;
    return p;
}

} // namespace

TEST_CASE("simd: the instruction sets, forcing and its errors") {
    AutoIsa restore;
    const vector<std::string> have = simd::available_isas();
    REQUIRE(!have.empty());
    CHECK(have.back() == "scalar");
    CHECK(simd::isa() == have.front()); // automatic: the best this CPU runs
    std::string why;
    CHECK_FALSE(simd::force_isa("avx1024", &why));
    CHECK(why.find("unknown instruction set 'avx1024'") != std::string::npos);
    for (std::string_view n : simd::kIsaNames)
        if (std::find(have.begin(), have.end(), std::string(n)) == have.end()) {
            why.clear();
            CHECK_FALSE(simd::force_isa(n, &why));
            CHECK(why.find("no " + std::string(n) + " path") != std::string::npos);
        }
    CHECK(simd::force_isa("scalar", &why));
    CHECK(simd::isa() == "scalar");
    CHECK(simd::available_isas() == have); // what the CPU runs, whatever is forced
    CHECK(simd::force_isa("auto", &why));
    CHECK(simd::isa() == have.front());
}

TEST_CASE("simd: dot_rows against double sums on every instruction set") {
    each_isa([](const std::string &) {
        for (int n : {1, 2, 3, 5, 7, 13, 64})
            for (int R : {1, 3, 4, 8, 16})
                for (int C : {1, 7, 16, 17, 33, 100}) {
                    INFO("n " << n << " R " << R << " C " << C);
                    const vector<float> x = random_floats((size_t)n * C, 1), a = random_floats((size_t)R * C, 2);
                    vector<float> h((size_t)n * R, std::nanf("")), h2 = h;
                    const auto xp = row_ptrs(x, n, C);
                    simd::dot_rows(h.data(), xp.data(), n, a.data(), R, C);
                    simd::dot_rows(h2.data(), xp.data(), n, a.data(), R, C);
                    CHECK(std::memcmp(h.data(), h2.data(), sizeof(float) * h.size()) == 0);
                    int bad = 0;
                    for (int i = 0; i < n; ++i)
                        for (int r = 0; r < R; ++r) {
                            double want = 0, mag = 0;
                            for (int c = 0; c < C; ++c) {
                                const double t = (double)x[(size_t)i * C + c] * a[(size_t)r * C + c];
                                want += t;
                                mag += std::fabs(t);
                            }
                            bad += !close(h[(size_t)i * R + r], want, mag, C);
                        }
                    CHECK(bad == 0);
                }
    });
}

TEST_CASE("simd: times_rows against double sums on every instruction set") {
    each_isa([](const std::string &) {
        for (int n : {1, 2, 5, 12, 13, 64})
            for (int R : {3, 8, 16, 24, 32, 40})
                for (int Kd : {1, 5, 17, 64}) {
                    INFO("n " << n << " R " << R << " Kd " << Kd);
                    const vector<float> u = random_floats((size_t)n * Kd, 3), p = random_floats((size_t)Kd * R, 4);
                    vector<float> out((size_t)n * R, std::nanf(""));
                    const auto up = row_ptrs(u, n, Kd);
                    simd::times_rows(out.data(), up.data(), n, p.data(), Kd, R);
                    int bad = 0;
                    for (int i = 0; i < n; ++i)
                        for (int r = 0; r < R; ++r) {
                            double want = 0, mag = 0;
                            for (int k = 0; k < Kd; ++k) {
                                const double t = (double)u[(size_t)i * Kd + k] * p[(size_t)k * R + r];
                                want += t;
                                mag += std::fabs(t);
                            }
                            bad += !close(out[(size_t)i * R + r], want, mag, Kd);
                        }
                    CHECK(bad == 0);
                }
    });
}

TEST_CASE("simd: outer_acc adds into a strided matrix on every instruction set") {
    each_isa([](const std::string &) {
        for (int n : {1, 4, 13, 64})
            for (int M : {1, 3, 8, 16, 17})
                for (int W : {1, 7, 8, 16, 24, 33, 40}) {
                    INFO("n " << n << " M " << M << " W " << W);
                    const int ldo = W + 3; // the columns beyond W stay untouched
                    const vector<float> u = random_floats((size_t)n * M, 5), v = random_floats((size_t)n * W, 6);
                    const vector<float> out0 = random_floats((size_t)M * ldo, 7);
                    vector<float> out = out0;
                    const auto up = row_ptrs(u, n, M), vp = row_ptrs(v, n, W);
                    simd::outer_acc(out.data(), ldo, M, W, up.data(), vp.data(), n);
                    int bad = 0;
                    for (int a = 0; a < M; ++a)
                        for (int b = 0; b < ldo; ++b) {
                            const size_t at = (size_t)a * ldo + b;
                            if (b >= W) {
                                bad += out[at] != out0[at];
                                continue;
                            }
                            double want = 0, mag = std::fabs((double)out0[at]);
                            for (int i = 0; i < n; ++i) {
                                const double t = (double)u[(size_t)i * M + a] * v[(size_t)i * W + b];
                                want += t;
                                mag += std::fabs(t);
                            }
                            bad += !close(out[at], want + out0[at], mag, n + 1);
                        }
                    CHECK(bad == 0);
                }
    });
}

TEST_CASE("simd: scatter_addmm adds panel products into token rows on every instruction set") {
    constexpr int P = simd::kPanel;
    each_isa([](const std::string &) {
        for (int R : {3, 8, 16})
            for (int ncols : {1, 15, 16, 17, 40})
                for (int n : {1, 2, 5, 13, 30}) {
                    INFO("R " << R << " ncols " << ncols << " n " << n);
                    const int K = 2, tokens = 16, ldo = ncols + 1;
                    vector<int32_t> perm((size_t)n);
                    for (int i = 0; i < n; ++i) perm[(size_t)i] = (int32_t)((i * 7) % (tokens * K)); // tokens repeat
                    const vector<float> h = random_floats((size_t)n * R, 8), w = random_floats((size_t)R * ncols, 9);
                    vector<float> panels((size_t)R * ((ncols + P - 1) / P * P), 0.f);
                    for (int c = 0; c < ncols; ++c)
                        for (int r = 0; r < R; ++r)
                            panels[(size_t)(c / P) * R * P + (size_t)r * P + c % P] = w[(size_t)r * ncols + c];
                    const vector<float> out0 = random_floats((size_t)tokens * ldo, 10);
                    vector<float> out = out0;
                    simd::scatter_addmm(out.data(), ldo, perm.data(), K, n, h.data(), panels.data(), R, ncols);
                    vector<double> want(out0.begin(), out0.end()), mag(out0.size());
                    vector<int> terms(out0.size(), 1);
                    for (size_t j = 0; j < out0.size(); ++j) mag[j] = std::fabs((double)out0[j]);
                    for (int i = 0; i < n; ++i)
                        for (int c = 0; c < ncols; ++c) {
                            const size_t at = (size_t)(perm[(size_t)i] / K) * ldo + c;
                            for (int r = 0; r < R; ++r) {
                                const double t = (double)h[(size_t)i * R + r] * w[(size_t)r * ncols + c];
                                want[at] += t;
                                mag[at] += std::fabs(t);
                            }
                            terms[at] += R;
                        }
                    int bad = 0;
                    for (size_t j = 0; j < out.size(); ++j)
                        bad += (int)(j % ldo) == ncols ? out[j] != out0[j] : !close(out[j], want[j], mag[j], terms[j]);
                    CHECK(bad == 0);
                }
    });
}
