// cli_common.cpp — what the three binaries share (cli_common.hpp): OpenBLAS kernel selection by
// re-exec, the common flags, the log printer, the stop-signal handlers, the --resume command
// line, the console progress display and the mapping of library errors to exit codes.
#include "cli_common.hpp"

#include "moe/io/run_file.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include <cstdio>
#include <exception>
#include <string_view>

#include <fmt/core.h>

#include "moe/blas/gemm.hpp"
#include "moe/core/error.hpp"
#include "moe/core/interrupt.hpp"
#include "moe/core/log.hpp"
#include "moe/core/memory_limit.hpp"
#include "moe/simd/isa.hpp"
#include "moe/train/checkpoint.hpp"

namespace moe::apps {

namespace {
bool g_address_space_limited = false;
} // namespace

// OpenBLAS (the pthread build, 0.3.21) starts its worker threads when it is loaded, and each maps
// its GEMM buffer (BUFFER_SIZE, common_x86_64.h); when mmap fails under an address-space limit
// blas_memory_alloc retries for ever, and exit() then waits for that thread in blas_shutdown.
// So a limit too low to start is refused here, first thing, and the binaries leave with _exit()
// while any limit is set (finish()). The headroom is measured: the peak address space of the
// tiny bad-input runs less their address space at this point, with room to spare (docs/memory.md).
void check_address_space(const char * tool) {
    struct rlimit rl {};
    if (::getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return;
    g_address_space_limited = true;
    constexpr uint64_t kHeadroom = uint64_t(160) << 20;
    const uint64_t used = moe::address_space_in_use(), limit = rl.rlim_cur;
    const char * guard = std::getenv("MOE_MEMORY_GUARD");
    if (used + kHeadroom <= limit || (guard && std::strcmp(guard, "0") == 0)) return;
    const uint64_t need = used + kHeadroom;
    std::fprintf(stderr,
                 "error: memory: the address-space limit (ulimit -v) is %s, but %s needs at least %s of address "
                 "space to start (%s mapped already: the program, its libraries and OpenBLAS's thread buffers)\n"
                 "hint: raise the limit: ulimit -v %llu (KiB) or more, or ulimit -v unlimited; "
                 "OPENBLAS_NUM_THREADS=1 needs less (one buffer)\n",
                 moe::format_bytes(limit).c_str(), tool, moe::format_bytes(need).c_str(),
                 moe::format_bytes(used).c_str(), (unsigned long long)((need + 1023) / 1024));
    std::fflush(stderr);
    ::_exit(2);
}

int finish(int rc) {
    if (!g_address_space_limited) return rc;
    std::fflush(stdout);
    std::fflush(stderr);
    ::_exit(rc);
}

void select_blas_kernels(int argc, char ** argv) {
    (void)argc;
    if (std::getenv("OPENBLAS_CORETYPE")) return;
    const char * flag = std::getenv("MOE_BLAS_AUTO");
    if (flag && std::strcmp(flag, "0") == 0) return;
    if (std::getenv("MOE_BLAS_REEXEC")) return; // already re-executed once
    const std::string core = blas::blas_core_name();
    if (core != "Prescott" && core != "Core2" && core != "Nehalem" && core != "unknown") return;
    __builtin_cpu_init();
    const char * want = nullptr;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq"))
        want = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        want = "Haswell";
    if (!want) return;
    setenv("OPENBLAS_CORETYPE", want, 1);
    setenv("MOE_BLAS_REEXEC", core.c_str(), 1);
    execv("/proc/self/exe", argv);
    // exec failed: carry on with the generic kernels
    unsetenv("OPENBLAS_CORETYPE");
}

void add_common_options(CLI::App & app, CommonArgs & args) {
    app.add_option("--threads", args.threads,
                   "threads of the run: one pool for the matrix products and the kernels (default: exp.threads of the "
                   "spec, 0 = all cores)")
        ->check(CLI::Range(0, 1024));
    app.add_option("--isa", args.isa,
                   "instruction set of moe-lab's own kernels: auto (the best this CPU runs), avx512, avx2, sse4 or "
                   "scalar (OpenBLAS chooses its own)")
        ->envname("MOE_ISA")
        ->check([](const std::string & name) {
            std::string why;
            if (name == "auto") return std::string();
            for (const auto & n : simd::available_isas())
                if (n == name) return std::string();
            simd::force_isa(name, &why); // not available: only the reason is wanted
            return why;
        })
        ->each([](const std::string & name) { simd::force_isa(name, nullptr); });
    app.add_flag("-q,--quiet", args.quiet, "print only errors and the final result");
    app.add_flag("-v,--verbose", args.verbose, "print debug messages");
}

CLI::Option * add_force_option(CLI::App & app, bool & force, const std::string & what) {
    return app.add_flag("--force", force, "replace " + what + " (without it an existing one is refused)");
}

io::OutputLock claim_run_outputs(const spec::Spec & spec, const std::string & spec_path, const std::string & out,
                                 bool force, bool resume) {
    auto inputs = spec::input_files(spec);
    inputs.push_back({"the spec file", spec_path});
    train::OutputPolicy policy;
    policy.force = force;
    policy.resume = resume;
    return train::claim_outputs(out, train::checkpoint_path(out), inputs, policy);
}

void install_logger(const CommonArgs & args) {
    const bool quiet = args.quiet, verbose = args.verbose;
    if (const char * was = std::getenv("MOE_BLAS_REEXEC"); was && !quiet)
        std::fprintf(stderr,
                     "blas: OpenBLAS chose its generic '%s' kernels for this CPU; using OPENBLAS_CORETYPE=%s "
                     "(set OPENBLAS_CORETYPE or MOE_BLAS_AUTO=0 to choose yourself)\n",
                     was, std::getenv("OPENBLAS_CORETYPE"));
    set_log_callback([quiet, verbose](LogLevel lvl, std::string_view msg) {
        if (lvl == LogLevel::debug && !verbose) return;
        if (lvl == LogLevel::info && quiet) return;
        const char * tag = lvl == LogLevel::warn ? "warning: " : lvl == LogLevel::error ? "error: " : "";
        std::fprintf(stderr, "%s%.*s\n", tag, (int)msg.size(), msg.data());
    });
}

void print_spec_warnings(const spec::Spec & spec) {
    for (const auto & w : spec.warnings) log_warn(w.path + ": " + w.message);
}

namespace {
// Set on the ranks but 0 of a data-parallel run (report_errors_as_other_rank).
bool g_other_rank = false, g_left_to_rank0 = false;
std::string g_who;

// "rank R of N: " unless the message names a rank already (the communicator's errors do).
std::string named(const char * msg) {
    return !g_other_rank || std::string_view(msg).starts_with("rank ") ? std::string(msg) : g_who + msg;
}

int run_guarded_body(const std::function<int()> & fn) {
    ::signal(SIGXFSZ, SIG_IGN); // past a file-size limit write() fails with EFBIG: an I/O error like ENOSPC
    try {
        return fn();
    } catch (const Interrupted & e) { // (every process stops alike: rank 0 says so)
        g_left_to_rank0 = g_other_rank;
        if (!g_other_rank) std::fprintf(stderr, "%s\n", e.what());
        return static_cast<int>(ErrorCode::interrupted);
    } catch (const SpecError & e) {
        g_left_to_rank0 = g_other_rank;
        if (!g_other_rank) std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    } catch (const Error & e) {
        if (g_other_rank && (e.code() == ErrorCode::spec || e.code() == ErrorCode::interrupted)) {
            g_left_to_rank0 = true; // (met by every process: rank 0 prints it)
            return static_cast<int>(e.code());
        }
        std::fprintf(stderr, "error: %s\n", named(e.what()).c_str());
        for (const auto & h : e.hints()) std::fprintf(stderr, "hint: %s\n", h.c_str());
        return static_cast<int>(e.code());
    } catch (const std::bad_alloc &) { // the spec asks for more than the machine has
        std::fprintf(stderr,
                     "error: %sout of memory: the run needs more memory than this machine has\n"
                     "hint: smaller model widths (model.*), adapters.experts or adapters.rank, train.batch_size or "
                     "eval.batch_size, or less data (data.train_limit)\n",
                     g_other_rank ? g_who.c_str() : "");
        return 2;
    } catch (const std::exception & e) {
        std::fprintf(stderr, "error: %sinternal error: %s\n", g_other_rank ? g_who.c_str() : "", e.what());
        return 1;
    }
}

} // namespace

void report_errors_as_other_rank(std::string who) {
    g_other_rank = true;
    g_who = std::move(who);
}

bool error_left_to_rank0() { return g_left_to_rank0; }

int run_guarded(const std::function<int()> & fn) { return finish(run_guarded_body(fn)); }

namespace {
void on_stop_signal(int) {
    if (moe::interrupt_requested()) { // the second signal: leave now (only async-signal-safe calls)
        static const char msg[] = "\ninterrupted again: exiting at once; the last complete checkpoint is kept\n";
        ssize_t rc = ::write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)rc;
        moe::io::remove_live_temporaries(); // no half-written OUT.tmp-PID left behind
        ::_exit(130);
    }
    moe::request_interrupt();
}
} // namespace

void install_interrupt_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART; // file writes in progress carry on; the trainer stops at a safe point
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

std::string resume_command(int argc, char ** argv, const std::vector<std::string> & drop) {
    auto quote = [](const std::string & a) {
        const bool plain = !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                             "0123456789_-+=./,:@%") == std::string::npos;
        if (plain) return a;
        std::string q = "'";
        for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
        return q + "'";
    };
    std::string cmd;
    bool has_resume = false;
    for (int i = 0; i < argc; ++i) {
        const std::string a = argv[i];
        bool dropped = false;
        for (const auto & d : drop) {
            if (i > 0 && a == d) { // "--opt value"
                ++i;
                dropped = true;
            } else if (i > 0 && a.rfind(d + "=", 0) == 0) { // "--opt=value"
                dropped = true;
            }
        }
        if (dropped) continue;
        has_resume |= i > 0 && a == "--resume";
        cmd += (i ? " " : "") + quote(a);
    }
    return has_resume ? cmd : cmd + " --resume";
}

ConsoleObserver::ConsoleObserver(const std::string & mode, bool quiet) : quiet_(quiet) {
    none_ = mode == "none";
    bar_ = mode == "bar" || (mode == "auto" && isatty(STDOUT_FILENO));
}

void ConsoleObserver::clear_bar() {
    if (bar_shown_) {
        std::fputs("\r\033[K", stdout);
        bar_shown_ = false;
    }
}

std::string ConsoleObserver::eta(int64_t step, int64_t total) const {
    const int64_t done = step - step0_, left = total - step;
    if (left <= 0) return "ETA 0s";
    if (done <= 0) return "ETA -";
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    const long long t = (long long)(secs / (double)done * (double)left + 0.5);
    if (t >= 3600) return fmt::format("ETA {}h{:02}m", t / 3600, t % 3600 / 60);
    if (t >= 60) return fmt::format("ETA {}m{:02}s", t / 60, t % 60);
    return fmt::format("ETA {}s", t);
}

void ConsoleObserver::on_start(const train::StartInfo & s) {
    t0_ = std::chrono::steady_clock::now();
    step0_ = s.resumed_step > 0 ? s.resumed_step : 0;
    if (quiet_ || none_) return;
    fmt::print("moe-train: {} model, {} classes; {} train / {} val / {} test samples; {} tasks\n", s.model_kind,
               s.n_classes, s.n_train, s.n_val, s.n_test, s.task_names.size());
    fmt::print("moe-train: {} trainable + {} frozen parameters; {} epochs x {} steps = {} steps\n", s.n_trainable,
               s.n_frozen, s.epochs, s.steps_per_epoch, s.total_steps);
    if (s.resumed_step >= 0) fmt::print("moe-train: resuming from {} after step {}\n", s.checkpoint, s.resumed_step);
    std::fflush(stdout);
}

void ConsoleObserver::on_step(const train::StepInfo & s) {
    if (quiet_ || none_) return;
    if (bar_) {
        const int width = 30;
        const int filled = s.batches ? (int)(width * s.batch / s.batches) : 0;
        std::string bar(filled, '#');
        bar.resize(width, '.');
        fmt::print("\r\033[Kepoch {} [{}] {}/{} step {}/{} loss {:.4f} acc {:.3f} lr {:.2e} {:.0f} samples/s {}",
                   s.epoch + 1, bar, s.batch, s.batches, s.step, s.total_steps, s.loss, s.accuracy, s.lr,
                   s.samples_per_s, eta(s.step, s.total_steps));
        bar_shown_ = true;
        std::fflush(stdout);
    } else if (s.record) {
        fmt::print("step {}/{} epoch {} loss {:.4f} acc {:.4f} lr {:.3e} grad_norm {:.3f} {:.0f} samples/s {}\n",
                   s.step, s.total_steps, s.epoch + 1, s.loss, s.accuracy, s.lr, s.grad_norm, s.samples_per_s,
                   eta(s.step, s.total_steps));
        std::fflush(stdout);
    }
}

void ConsoleObserver::on_eval(const train::EvalInfo & e) {
    if (quiet_ || none_) return;
    clear_bar();
    std::string tasks;
    if (e.tasks.size() > 1)
        for (const auto & t : e.tasks) tasks += fmt::format(" {}={:.4f}", t.task, e.text ? t.bpb : t.accuracy);
    if (e.text)
        fmt::print("eval epoch {} {}: bpb {:.4f} (per domain:{}) loss {:.4f} accuracy {:.4f}\n", e.epoch, e.split,
                   e.bpb, tasks, e.loss, e.accuracy);
    else
        fmt::print("eval epoch {} {}: loss {:.4f} accuracy {:.4f}{}\n", e.epoch, e.split, e.loss, e.accuracy, tasks);
    std::fflush(stdout);
}

void ConsoleObserver::on_checkpoint(const train::CheckpointInfo & c) {
    if (c.reason == "interrupt") clear_bar(); // the interrupt message gets a line of its own
}

void ConsoleObserver::on_end(const train::Summary & s) {
    clear_bar();
    std::string m;
    for (const auto & [k, v] : s.final_metrics) m += fmt::format(" {} {:.4f}", k, v);
    fmt::print("done: {} steps in {:.1f} s;{}\nrun file: {}\n", s.steps, s.seconds, m, s.out_path);
    std::fflush(stdout);
}

} // namespace moe::apps
