// moe-expand: continual learning over a stream of tasks with self-expanding adapters (SEMA) and
// its baselines. Writes the weights, the accuracy matrix and every expansion decision to one
// HDF5 run file; a checkpoint after every task makes the stream resumable (--resume).
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <unistd.h>

#include "../common/cli_common.hpp"
#include "moe/core/memory_limit.hpp"
#include "moe/train/memory_estimate.hpp"
#include "../common/version.hpp"
#include "moe/core/interrupt.hpp"
#include "moe/expand/expander.hpp"
#include "moe/io/run_file.hpp"
#include "moe/spec/spec.hpp"
#include "../common/processes.hpp"

namespace {

std::string fmt_pct(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f", 100.0 * v);
    return b;
}

class Console : public moe::expand::StreamObserver {
  public:
    Console(bool quiet, bool verbose) : quiet_(quiet), verbose_(verbose) {}
    void on_start(const moe::expand::StreamStart & s) override {
        sites_ = s.sites;
        if (quiet_) return;
        std::printf("moe-expand: %s over %zu tasks (%lld training, %lld test samples) -> %s\n", s.strategy.c_str(),
                    s.task_names.size(), (long long)s.n_train, (long long)s.n_test, s.out_path.c_str());
        std::string sites;
        for (size_t i = 0; i < s.sites.size(); ++i)
            sites += (i ? ", " : "") + s.sites[i] + (s.expandable[i] ? " (expandable)" : "");
        std::printf("  adapted sites: %s\n", sites.empty() ? "none" : sites.c_str());
        if (s.resumed_tasks > 0) std::printf("  resumed after task %d from the checkpoint\n", s.resumed_tasks);
        std::fflush(stdout);
    }
    void on_phase(const moe::expand::PhaseInfo & p) override {
        if (quiet_ || (!verbose_ && p.epoch + 1 != p.epochs)) return;
        if (p.phase == "rd")
            std::printf("  task %d %s phase epoch %d/%d: descriptor loss %.5f\n", p.task + 1, p.phase.c_str(),
                        p.epoch + 1, p.epochs, p.loss);
        else
            std::printf("  task %d %s phase epoch %d/%d: loss %.4f, train accuracy %s%%\n", p.task + 1, p.phase.c_str(),
                        p.epoch + 1, p.epochs, p.loss, fmt_pct(p.accuracy).c_str());
        std::fflush(stdout);
    }
    void on_detection(const moe::expand::Detection & d) override {
        if (quiet_ || !(d.expanded || verbose_)) return;
        std::printf("  task %d detection pass %d batch %d: %s score %.3f (%d adapter%s)%s\n", d.task + 1, d.pass,
                    d.batch, sites_.at(d.site).c_str(), d.score, d.adapters, d.adapters == 1 ? "" : "s",
                    d.expanded ? " -> expand" : "");
        std::fflush(stdout);
    }
    void on_task(const moe::expand::TaskReport & r) override {
        if (quiet_) return;
        std::string z, ad, exp;
        for (size_t s = 0; s < r.first_pass_z.size(); ++s)
            if (!std::isnan(r.first_pass_z[s])) {
                char b[64];
                std::snprintf(b, sizeof b, "%s%s %.2f", z.empty() ? "" : ", ", sites_[s].c_str(), r.first_pass_z[s]);
                z += b;
            }
        for (size_t s = 0; s < r.adapters.size(); ++s) ad += (s ? "," : "") + std::to_string(r.adapters[s]);
        for (const auto & e : r.expanded) exp += (exp.empty() ? "" : ", ") + e;
        std::printf("task %d/%d %-14s | %s | z: %s | adapters %s | acc %s%% | A %s%% (task-aware %s%%) | +%lld params "
                    "| %.1f s\n",
                    r.task + 1, r.n_tasks, r.name.c_str(), exp.empty() ? "no expansion" : ("expanded " + exp).c_str(),
                    z.empty() ? "-" : z.c_str(), ad.empty() ? "-" : ad.c_str(), fmt_pct(r.row.back()).c_str(),
                    fmt_pct(r.A).c_str(), fmt_pct(r.A_task_aware).c_str(), (long long)r.params_inference, r.seconds);
        std::fflush(stdout);
    }
    void on_end(const moe::expand::StreamSummary & s) override {
        if (s.finished) // the final result: printed with -q too, as moe-train prints its summary
            std::printf("done: A_N %s%%, A_bar %s%%, forgetting %s%%, BWT %s%% (%.1f s) -> %s\n",
                        fmt_pct(s.metrics.A_N).c_str(), fmt_pct(s.metrics.A_bar).c_str(),
                        fmt_pct(s.metrics.forgetting).c_str(), fmt_pct(s.metrics.bwt).c_str(), s.seconds,
                        s.out_path.c_str());
        std::fflush(stdout);
    }

  private:
    bool quiet_, verbose_;
    std::vector<std::string> sites_;
};

} // namespace

int main(int argc, char ** argv) {
    moe::apps::check_address_space("moe-expand");
    moe::apps::select_blas_kernels(argc, argv);
    moe::apps::Processes procs(&argc, &argv); // under mpirun: one rank of a data-parallel run
    const bool rank0 = procs.rank0();
    CLI::App app{"moe-expand: continual learning over a stream of tasks on a frozen base, with self-expanding\n"
                 "adapters (SEMA) or a baseline strategy. Writes the accuracy matrix, every expansion decision and\n"
                 "the weights to one HDF5 run file; a checkpoint after every task makes the stream resumable.\n"
                 "A run whose memory estimate exceeds the memory available (MemAvailable, ulimit -v, the cgroup\n"
        "limit) is refused before anything large is allocated (exit 2; see --estimate-memory).\n"
        "Exit codes: 0 ok, 1 internal error, 2 bad spec or usage, 3 I/O or bad data, 4 numeric failure,\n"
                 "130 interrupted (checkpoint written; continue with --resume).\n"
#ifdef MOE_HAVE_MPI
                 "Data parallel: mpirun -np N moe-expand SPEC --set train.shards=S (N dividing S; docs/distributed.md)."
#else
                 "Built without MPI (openmpi-bin libopenmpi-dev): no data-parallel runs (docs/distributed.md)."
#endif
    };
    std::string spec_path, out_path;
    std::vector<std::string> overrides;
    bool estimate_memory = false, print_spec = false, resume = false, force = false;
    int stop_after = 0;
    moe::apps::CommonArgs common;
    app.add_option("spec", spec_path, "experiment spec (JSON) with \"stream\" and \"expand\" sections")->required();
    auto * out_opt = app.add_option("-o,--out", out_path, "run file to write (.h5); default runs/<exp.name>.h5");
    app.add_option("--set", overrides, "override a spec key, e.g. --set expand.strategy=head_only")->take_all();
    app.add_flag("--print-spec", print_spec, "print the resolved spec (defaults filled in) and exit");
    app.add_flag("--estimate-memory", estimate_memory,
                 "print what the run would allocate, part by part (data, parameters, gradients, optimizer, "
                 "activations, overhead), and the memory available, then exit without training (docs/memory.md)");
    app.add_flag("--resume", resume, "continue the stream from OUT.ckpt (written after every task)");
    moe::apps::add_force_option(app, force, "an existing OUT, or start over from an unfinished stream's OUT.ckpt");
    app.add_option("--stop-after", stop_after,
                   "stop after this many tasks, keeping the checkpoint (for resuming later)")
        ->check(CLI::NonNegativeNumber);
    moe::apps::add_common_options(app, common);
    moe::apps::add_version_flag(app, "moe-expand");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError & e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }
    moe::apps::install_logger(common);
    procs.quiet_other_ranks();
    if (out_opt->count() > 0 && out_path.empty()) {
        std::fprintf(stderr, "error: -o: an empty path (leave -o out for runs/<exp.name>.h5)\n");
        return 2;
    }
    const int rc = moe::apps::run_guarded([&]() -> int {
        moe::spec::Spec spec = moe::spec::load_spec(spec_path, overrides);
        moe::apps::print_spec_warnings(spec);
        if (common.threads >= 0) spec.exp.threads = common.threads;
        if (print_spec) {
            std::printf("%s\n", moe::spec::to_json(spec).dump(2).c_str());
            return 0;
        }
        if (estimate_memory) {
            const auto est = moe::train::estimate_run_memory(spec, "moe-expand");
            std::printf("%s", moe::train::memory_report(est, moe::available_memory()).c_str());
            return 0;
        }
        if (out_path.empty()) {
            out_path = moe::spec::default_run_path(spec);
            std::filesystem::create_directories("runs");
        }
        std::optional<moe::io::OutputLock> lock; // (rank 0 writes)
        if (rank0) lock.emplace(moe::apps::claim_run_outputs(spec, spec_path, out_path, force, resume));
        const std::string ckpt = moe::expand::checkpoint_path(out_path);
        std::error_code ec;
        // the command that continues this stream: this one, without --stop-after, with --resume
        const std::string again = procs.launcher() + moe::apps::resume_command(argc, argv, {"--stop-after"});
        moe::apps::install_interrupt_handlers();
        Console console(common.quiet, common.verbose);
        moe::expand::StreamObserver silent; // the ranks but 0
        moe::expand::StreamObserver & obs = rank0 ? static_cast<moe::expand::StreamObserver &>(console) : silent;
        moe::expand::StreamOptions opt;
        opt.resume = resume;
        opt.stop_after = stop_after;
        opt.spec_source = spec_path;
        opt.comm = procs.comm();
        try {
            auto sum = moe::expand::run_stream(spec, out_path, obs, opt);
            if (sum.already_finished && rank0) std::printf("run %s already finished; nothing to do\n", out_path.c_str());
            if (!sum.finished && rank0)
                std::printf("stopped after task %d: checkpoint %s; continue with: %s\n", sum.tasks_done, ckpt.c_str(),
                            again.c_str());
        } catch (const moe::Error & e) {
            if (e.code() == moe::ErrorCode::interrupted) {
                if (rank0) std::fprintf(stderr, "%s; resume with: %s\n", e.what(), again.c_str());
            } else if (rank0 && e.code() != moe::ErrorCode::spec &&
                     std::filesystem::symlink_status(ckpt, ec).type() == std::filesystem::file_type::regular) {
                // e.g. a full disk at the final write: the tasks done so far are not lost
                auto hints = e.hints();
                hints.push_back("the checkpoint " + ckpt + " is kept; once fixed, continue with: " + again);
                throw moe::Error(e.code(), e.what(), hints);
            } else
                throw;
            return 130;
        }
        return 0;
    });
    return procs.finish(rc);
}
