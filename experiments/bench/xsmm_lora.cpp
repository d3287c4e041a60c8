// moe-bench-xsmm: one LoRA expert's products on its routed token rows three ways, on one thread:
// the rows gathered into a block and multiplied by OpenBLAS, gathered and multiplied by a libxsmm
// JIT kernel, and read in place by moe-lab's SIMD row kernels (moe/simd/row_kernels.hpp). The
// comparison behind the choice of the row kernels (docs/simd.md). Built only when libxsmm
// (Debian's libxsmm-dev) is found.
//   build/moe-bench-xsmm [--repeats 7]
// Forward h (n, R) = x_rows (n, C) A^T; backward dA (R, C) += dh^T x_rows. C = 1024, the tokens
// drawn from 512 rows.
#include <libxsmm.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <vector>

#include "moe/blas/gemm.hpp"
#include "moe/core/rng.hpp"
#include "moe/simd/isa.hpp"
#include "moe/simd/row_kernels.hpp"

namespace {

using Clock = std::chrono::steady_clock;

template <typename F>
double median_ms(int repeats, int calls, F && f) {
    std::vector<double> t;
    for (int r = 0; r < repeats; ++r) {
        const auto t0 = Clock::now();
        for (int c = 0; c < calls; ++c) f();
        t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / calls);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

} // namespace

int main(int argc, char ** argv) {
    int repeats = 7;
    if (argc == 3 && std::strcmp(argv[1], "--repeats") == 0) repeats = std::max(1, std::atoi(argv[2]));
    moe::blas::blas_init(1);
    libxsmm_init();
    const int N = 512, C = 1024;
    moe::Rng rng(1);
    std::vector<float> X((size_t)N * C);
    for (auto & v : X) v = (float)rng.uniform(-1, 1);
    std::printf("one LoRA expert on its routed rows, 1 thread, C = %d, moe-lab kernels %s; ms per call (GFLOP/s)\n", C,
                moe::simd::isa().c_str());
    std::printf(
        "| rows n | rank R | fwd: gather + OpenBLAS | fwd: gather + libxsmm | fwd: rows in place | bwd dA: "
        "gather + OpenBLAS | bwd dA: gather + libxsmm | bwd dA: rows in place |\n|---|---|---|---|---|---|---|---|\n");
    for (int R : {8, 16})
        for (int n : {16, 64, 128}) {
            std::vector<int32_t> perm((size_t)n);
            for (auto & p : perm) p = (int32_t)rng.below(N);
            std::sort(perm.begin(), perm.end());
            std::vector<const float *> rows((size_t)n);
            for (int i = 0; i < n; ++i) rows[(size_t)i] = X.data() + (size_t)perm[(size_t)i] * C;
            std::vector<float> A((size_t)R * C), At((size_t)C * R), dh((size_t)n * R), dhT((size_t)R * n),
                h((size_t)n * R), xg((size_t)n * C), dA((size_t)R * C, 0.f);
            for (auto & v : A) v = (float)rng.uniform(-1, 1);
            for (auto & v : dh) v = (float)rng.uniform(-1, 1);
            for (int r = 0; r < R; ++r)
                for (int c = 0; c < C; ++c) At[(size_t)c * R + r] = A[(size_t)r * C + c];
            std::vector<const float *> dhrows((size_t)n);
            for (int i = 0; i < n; ++i) dhrows[(size_t)i] = dh.data() + (size_t)i * R;
            auto gather = [&] {
                for (int i = 0; i < n; ++i) std::memcpy(xg.data() + (size_t)i * C, rows[(size_t)i], sizeof(float) * C);
            };
            // libxsmm is column-major: h^T (R, n) = At^T... as (R x C)(C x n) with At (C, R) row-major = (R, C)
            // column-major, x rows (n, C) row-major = (C, n) column-major
            const float one = 1.f, zero = 0.f;
            const libxsmm_blasint m1 = R, n1 = n, k1 = C, lda1 = R, ldb1 = C, ldc1 = R;
            const libxsmm_smmfunction fwd =
                libxsmm_smmdispatch(m1, n1, k1, &lda1, &ldb1, &ldc1, &one, &zero, nullptr, nullptr);
            // dA^T (C, R) column-major = dA (R, C) row-major += x^T (C, n) dh (n, R): x rows (n, C) row-major
            // = (C, n) column-major; dh^T (R, n) row-major = (n, R) column-major
            const libxsmm_blasint m2 = C, n2 = R, k2 = n, lda2 = C, ldb2 = n, ldc2 = C;
            const libxsmm_smmfunction bwd =
                libxsmm_smmdispatch(m2, n2, k2, &lda2, &ldb2, &ldc2, &one, &one, nullptr, nullptr);
            if (!fwd || !bwd) {
                std::printf("| %d | %d | libxsmm has no JIT kernel for these shapes |\n", n, R);
                continue;
            }
            const int calls = std::max(20, 20000 / n);
            const double f_blas = median_ms(repeats, calls, [&] {
                gather();
                moe::blas::gemm<float>(false, true, n, R, C, 1.f, xg.data(), C, A.data(), C, 0.f, h.data(), R);
            });
            const double f_xsmm = median_ms(repeats, calls, [&] {
                gather();
                fwd(At.data(), xg.data(), h.data());
            });
            const double f_rows =
                median_ms(repeats, calls, [&] { moe::simd::dot_rows(h.data(), rows.data(), n, A.data(), R, C); });
            const double b_blas = median_ms(repeats, calls, [&] {
                gather();
                moe::blas::gemm<float>(true, false, R, C, n, 1.f, dh.data(), R, xg.data(), C, 1.f, dA.data(), C);
            });
            const double b_xsmm = median_ms(repeats, calls, [&] {
                gather();
                for (int i = 0; i < n; ++i)
                    for (int r = 0; r < R; ++r) dhT[(size_t)r * n + i] = dh[(size_t)i * R + r];
                bwd(xg.data(), dhT.data(), dA.data());
            });
            const double b_rows = median_ms(
                repeats, calls, [&] { moe::simd::outer_acc(dA.data(), C, R, C, dhrows.data(), rows.data(), n); });
            // the three forwards agree (each against the first)
            std::vector<float> hb(h.size()), hx(h.size());
            gather();
            moe::blas::gemm<float>(false, true, n, R, C, 1.f, xg.data(), C, A.data(), C, 0.f, hb.data(), R);
            fwd(At.data(), xg.data(), hx.data());
            moe::simd::dot_rows(h.data(), rows.data(), n, A.data(), R, C);
            float diff = 0;
            for (size_t i = 0; i < h.size(); ++i)
                diff = std::max({diff, std::fabs(hb[i] - hx[i]), std::fabs(hb[i] - h[i])});
            if (diff > 1e-3f) std::printf("(the forwards differ by %g at n %d, R %d)\n", diff, n, R);
            const double flop = 2.0 * n * R * C;
            auto cell = [&](double ms) { std::printf(" %.4f (%.1f) |", ms, flop / ms / 1e6); };
            std::printf("| %d | %d |", n, R);
            for (double ms : {f_blas, f_xsmm, f_rows, b_blas, b_xsmm, b_rows}) cell(ms);
            std::printf("\n");
        }
    libxsmm_finalize();
    return 0;
}
