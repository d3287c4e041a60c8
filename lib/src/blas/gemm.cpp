// blas: the one cblas wrapper and the thread policy (see moe/blas/gemm.hpp).
#include "moe/blas/gemm.hpp"

#include <cblas.h>

#include <atomic>
#include <thread>

#include "moe/core/log.hpp"

namespace moe::blas {

static std::atomic<double> g_flops{0.0};
static inline void count(double f) { g_flops.fetch_add(f, std::memory_order_relaxed); }
double gemm_flops() { return g_flops.load(std::memory_order_relaxed); }
void reset_gemm_flops() { g_flops.store(0.0, std::memory_order_relaxed); }

static int g_threads = 0;

// Products below this many multiply-adds run on the calling thread alone: waking OpenBLAS's
// workers (a yield/futex round trip, costly in a VM) for the LoRA blocks (inner or outer
// dimension R = 16), the routers and the per-head attention products took more time than the
// work (vit-mole ran slower at 2 threads than at 1). OpenBLAS does not split the inner dimension,
// so every element is summed in the same order either way: the results do not depend on it.
static constexpr double kSmallGemmMacs = 1 << 23;

template <typename F>
static inline void run_sized(double macs, F && f) {
    if (g_threads > 1 && macs < kSmallGemmMacs) {
        openblas_set_num_threads(1);
        f();
        openblas_set_num_threads(g_threads);
    } else {
        f();
    }
}

template <>
void gemm<float>(bool ta, bool tb, int M, int N, int K, float alpha, const float * A, int lda,
                 const float * B, int ldb, float beta, float * C, int ldc) {
    if (M == 0 || N == 0) return;
    count(2.0 * M * N * K);
    run_sized((double)M * N * K, [&] {
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A,
                    lda, B, ldb, beta, C, ldc);
    });
}

template <>
void gemm<double>(bool ta, bool tb, int M, int N, int K, double alpha, const double * A, int lda,
                  const double * B, int ldb, double beta, double * C, int ldc) {
    if (M == 0 || N == 0) return;
    count(2.0 * M * N * K);
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K,
                alpha, A, lda, B, ldb, beta, C, ldc);
}

template <>
void gemv<float>(bool ta, int M, int N, float alpha, const float * A, int lda, const float * x, float beta, float * y) {
    count(2.0 * M * N);
    cblas_sgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, M, N, alpha, A, lda, x, 1, beta, y, 1);
}

template <>
void gemv<double>(bool ta, int M, int N, double alpha, const double * A, int lda, const double * x, double beta, double * y) {
    count(2.0 * M * N);
    cblas_dgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, M, N, alpha, A, lda, x, 1, beta, y, 1);
}

int blas_init(int n_threads) {
    int n = n_threads > 0 ? n_threads : static_cast<int>(std::thread::hardware_concurrency());
    if (n <= 0) n = 1;
    openblas_set_num_threads(n);
    bool first = g_threads == 0;
    g_threads = n;
    if (first) log_info("blas: " + blas_description() + "; elementwise loops run on the calling thread");
    return n;
}

int blas_threads() { return g_threads > 0 ? g_threads : openblas_get_num_threads(); }

std::string blas_description() {
    const char * par = "unknown";
    switch (openblas_get_parallel()) {
        case 0: par = "sequential"; break;
        case 1: par = "pthreads"; break;
        case 2: par = "OpenMP"; break;
    }
    std::string cfg = openblas_get_config();
    std::string core = openblas_get_corename();
    return "OpenBLAS (" + std::string(par) + ", " + core + "; " + cfg + "), " + std::to_string(blas_threads()) + " threads";
}

} // namespace moe::blas
