// moe-sweep subcommands, each in its own file: run (GNU parallel), submit (a Slurm job array),
// collect (moe-eval summarize), and task (one run of the sweep; what parallel and the array run).
#pragma once
#include <string>

#include "moe/spec/sweep.hpp"

namespace moe::sweep_app {

struct Options {
    std::string sweep_path;
    std::string out_dir; // --out-dir: replaces the sweep file's out_dir
    int threads = 1;     // per run: --threads and OPENBLAS_NUM_THREADS
    bool resume = false;
    bool dry_run = false;
    int jobs = 0;        // run: runs at a time (0 = nproc / threads)
    // submit
    std::string partition, time_limit;
    int cpus_per_task = 1;
    int max_running = 0;
    // collect
    std::string csv, by;
};

// The command line (shell) of one run of the sweep, as parallel and the array run it.
// `index` is shell text: a number, or "$SLURM_ARRAY_TASK_ID" in the array script.
std::string task_command(const spec::Sweep & sw, const Options & o, const std::string & index, bool resume);
// The program's arguments for run `index` (fresh, or --resume), without a log redirection.
std::vector<std::string> run_argv(const spec::Sweep & sw, size_t index, int threads, bool resume);

int cmd_task(const Options & o, size_t index);
int cmd_run(const Options & o);
int cmd_submit(const Options & o);
int cmd_collect(const Options & o);

} // namespace moe::sweep_app
