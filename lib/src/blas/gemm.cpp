// blas: the one cblas wrapper and the thread policy (see moe/blas/gemm.hpp).
#include "moe/blas/gemm.hpp"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "moe/core/log.hpp"
#include "moe/core/parallel.hpp"

namespace moe::blas {

static std::atomic<double> g_flops{0.0};
static inline void count(double f) { g_flops.fetch_add(f, std::memory_order_relaxed); }
double gemm_flops() { return g_flops.load(std::memory_order_relaxed); }
void reset_gemm_flops() { g_flops.store(0.0, std::memory_order_relaxed); }
void count_flops(double flop) { count(flop); }

static int g_threads = 0;

// Products of at least this many multiply-adds are split over the pool (moe/core/parallel.hpp):
// C's rows (or, when C has more columns than rows, its columns) in threads() contiguous parts,
// each a single-threaded OpenBLAS call. The split never cuts the inner dimension K and depends
// only on the sizes and the thread count (OpenBLAS rounds an element differently depending on
// where the tile edges fall, so the last bits can change with the thread count). Below it (a rank-16 LoRA
// product over a few dozen rows, the router of a small batch) the wake-up costs more than the
// work saves.
static constexpr double kSplitMacs = 1 << 18;
static constexpr int kSplitAlign = 16; // OpenBLAS's sgemm tiles are 4-16 wide: keep parts whole
// A matrix-vector product streams its weight from memory: 2^15 multiply-adds read 128 KB, ~3 us,
// already longer than waking the pool (generation at batch 1: the 384 x 384 attention output and
// the 384 x 257 head ran on one core).
static constexpr double kSplitGemvMacs = 1 << 15;

static void sgemm_raw(bool ta, bool tb, int M, int N, int K, float alpha, const float * A, int lda, const float * B,
                      int ldb, float beta, float * C, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
                B, ldb, beta, C, ldc);
}

// One single-threaded product. For beta = 0 OpenBLAS 0.3.21 first clears C with its generic
// sgemm_beta kernel, which runs at ~1 cycle per element, as long as the whole multiplication when K
// is a LoRA rank (a 2984 x 768 x 16 product: 1.85 ms with beta = 0, 1.16 ms with memset + beta = 1).
// Its kernel then adds alpha * AB to the cleared C either way, so clearing C here first and asking
// for beta = 1 gives the same bits, faster.
static void sgemm1(bool ta, bool tb, int M, int N, int K, float alpha, const float * A, int lda, const float * B,
                   int ldb, float beta, float * C, int ldc) {
    if (beta == 0.f) {
        if (ldc == N)
            std::memset(C, 0, sizeof(float) * (size_t)M * N);
        else
            for (int i = 0; i < M; ++i) std::memset(C + (int64_t)i * ldc, 0, sizeof(float) * (size_t)N);
        beta = 1.f;
    }
    sgemm_raw(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// A product of one row, C (1, N) = alpha x op(B) + beta C with x = op(A)'s row, is a
// matrix-vector product: sgemm packs all of B first (for M = 1 that doubles what is read, which
// is the whole cost: generation at batch 1 reads every weight once per token), sgemv streams it
// (2.2x the bandwidth on a 384 x 1536 weight). beta = 0 clears C first, as sgemm1.
static void sgemv_row(bool ta, bool tb, int N, int K, float alpha, const float * A, int lda, const float * B, int ldb,
                      float beta, float * C) {
    if (beta == 0.f) {
        std::memset(C, 0, sizeof(float) * (size_t)N);
        beta = 1.f;
    }
    // op(B) = B^T: B is (N, K), C = B x; else B is (K, N), C = B^T x
    cblas_sgemv(CblasRowMajor, tb ? CblasNoTrans : CblasTrans, tb ? N : K, tb ? K : N, alpha, B, ldb, A, ta ? lda : 1,
                beta, C, 1);
}

template <>
void gemm<float>(bool ta, bool tb, int M, int N, int K, float alpha, const float * A, int lda, const float * B, int ldb,
                 float beta, float * C, int ldc) {
    if (M == 0 || N == 0) return;
    count(2.0 * M * N * K);
    if (M == 1 && K > 0) {
        if ((double)N * K < kSplitGemvMacs || par::threads() <= 1 || par::in_task()) {
            sgemv_row(ta, tb, N, K, alpha, A, lda, B, ldb, beta, C);
            return;
        }
        // C's columns [n0, n1): op(B) columns n0.. (B's rows when transposed)
        par::parallel_for(
            N, 0,
            [&](int64_t n0, int64_t n1) {
                sgemv_row(ta, tb, int(n1 - n0), K, alpha, A, lda, tb ? B + n0 * ldb : B + n0, ldb, beta, C + n0);
            },
            kSplitAlign);
        return;
    }
    if ((double)M * N * K < kSplitMacs || par::threads() <= 1 || par::in_task()) {
        sgemm1(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    } else if (M >= N) {
        // C rows [m0, m1): op(A) rows m0.. (A's rows, or A's columns when transposed)
        par::parallel_for(
            M, 0,
            [&](int64_t m0, int64_t m1) {
                const float * a = ta ? A + m0 : A + m0 * lda;
                sgemm1(ta, tb, int(m1 - m0), N, K, alpha, a, lda, B, ldb, beta, C + m0 * ldc, ldc);
            },
            kSplitAlign);
    } else {
        // C columns [n0, n1): op(B) columns n0.. (B's columns, or B's rows when transposed)
        par::parallel_for(
            N, 0,
            [&](int64_t n0, int64_t n1) {
                const float * b = tb ? B + n0 * ldb : B + n0;
                sgemm1(ta, tb, M, int(n1 - n0), K, alpha, A, lda, b, ldb, beta, C + n0, ldc);
            },
            kSplitAlign);
    }
}

template <>
void gemm<double>(bool ta, bool tb, int M, int N, int K, double alpha, const double * A, int lda, const double * B,
                  int ldb, double beta, double * C, int ldc) {
    if (M == 0 || N == 0) return;
    count(2.0 * M * N * K);
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
                B, ldb, beta, C, ldc);
}

template <>
void gemv<float>(bool ta, int M, int N, float alpha, const float * A, int lda, const float * x, float beta, float * y) {
    count(2.0 * M * N);
    cblas_sgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, M, N, alpha, A, lda, x, 1, beta, y, 1);
}

template <>
void gemv<double>(bool ta, int M, int N, double alpha, const double * A, int lda, const double * x, double beta,
                  double * y) {
    count(2.0 * M * N);
    cblas_dgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, M, N, alpha, A, lda, x, 1, beta, y, 1);
}

int blas_init(int n_threads) {
    int n = n_threads > 0 ? n_threads : static_cast<int>(std::thread::hardware_concurrency());
    if (n <= 0) n = 1;
    openblas_set_num_threads(1); // OpenBLAS never runs its own threads: the pool splits the work
    par::set_threads(n);
    bool first = g_threads == 0;
    g_threads = n;
    if (first)
        log_info("blas: " + blas_description() +
                 "; large GEMMs and the elementwise kernels are split over "
                 "moe-lab's own threads, each OpenBLAS call is single-threaded");
    return n;
}

int blas_threads() { return g_threads > 0 ? g_threads : 1; }

double sgemm_gflops(int n, int repeats, bool openblas_threads) {
    std::vector<float> a((size_t)n * n, 0.5f), b((size_t)n * n, 0.25f), c((size_t)n * n);
    const int T = blas_threads();
    if (openblas_threads) openblas_set_num_threads(T);
    auto once = [&] {
        if (openblas_threads)
            sgemm_raw(false, false, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);
        else
            gemm<float>(false, false, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);
    };
    once(); // warm-up: page faults, OpenBLAS buffers, waking threads
    std::vector<double> ts;
    for (int r = 0; r < repeats; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        once();
        ts.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    if (openblas_threads) openblas_set_num_threads(1);
    std::sort(ts.begin(), ts.end());
    return 2.0 * n * n * n / ts[ts.size() / 2] / 1e9;
}

std::string blas_description() {
    const char * kind = "unknown";
    switch (openblas_get_parallel()) {
    case 0: kind = "sequential"; break;
    case 1: kind = "pthreads"; break;
    case 2: kind = "OpenMP"; break;
    }
    std::string cfg = openblas_get_config();
    std::string core = openblas_get_corename();
    return "OpenBLAS (" + std::string(kind) + ", " + core + "; " + cfg + "), " + std::to_string(blas_threads()) +
           " threads";
}

std::string blas_core_name() { return openblas_get_corename(); }

} // namespace moe::blas
