// apps/common — what the three binaries share: common flags, the log printer, the progress
// display and the mapping of library errors to exit codes (DESIGN.md).
#pragma once
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "moe/spec/spec.hpp"
#include "moe/train/run_setup.hpp"
#include "moe/train/trainer.hpp"

namespace moe::apps {

// First thing in main: under an address-space limit (ulimit -v) too low for OpenBLAS's thread
// buffers and the program to start, print what is needed and how to raise it, and _exit(2)
// (OpenBLAS's threads would otherwise retry their allocation for ever).
void check_address_space(const char * tool);
// Returns rc, or (under an address-space limit) flushes stdout and stderr and _exit()s with it,
// so exit() never waits for an OpenBLAS thread stuck in its allocation.
int finish(int rc);

struct CommonArgs {
    int threads = -1; // -1 = spec decides
    std::string isa = "auto"; // --isa / MOE_ISA: the kernels' instruction set (moe/simd/isa.hpp)
    bool quiet = false;
    bool verbose = false;
};

void add_common_options(CLI::App & app, CommonArgs & args);
// --force: an existing output is refused without it (exit 2); `what` says what it replaces.
CLI::Option * add_force_option(CLI::App & app, bool & force, const std::string & what);
// moe-train and moe-expand, once the output path is known: locks OUT, then refuses an output that
// is one of the spec's inputs (or the spec file), and without --force or --resume an existing OUT
// or OUT.ckpt (train::claim_outputs). Hold the result until the run is over.
io::OutputLock claim_run_outputs(const spec::Spec & spec, const std::string & spec_path, const std::string & out,
                                 bool force, bool resume);
// OpenBLAS 0.3.21 (Debian 12) does not recognise some current x86 CPUs and falls back to its
// generic SSE3 "Prescott" kernels, 3-4x slower than the AVX2/AVX-512 ones the CPU supports.
// Its kernel choice is read from OPENBLAS_CORETYPE when the library loads, so when that is
// unset, OpenBLAS chose the fallback and the CPU has AVX2+FMA (Haswell) or AVX-512
// (SkylakeX), re-execute this program once with OPENBLAS_CORETYPE set. An explicit
// OPENBLAS_CORETYPE, or MOE_BLAS_AUTO=0, disables this. Call first thing in main().
void select_blas_kernels(int argc, char ** argv);
// Installs the library log printer (stderr) honouring --quiet / --verbose.
void install_logger(const CommonArgs & args);
// Prints the spec's warnings (spec::Spec::warnings: settings without effect left at their
// default), one "warning: path: message" line each, through the installed logger.
void print_spec_warnings(const spec::Spec & spec);
// Runs fn, maps moe::Error codes to exit codes, prints "error: ..." and hints (an interrupt:
// its one-line message, exit 130). Never throws. SIGXFSZ is ignored from then on, so a file-size
// limit (ulimit -f) fails the write with EFBIG, reported like a full disk (exit 3, the temporary
// removed, the last checkpoint kept), instead of killing the process.
int run_guarded(const std::function<int()> & fn);
// On a process of a data-parallel run other than rank 0 (Processes::quiet_other_ranks): the
// errors every process meets alike (a bad spec or usage, an interrupt) are left to rank 0 to
// print, and the others are printed naming this process once (`who`: "rank R of N: ").
void report_errors_as_other_rank(std::string who);
// True when run_guarded's last error was left to rank 0 that way (rank 0 ends the job).
bool error_left_to_rank0();
// SIGINT / SIGTERM: the first one asks the library to stop (moe::request_interrupt; the trainer
// writes a checkpoint after the current step and throws ErrorCode::interrupted); a second one
// exits at once with 130, leaving the last complete checkpoint in place.
void install_interrupt_handlers();
// This process's command line, shell-quoted, with --resume appended (once), without the options
// in `drop` and their values (e.g. --stop-after 2 or --stop-after=2).
std::string resume_command(int argc, char ** argv, const std::vector<std::string> & drop = {});

// Console observer: a progress bar on a terminal, one plain line per log step otherwise; both show
// the optimizer steps done of the run's total and an ETA (the mean time per step of this session,
// evaluations included, times the steps left).
class ConsoleObserver : public train::Observer {
  public:
    ConsoleObserver(const std::string & mode, bool quiet); // mode: auto | bar | lines | none
    void on_start(const train::StartInfo & s) override;
    void on_step(const train::StepInfo & s) override;
    void on_eval(const train::EvalInfo & e) override;
    void on_checkpoint(const train::CheckpointInfo & c) override;
    void on_end(const train::Summary & s) override;

  private:
    void clear_bar();
    std::string eta(int64_t step, int64_t total) const; // "ETA 1m05s"
    bool bar_ = false, quiet_ = false, none_ = false, bar_shown_ = false;
    std::chrono::steady_clock::time_point t0_{};
    int64_t step0_ = 0; // the step this session started from (a resumed run's checkpoint)
};

} // namespace moe::apps
