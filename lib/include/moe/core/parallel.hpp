// moe/core/parallel.hpp — the library's one thread pool.
//
// T threads in all: the calling thread and T - 1 workers, started by set_threads (blas_init
// calls it with the run's thread count). OpenBLAS itself always runs single-threaded; large
// GEMMs are split over the pool by rows or columns (blas/gemm.cpp) and the elementwise
// kernels split their rows the same way, so one set of threads keeps both cores busy and
// nothing spins beside it (OpenBLAS's own idle workers used to hold the second core between
// GEMMs while our loops ran on the first).
//
// Work is split statically: task t of T always runs on thread t and the split depends only on
// the sizes and T, so a thread count gives the same bits on every run. The library's splits keep
// each output element's arithmetic in the serial order (rows, columns for sums over rows,
// whole experts, tokens for the MoE combine); only a GEMM cut in two rounds differently from the
// whole product (OpenBLAS's results depend on its tile edges), so another thread count gives
// the same numbers up to rounding (tests/unit/test_parallel.cpp: training steps at 2 threads
// twice, bit for bit, and against 1 thread, gradients within 1e-5 of the largest).
//
// Waiting: a worker spins (pause) for ~kSpinMicros after its last task, then sleeps on a
// futex; the caller spins until the other tasks are done. A call made from inside a task, or
// while another thread is using the pool, runs serially on the calling thread. No allocation
// after set_threads.
#pragma once
#include <cstdint>

namespace moe::par {

// Start (or resize) the pool to n threads in all, n >= 1. Not to be called concurrently with
// run(). set_threads(1) stops the workers.
void set_threads(int n);
int threads();

// True on a pool worker, or on the caller while it runs its own task.
bool in_task();

// A non-owning reference to a callable void(int task) — no allocation, no virtual call.
class TaskRef {
  public:
    template <typename F>
    TaskRef(F & f) : obj_(&f), call_([](void * o, int t) { (*static_cast<F *>(o))(t); }) {}
    void operator()(int t) const { call_(obj_, t); }

  private:
    void * obj_;
    void (*call_)(void *, int);
};

// Run f(0), ..., f(n_tasks - 1), task t on thread t mod T. n_tasks <= threads() runs every
// task at once; more tasks run in rounds. Serial when threads() == 1, when nested, or when the
// pool is busy. An exception thrown by a task is rethrown here (the first one, by task index).
void run(int n_tasks, TaskRef f);

// Split [0, n) into threads() contiguous ranges (boundaries multiples of `align`) and call
// f(begin, end) for each non-empty one, in parallel when n >= min_n. Each index lands in exactly
// one range; the split depends only on n, align and threads().
template <typename F>
void parallel_for(int64_t n, int64_t min_n, F && f, int64_t align = 1) {
    const int T = threads();
    if (T <= 1 || n < min_n || n < 2 * align || in_task()) {
        if (n > 0) f(int64_t(0), n);
        return;
    }
    const int64_t blocks = (n + align - 1) / align;
    auto task = [&](int t) {
        const int64_t b0 = blocks * t / T, b1 = blocks * (t + 1) / T;
        const int64_t i0 = b0 * align, i1 = b1 * align < n ? b1 * align : n;
        if (i0 < i1) f(i0, i1);
    };
    run(T, task);
}

} // namespace moe::par
