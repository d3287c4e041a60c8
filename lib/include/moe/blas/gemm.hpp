// moe/blas/gemm.hpp — the one wrapper over cblas (the only place that includes <cblas.h>).
//
//   C(M,N) = alpha * op(A)(M,K) * op(B)(K,N) + beta * C,   row-major
//   beta = 0 overwrites (forward outputs, scratch); beta = 1 accumulates (all gradients).
// float goes to cblas_sgemm, double to cblas_dgemm (the gradient checker runs in double).
//
// Thread policy: OpenBLAS always runs single-threaded; moe-lab's own pool
// (moe/core/parallel.hpp) splits every product of at least 2^18 multiply-adds (2^15 for one
// row, a matrix-vector product) into row (or column) blocks of C, one single-threaded OpenBLAS
// call per thread, and the elementwise kernels split their rows over the same threads. One set
// of threads, so nothing oversubscribes and no idle BLAS worker spins on a core our loops need. The split never cuts the inner dimension and
// depends only on the sizes and the thread count: the same bits on every run at a thread count;
// another thread count moves OpenBLAS's tile edges, so the last bits may differ.
#pragma once
#include <string>

namespace moe::blas {

template <typename T>
void gemm(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T * A, int lda, const T * B, int ldb, T beta,
          T * C, int ldc);

// y(M) = alpha * op(A) x + beta * y
template <typename T>
void gemv(bool trans_a, int M, int N, T alpha, const T * A, int lda, const T * x, T beta, T * y);

// FLOPs (2 per multiply-add) of every gemm/gemv issued since the last reset — how benchmarks
// count "every matrix product actually performed". A relaxed atomic add per call.
double gemm_flops();
void reset_gemm_flops();
// Adds the FLOP of a matrix product done outside gemm (adapters::experts_addmm) to the count.
void count_flops(double flop);

// Set the thread count (0 = number of online cores) of the pool and log the policy once.
// Returns the thread count in force.
int blas_init(int n_threads);
int blas_threads();

// Median GFLOP/s of `repeats` n x n x n SGEMMs after one warm-up, at blas_threads() threads:
// through gemm<float> (the pool's split) or, with openblas_threads, one cblas call with
// OpenBLAS's own threads — the machine's peak as OpenBLAS alone reaches it.
double sgemm_gflops(int n, int repeats, bool openblas_threads);
std::string blas_description(); // e.g. "OpenBLAS 0.3.21 (pthreads, Haswell), 2 threads"
// The kernel set OpenBLAS chose for this CPU, e.g. "Haswell", or its generic "Prescott" fallback
// (openblas_get_corename); for callers outside lib/src/blas, which alone includes <cblas.h>.
std::string blas_core_name();

} // namespace moe::blas
