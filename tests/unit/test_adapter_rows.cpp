// The float paths of the rank-R products added straight into token rows (adapters::experts_addmm,
// LoRA's up-projection and input gradient in MoeSite) and of blas::gemm with beta = 0, against
// double-precision references. The double paths are gradient-checked in
// tests/gradcheck/test_gradcheck_adapters.cpp (dispatch_lora_rows_mixture,
// dispatch_lora_in_place_mixture). Also LoRA's rank-R products on token rows read in place.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "harness.hpp"
#include "moe/adapters/adapters.hpp"
#include "moe/blas/gemm.hpp"
#include "moe/core/parallel.hpp"
#include "moe/core/rng.hpp"

using namespace moe;
using std::vector;

using test::Threads;

namespace {

vector<float> random_floats(size_t n, uint64_t seed) {
    Rng rng(seed);
    vector<float> v(n);
    for (auto & x : v) x = static_cast<float>(rng.uniform(-1.0, 1.0));
    return v;
}

// out (rows of OC) against the double sum over R of h[i][r] * w[r][c], added to out0
void check_rows(const vector<float> & out, const vector<float> & out0, const vector<float> & h, const vector<float> & w,
                const vector<int32_t> & perm, int begin, int end, int K, int R, int OC) {
    vector<double> ref(out0.begin(), out0.end()), mag(out0.size(), 0.0);
    for (int i = begin; i < end; ++i) {
        const int t = perm[i] / K;
        for (int c = 0; c < OC; ++c) {
            double acc = 0, a = 0;
            for (int r = 0; r < R; ++r) {
                acc += (double)h[(size_t)(i - begin) * R + r] * w[(size_t)r * OC + c];
                a += std::fabs((double)h[(size_t)(i - begin) * R + r] * w[(size_t)r * OC + c]);
            }
            ref[(size_t)t * OC + c] += acc;
            mag[(size_t)t * OC + c] += a + std::fabs(ref[(size_t)t * OC + c]);
        }
    }
    for (size_t j = 0; j < out.size(); ++j) {
        INFO("element " << j << " R " << R << " OC " << OC << " rows " << end - begin);
        CHECK(std::fabs(out[j] - ref[j]) <= 2e-6 * (mag[j] + 1e-30) + 1e-30);
    }
}
} // namespace

TEST_CASE("pack_panels: (R, OC) and transposed (OC, R) into zero-padded 16-column panels") {
    // R a multiple of 8: the transposed panels are moved in 8 x 8 register blocks; R = 3: the loop
    for (int R : {3, 8, 16, 24})
        for (int OC : {1, 15, 16, 17, 40}) {
            INFO("R " << R << " OC " << OC);
            vector<float> w = random_floats((size_t)R * OC, 7), wt((size_t)OC * R);
            for (int r = 0; r < R; ++r)
                for (int c = 0; c < OC; ++c) wt[(size_t)c * R + r] = w[(size_t)r * OC + c];
            const int64_t size = adapters::panel_size(R, OC);
            CHECK(size == (int64_t)R * ((OC + 15) / 16 * 16));
            vector<float> p(size, std::nanf("")), pt(size, std::nanf(""));
            adapters::pack_panels(p.data(), w.data(), R, OC, false);
            adapters::pack_panels(pt.data(), wt.data(), R, OC, true);
            // the panels of columns [16, OC) alone are the tail of the whole
            if (OC > 16) {
                vector<float> part(size - 16 * R, std::nanf(""));
                adapters::pack_panels(part.data(), wt.data(), R, OC, true, 16, OC);
                CHECK(std::memcmp(part.data(), pt.data() + 16 * R, sizeof(float) * part.size()) == 0);
            }
            for (int c0 = 0; c0 < OC; c0 += 16)
                for (int r = 0; r < R; ++r)
                    for (int j = 0; j < 16; ++j) {
                        const float want = c0 + j < OC ? w[(size_t)r * OC + c0 + j] : 0.f;
                        const size_t at = (size_t)c0 * R + (size_t)r * 16 + j;
                        CHECK(p[at] == want);
                        CHECK(pt[at] == want);
                    }
        }
}

TEST_CASE("scatter_addmm_rows (float): the double product for every tile and tail shape, repeated tokens included") {
    for (int R : {1, 3, 16})
        for (int OC : {1, 7, 16, 17, 40, 200})
            for (int n : {1, 2, 3, 6, 7, 8, 13}) {
                const int K = 2, N = 9, begin = 2, end = begin + n;
                // rows begin.. map to tokens perm[i] / K; rows 2 and 3 of the block share token 4
                vector<int32_t> perm(end);
                for (int i = 0; i < end; ++i) perm[i] = (int32_t)(((i * 5) % N) * K + (i & 1));
                if (n >= 4) {
                    perm[begin + 2] = 4 * K;
                    perm[begin + 3] = 4 * K + 1;
                }
                vector<float> h = random_floats((size_t)n * R, 11 + R), w = random_floats((size_t)R * OC, 13 + OC);
                vector<float> panels(adapters::panel_size(R, OC));
                adapters::pack_panels(panels.data(), w.data(), R, OC, false);
                vector<float> out0 = random_floats((size_t)N * OC, 17), out = out0;
                adapters::scatter_addmm_rows(out.data(), OC, h.data(), panels.data(), perm.data(), begin, end, K, R,
                                             OC);
                check_rows(out, out0, h, w, perm, begin, end, K, R, OC);
            }
}

TEST_CASE("experts_addmm (float): each token adds its experts in expert order; the same bits at 1 and 2 threads") {
    // E = 5: ~110 rows per expert, the tokens split; E = 40: ~14, the columns split
    for (int E : {5, 40}) {
        INFO("E " << E);
        const int N = 300, K = 2, R = 16, OC = 72;
        Rng rng(5);
        vector<int32_t> idx((size_t)N * K), perm((size_t)N * K), offsets(E + 1);
        for (int n = 0; n < N; ++n) { // two distinct experts per token, one slot sometimes unrouted
            const int e0 = (int)(rng.uniform() * E) % E, e1 = (e0 + 1 + (int)(rng.uniform() * (E - 1)) % (E - 1)) % E;
            idx[(size_t)n * K] = e0;
            idx[(size_t)n * K + 1] = n % 7 == 3 ? -1 : e1;
        }
        const int routed = adapters::dispatch_plan(perm.data(), offsets.data(), idx.data(), N, K, E);
        vector<float> h = random_floats((size_t)routed * R, 21), w = random_floats((size_t)E * R * OC, 23);
        vector<float> wt((size_t)E * OC * R); // each expert's w stored transposed, (OC, R), as LoRA's B
        for (int e = 0; e < E; ++e)
            for (int r = 0; r < R; ++r)
                for (int c = 0; c < OC; ++c) wt[((size_t)e * OC + c) * R + r] = w[((size_t)e * R + r) * OC + c];
        const int64_t ps = adapters::panel_size(R, OC);
        vector<float> panels((size_t)E * ps);
        for (int e = 0; e < E; ++e)
            adapters::pack_panels(panels.data() + e * ps, w.data() + (size_t)e * R * OC, R, OC, false);
        const vector<float> out0 = random_floats((size_t)N * OC, 29);

        // reference order: expert by expert, each expert's rows in token order
        vector<float> serial = out0;
        for (int e = 0; e < E; ++e)
            adapters::scatter_addmm_rows(serial.data(), OC, h.data() + (size_t)offsets[e] * R, panels.data() + e * ps,
                                         perm.data(), offsets[e], offsets[e + 1], K, R, OC);
        for (int threads : {1, 2, 2})
            for (bool transposed : {false, true}) {
                Threads t(threads);
                vector<float> out = out0;
                adapters::experts_addmm(out.data(), h.data(), transposed ? wt.data() : w.data(), (int64_t)R * OC,
                                        transposed, perm.data(), offsets.data(), E, N, K, R, OC);
                INFO("threads " << threads << " transposed " << transposed);
                CHECK(std::memcmp(out.data(), serial.data(), sizeof(float) * serial.size()) == 0);
            }

        // and the double product of every routed row
        vector<double> ref(out0.begin(), out0.end());
        for (int e = 0; e < E; ++e)
            for (int i = offsets[e]; i < offsets[e + 1]; ++i)
                for (int c = 0; c < OC; ++c) {
                    double acc = 0;
                    for (int r = 0; r < R; ++r) acc += (double)h[(size_t)i * R + r] * w[((size_t)e * R + r) * OC + c];
                    ref[(size_t)(perm[i] / K) * OC + c] += acc;
                }
        double worst = 0;
        for (size_t j = 0; j < ref.size(); ++j) worst = std::max(worst, std::fabs(serial[j] - ref[j]));
        CHECK(worst < 1e-5);
    }
}

TEST_CASE("gemm (float) with beta = 0: C's old contents are ignored (NaN included) and columns past N are kept") {
    for (int threads : {1, 2}) {
        Threads t(threads);
        const int M = 70, N = 40, K = 16, ldc = 48;
        vector<float> a = random_floats((size_t)M * K, 31), b = random_floats((size_t)K * N, 37);
        vector<float> c((size_t)M * ldc, std::numeric_limits<float>::quiet_NaN());
        for (int i = 0; i < M; ++i)
            for (int j = N; j < ldc; ++j) c[(size_t)i * ldc + j] = 7.f; // outside the product
        blas::gemm<float>(false, false, M, N, K, 2.f, a.data(), K, b.data(), N, 0.f, c.data(), ldc);
        for (int i = 0; i < M; ++i)
            for (int j = 0; j < ldc; ++j) {
                if (j >= N) {
                    CHECK(c[(size_t)i * ldc + j] == 7.f);
                    continue;
                }
                double ref = 0;
                for (int k = 0; k < K; ++k) ref += 2.0 * a[(size_t)i * K + k] * b[(size_t)k * N + j];
                CHECK(std::fabs(c[(size_t)i * ldc + j] - ref) < 1e-5);
            }
    }
}

// LoRA experts on their token rows in place (adapters::lora_rows_forward/backward, the path
// MoeSite takes at ranks 8 and 16; they take any rank): every product against a double
// reference built from the same float inputs, over blocks that cross the kRowsChunk chunking,
// dot-product tails (C % 8), the 6/4/2/1-row tiles, ranks that are multiples of 8 and one that is
// not (R = 3: the plain loops), a token twice in one block, and gradients that already hold
// values (they accumulate).
TEST_CASE("lora_rows_forward/backward (float): the double products, chunked, every tile and tail") {
    struct Shape {
        int n, C, OC, R;
    };
    const Shape shapes[] = {{1, 8, 16, 16},  {5, 37, 33, 16},   {13, 24, 3, 8}, {64, 40, 17, 24},
                            {65, 9, 16, 32}, {150, 64, 48, 16}, {7, 5, 11, 3},  {130, 784, 40, 16}};
    const int K = 2;
    for (const Shape & sh : shapes) {
        const int n = sh.n, C = sh.C, OC = sh.OC, R = sh.R;
        const int N = n + 3, begin = 2, end = begin + n;
        INFO("n " << n << " C " << C << " OC " << OC << " R " << R);
        // the block's rows: (token, slot) positions in token order, token 1 twice (both slots)
        vector<int32_t> perm((size_t)end + 1);
        for (int i = begin; i < end; ++i) perm[i] = (int32_t)(((i - begin) * N / n) * K + 1);
        if (n >= 3) {
            perm[begin + 1] = 1 * K + 0;
            perm[begin + 2] = 1 * K + 1;
        }
        const vector<float> x = random_floats((size_t)N * C, 41 + n), dout = random_floats((size_t)N * OC, 43 + n);
        const vector<float> a = random_floats((size_t)R * C, 47), b = random_floats((size_t)OC * R, 53);
        const vector<float> g = random_floats(n, 59);
        const float s = 0.75f;
        vector<float> h((size_t)n * R, NAN), hg((size_t)n * R, NAN);
        adapters::lora_rows_forward(h.data(), hg.data(), x.data(), g.data(), a.data(), s, perm.data(), begin, end, K, C,
                                    R);
        auto tok = [&](int i) { return perm[begin + i] / K; };
        for (int i = 0; i < n; ++i)
            for (int r = 0; r < R; ++r) {
                double ref = 0, mag = 0;
                for (int c = 0; c < C; ++c) {
                    const double t = (double)x[(size_t)tok(i) * C + c] * a[(size_t)r * C + c];
                    ref += t;
                    mag += std::fabs(t);
                }
                CHECK(std::fabs(h[(size_t)i * R + r] - ref) <= 4e-7 * mag + 1e-30);
                CHECK(hg[(size_t)i * R + r] == s * g[i] * h[(size_t)i * R + r]);
            }
        // backward into gradients that already hold values
        vector<float> da = random_floats((size_t)R * C, 61), db = random_floats((size_t)OC * R, 67);
        vector<float> dg = random_floats(n, 71), dh((size_t)n * R, NAN);
        const vector<float> da0 = da, db0 = db, dg0 = dg;
        adapters::lora_rows_backward(da.data(), db.data(), dg.data(), dh.data(), dout.data(), x.data(), h.data(),
                                     hg.data(), g.data(), b.data(), s, perm.data(), begin, end, K, C, OC, R);
        vector<double> dh_ref((size_t)n * R);
        for (int i = 0; i < n; ++i) {
            double gsum = 0, gmag = 0;
            for (int r = 0; r < R; ++r) {
                double dhg = 0, mag = 0;
                for (int o = 0; o < OC; ++o) {
                    const double t = (double)dout[(size_t)tok(i) * OC + o] * b[(size_t)o * R + r];
                    dhg += t;
                    mag += std::fabs(t);
                }
                gsum += (double)h[(size_t)i * R + r] * dhg;
                gmag += std::fabs((double)h[(size_t)i * R + r]) * mag;
                dh_ref[(size_t)i * R + r] = (double)s * g[i] * dhg;
                CHECK(std::fabs(dh[(size_t)i * R + r] - dh_ref[(size_t)i * R + r]) <=
                      6e-7 * std::fabs(s * g[i]) * mag + 1e-30);
            }
            CHECK(std::fabs(dg[i] - (dg0[i] + s * gsum)) <= 6e-7 * (std::fabs(s) * gmag + std::fabs(dg0[i])) + 1e-30);
        }
        for (int o = 0; o < OC; ++o)
            for (int r = 0; r < R; ++r) {
                double ref = db0[(size_t)o * R + r], mag = std::fabs(ref);
                for (int i = 0; i < n; ++i) {
                    const double t = (double)dout[(size_t)tok(i) * OC + o] * hg[(size_t)i * R + r];
                    ref += t;
                    mag += std::fabs(t);
                }
                CHECK(std::fabs(db[(size_t)o * R + r] - ref) <= 6e-7 * mag + 1e-30);
            }
        for (int r = 0; r < R; ++r)
            for (int c = 0; c < C; ++c) {
                double ref = da0[(size_t)r * C + c], mag = std::fabs(ref);
                for (int i = 0; i < n; ++i) {
                    const double t = (double)dh[(size_t)i * R + r] * x[(size_t)tok(i) * C + c];
                    ref += t;
                    mag += std::fabs(t);
                }
                CHECK(std::fabs(da[(size_t)r * C + c] - ref) <= 6e-7 * mag + 1e-30);
            }
        // null gradients are skipped; dh is the same either way
        vector<float> dh2((size_t)n * R, NAN);
        adapters::lora_rows_backward((float *)nullptr, (float *)nullptr, (float *)nullptr, dh2.data(), dout.data(),
                                     x.data(), h.data(), hg.data(), g.data(), b.data(), s, perm.data(), begin, end, K,
                                     C, OC, R);
        CHECK(std::memcmp(dh2.data(), dh.data(), sizeof(float) * dh.size()) == 0);
    }
}
