// moe/blas/gemm.hpp — the one wrapper over cblas (the only place that includes <cblas.h>).
//
//   C(M,N) = alpha * op(A)(M,K) * op(B)(K,N) + beta * C,   row-major
//   beta = 0 overwrites (forward outputs, scratch); beta = 1 accumulates (all gradients).
// float goes to cblas_sgemm, double to cblas_dgemm (the gradient checker runs in double).
//
// Thread policy (decided once, logged once by blas_init): OpenBLAS owns the threads and
// parallelises the large GEMMs; the library's own elementwise loops run on the calling thread.
// Debian's libopenblas0-pthread is not OpenMP-aware, so mixing OpenMP loops with threaded
// GEMMs would oversubscribe the cores; with one pool there is nothing to oversubscribe, and a
// fixed thread count gives the same numbers on every run. Products under 2^23 multiply-adds
// (LoRA blocks, routers, per-head attention) run on the calling thread alone: waking the
// workers cost more than the work (gemm.cpp); OpenBLAS never splits the inner dimension, so
// this changes no result.
#pragma once
#include <string>

namespace moe::blas {

template <typename T>
void gemm(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T * A, int lda,
          const T * B, int ldb, T beta, T * C, int ldc);

// y(M) = alpha * op(A) x + beta * y
template <typename T>
void gemv(bool trans_a, int M, int N, T alpha, const T * A, int lda, const T * x, T beta, T * y);

// FLOPs (2 per multiply-add) of every gemm/gemv issued since the last reset — how benchmarks
// count "every matrix product actually performed". A relaxed atomic add per call.
double gemm_flops();
void reset_gemm_flops();

// Set the BLAS thread count (0 = number of online cores) and log the policy once.
// Returns the thread count in force.
int blas_init(int n_threads);
int blas_threads();
std::string blas_description(); // e.g. "OpenBLAS 0.3.21 (pthreads, Haswell), 2 threads"

} // namespace moe::blas
