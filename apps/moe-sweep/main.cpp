// moe-sweep: run a sweep file (docs/sweeps.md) of moe-train runs under GNU parallel, submit it as
// a Slurm job array, or collect its runs into one moe-eval summarize table.
#include <cstdio>

#include "../common/cli_common.hpp"
#include "../common/version.hpp"
#include "commands.hpp"

int main(int argc, char ** argv) {
    CLI::App app{"moe-sweep: the runs of a sweep file (a base spec, a grid and/or explicit override sets, seeds),\n"
                 "on this machine under GNU parallel or on a cluster as a Slurm job array (docs/sweeps.md).\n"
                 "Every run's --set keys are checked against its spec before anything runs.\n"
                 "Exit codes: 0 ok, 1 internal error, 2 bad sweep file or usage, 3 a run failed or is missing,\n"
                 "a tool is not installed, or I/O failed."};
    app.require_subcommand(1);
    moe::sweep_app::Options o;
    size_t index = 0;
    auto common = [&](CLI::App * sub) {
        sub->add_option("sweep", o.sweep_path, "sweep file (JSON)")->required()->check(CLI::ExistingFile);
        sub->add_option("--out-dir", o.out_dir, "write the runs here instead of the sweep file's out_dir");
    };
    auto * run = app.add_subcommand("run", "run every run here under GNU parallel (a joblog in OUT_DIR)");
    common(run);
    run->add_option("-j,--jobs", o.jobs, "runs at a time (default: cores / --threads)")->check(CLI::PositiveNumber);
    run->add_option("--threads", o.threads, "threads of each run (also OPENBLAS_NUM_THREADS)")->check(CLI::PositiveNumber);
    run->add_flag("--resume", o.resume,
                  "rerun the failed runs and run the missing ones; unfinished runs continue from their checkpoints");
    run->add_flag("--dry-run", o.dry_run, "print the moe-train command of every run and exit");
    auto * submit = app.add_subcommand("submit", "write an sbatch job-array script (one task per run) and submit it");
    common(submit);
    bool slurm = false;
    submit->add_flag("--slurm", slurm, "submit to Slurm (the only scheduler)")->required();
    submit->add_option("-p,--partition", o.partition, "sbatch --partition");
    submit->add_option("-t,--time", o.time_limit, "sbatch --time of each task, e.g. 2:00:00");
    submit->add_option("-c,--cpus-per-task", o.cpus_per_task, "sbatch --cpus-per-task (also each run's --threads)")
        ->check(CLI::PositiveNumber);
    submit->add_option("--max-running", o.max_running, "at most this many tasks at once (--array=0-N%M)")
        ->check(CLI::PositiveNumber);
    submit->add_flag("--dry-run", o.dry_run, "print the sbatch script and exit");
    auto * collect = app.add_subcommand("collect", "moe-eval summarize over the runs (missing runs listed, exit 3)");
    common(collect);
    collect->add_option("--by", o.by, "moe-eval summarize --by key,...");
    collect->add_option("--csv", o.csv, "moe-eval summarize --csv FILE");
    auto * task = app.add_subcommand("task", "run one run of the sweep (what the parallel jobs and array tasks run)");
    common(task);
    task->add_option("--index", index, "the run's position in the sweep (0-based)")->required();
    task->add_option("--threads", o.threads, "threads of the run")->check(CLI::PositiveNumber);
    task->add_flag("--resume", o.resume, "continue from the run's checkpoint if there is one; a finished run is skipped");
    moe::apps::add_version_flag(app, "moe-sweep");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError & e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }
    return moe::apps::run_guarded([&]() -> int {
        if (*run) return moe::sweep_app::cmd_run(o);
        if (*submit) {
            o.threads = o.cpus_per_task;
            return moe::sweep_app::cmd_submit(o);
        }
        if (*collect) return moe::sweep_app::cmd_collect(o);
        return moe::sweep_app::cmd_task(o, index);
    });
}
