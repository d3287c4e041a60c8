// core/parallel: the thread pool (see moe/core/parallel.hpp).
#include "moe/core/parallel.hpp"

#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <exception>
#include <thread>
#include <vector>

namespace moe::par {

namespace {

// How long an idle worker spins before it sleeps. Inside a training step the gaps between
// parallel regions (a small GEMM, the top-k selection) are tens of microseconds, so the workers
// stay awake through a step and sleep between runs; a futex wake costs ~5-20 us in a VM.
constexpr int64_t kSpinMicros = 300;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::this_thread::yield();
#endif
}

long futex(std::atomic<uint32_t> * addr, int op, uint32_t val) {
    return syscall(SYS_futex, reinterpret_cast<uint32_t *>(addr), op | FUTEX_PRIVATE_FLAG, val, nullptr, nullptr, 0);
}

thread_local bool tl_in_task = false;

struct Pool {
    int T = 1;
    std::vector<std::thread> workers;
    std::vector<std::exception_ptr> errors; // per thread: the first exception of this run
    std::vector<int> error_task;
    bool spin = true; // false when there are more threads than cores

    alignas(64) std::atomic<uint32_t> gen{0}; // bumped once per run(); the futex word
    alignas(64) std::atomic<int> pending{0};  // workers still running tasks of this run
    alignas(64) std::atomic<int> sleepers{0};
    std::atomic<bool> stop{false};
    std::atomic_flag busy = ATOMIC_FLAG_INIT;
    const TaskRef * job = nullptr;
    int n_tasks = 0;

    void run_tasks(int t) {
        tl_in_task = true;
        for (int task = t; task < n_tasks; task += T) {
            try {
                (*job)(task);
            } catch (...) {
                if (!errors[t]) {
                    errors[t] = std::current_exception();
                    error_task[t] = task;
                }
            }
        }
        tl_in_task = false;
    }

    void worker(int t, uint32_t seen) { // seen: the generation when the worker was started
        for (;;) {
            uint32_t g = gen.load(std::memory_order_acquire);
            if (g == seen && spin) {
                auto t0 = std::chrono::steady_clock::now();
                for (int i = 1;; ++i) {
                    cpu_relax();
                    g = gen.load(std::memory_order_acquire);
                    if (g != seen) break;
                    if ((i & 63) == 0 && std::chrono::steady_clock::now() - t0 > std::chrono::microseconds(kSpinMicros))
                        break;
                }
            }
            while (g == seen) {
                sleepers.fetch_add(1, std::memory_order_seq_cst);
                if (gen.load(std::memory_order_seq_cst) == seen) futex(&gen, FUTEX_WAIT, seen);
                sleepers.fetch_sub(1, std::memory_order_relaxed);
                g = gen.load(std::memory_order_acquire);
            }
            seen = g;
            if (stop.load(std::memory_order_acquire)) return;
            run_tasks(t);
            pending.fetch_sub(1, std::memory_order_release);
        }
    }

    void start(int n) {
        T = n;
        spin = n <= (int)std::max(1u, std::thread::hardware_concurrency());
        errors.assign(n, nullptr);
        error_task.assign(n, 0);
        stop.store(false);
        workers.reserve(n - 1);
        const uint32_t g0 = gen.load(std::memory_order_relaxed);
        // The workers block the stop signals (they inherit the mask): SIGINT / SIGTERM / SIGHUP /
        // SIGQUIT reach the calling thread, whose handler may then clean up knowing that this
        // thread is not inside a file operation (io::remove_live_temporaries).
        sigset_t stop_sigs, old;
        sigemptyset(&stop_sigs);
        for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&stop_sigs, s);
        pthread_sigmask(SIG_BLOCK, &stop_sigs, &old);
        for (int t = 1; t < n; ++t) workers.emplace_back([this, t, g0] { worker(t, g0); });
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }

    void stop_all() {
        if (workers.empty()) return;
        stop.store(true, std::memory_order_release);
        gen.fetch_add(1, std::memory_order_seq_cst);
        futex(&gen, FUTEX_WAKE, INT_MAX);
        for (auto & w : workers) w.join();
        workers.clear();
        T = 1;
    }

    ~Pool() { stop_all(); }
};

Pool & pool() {
    static Pool p;
    return p;
}

} // namespace

void set_threads(int n) {
    if (n < 1) n = 1;
    Pool & p = pool();
    if (n == p.T) return;
    p.stop_all();
    if (n > 1) p.start(n);
}

int threads() { return pool().T; }

bool in_task() { return tl_in_task; }

void run(int n_tasks, TaskRef f) {
    if (n_tasks <= 0) return;
    Pool & p = pool();
    if (p.T <= 1 || n_tasks == 1 || tl_in_task || p.busy.test_and_set(std::memory_order_acquire)) {
        // serial: the same tasks in the same order
        const bool was = tl_in_task;
        tl_in_task = true;
        try {
            for (int t = 0; t < n_tasks; ++t) f(t);
        } catch (...) {
            tl_in_task = was;
            throw;
        }
        tl_in_task = was;
        return;
    }
    p.job = &f;
    p.n_tasks = n_tasks;
    p.pending.store(p.T - 1, std::memory_order_relaxed);
    p.gen.fetch_add(1, std::memory_order_seq_cst);
    if (p.sleepers.load(std::memory_order_seq_cst) > 0) futex(&p.gen, FUTEX_WAKE, INT_MAX);
    p.run_tasks(0);
    for (int i = 1; p.pending.load(std::memory_order_acquire) != 0; ++i) {
        if (i < (1 << 16))
            cpu_relax();
        else
            std::this_thread::yield();
    }
    // rethrow the exception of the lowest-numbered failing task, if any
    int first = -1;
    for (int t = 0; t < p.T; ++t)
        if (p.errors[t] && (first < 0 || p.error_task[t] < p.error_task[first])) first = t;
    std::exception_ptr e;
    if (first >= 0) e = p.errors[first];
    for (auto & x : p.errors) x = nullptr;
    p.job = nullptr;
    p.busy.clear(std::memory_order_release);
    if (e) std::rethrow_exception(e);
}

} // namespace moe::par
