// moe-sweep submit SWEEP --slurm: an sbatch script for a job array, one task per run
// (OUT_DIR/NAME.sbatch), submitted with sbatch. Tasks are --requeue'able; a task that gets
// SIGTERM (preemption, `scontrol requeue`, or --signal=B:TERM@120 before the time limit) lets
// its run write a checkpoint, puts itself back in the queue, and when it starts again its run
// continues with moe-train --resume. A run killed outright (SIGKILL: the OOM killer, kill -9)
// requeues its task the same way, at most 3 times. Slurm's options: https://slurm.schedmd.com/sbatch.html
#include <cstdio>
#include <filesystem>

#include "commands.hpp"
#include "moe/io/outputs.hpp"
#include "process.hpp"

namespace moe::sweep_app {

namespace fs = std::filesystem;

namespace {

std::string script(const spec::Sweep & sw, const Options & o) {
    const std::string out_dir = absolute(sw.out_dir);
    std::string s = "#!/bin/bash\n";
    s += "# moe-sweep: " + std::to_string(sw.runs.size()) + " runs of " + absolute(o.sweep_path) +
         ", one array task each (docs/sweeps.md)\n";
    s += "#SBATCH --job-name=" + sw.name + "\n";
    std::string array = "0-" + std::to_string(sw.runs.size() - 1);
    if (o.max_running > 0) array += "%" + std::to_string(o.max_running);
    s += "#SBATCH --array=" + array + "\n";
    s += "#SBATCH --cpus-per-task=" + std::to_string(o.cpus_per_task) + "\n";
    if (!o.partition.empty()) s += "#SBATCH --partition=" + o.partition + "\n";
    if (!o.time_limit.empty()) s += "#SBATCH --time=" + o.time_limit + "\n";
    s += "#SBATCH --requeue\n";
    s += "#SBATCH --signal=B:TERM@120\n";
    s += "#SBATCH --open-mode=append\n";
    s += "#SBATCH --chdir=" + absolute(".") + "\n";
    s += "#SBATCH --output=" + out_dir + "/slurm-%A_%a.out\n";
    s += "set -u\n";
    s += "export OPENBLAS_NUM_THREADS=" + std::to_string(o.threads) + "\n";
    Options task = o;
    task.out_dir = out_dir;
    s += task_command(sw, task, "\"$SLURM_ARRAY_TASK_ID\"", true);
    s += " &\n";
    s += "pid=$!\n";
    s += "# SIGTERM (preemption, scontrol requeue, the time limit near): the run checkpoints and exits 130,\n";
    s += "# then this task goes back to the queue; started again, the run continues from its checkpoint\n";
    s += "on_term() {\n";
    s += "    kill -TERM \"$pid\" 2>/dev/null; wait \"$pid\"\n";
    s += "    scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\" 2>/dev/null || true\n";
    s += "    exit 130\n";
    s += "}\n";
    s += "trap on_term TERM\n";
    s += "wait \"$pid\"\n";
    s += "rc=$?\n";
    s += "# killed by a signal (the OOM killer, kill -9; scancel --signal=KILL ends this shell as well): back\n";
    s += "# to the queue, at most 3 times, to continue from the last checkpoint\n";
    s += "if [ \"$rc\" -gt 128 ] && [ \"$rc\" != 130 ] && [ \"${SLURM_RESTART_COUNT:-0}\" -lt 3 ]; then\n";
    s += "    echo \"moe-sweep: the run died of signal $((rc - 128)); requeued\" >&2\n";
    s += "    scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\" 2>/dev/null || true\n";
    s += "fi\n";
    s += "exit $rc\n";
    return s;
}

} // namespace

int cmd_submit(const Options & o) {
    const spec::Sweep sw = spec::load_sweep(o.sweep_path, o.out_dir);
    spec::check_sweep(sw);
    const std::string text = script(sw, o);
    const std::string path = (fs::path(sw.out_dir) / (sw.name + ".sbatch")).string();
    if (o.dry_run) {
        std::printf("%s", text.c_str());
        return 0;
    }
    const std::string sbatch = which("sbatch");
    if (sbatch.empty())
        throw Error(ErrorCode::io, "sbatch is not installed (moe-sweep submit --slurm submits the job array with it)",
                    {"run it on a Slurm login node (Debian: apt-get install slurm-client), or moe-sweep run locally"});
    fs::create_directories(sw.out_dir);
    io::write_text_atomic(path, text);
    std::string out;
    const int rc = run({sbatch, "--parsable", path}, &out);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    if (rc != 0) throw Error(ErrorCode::io, "sbatch " + path + " failed (exit " + std::to_string(rc) + ")");
    const std::string job = out.substr(0, out.find(';')); // "jobid;cluster" on a federation
    std::fprintf(stderr, "moe-sweep: submitted job array %s (%zu tasks) from %s\n", job.c_str(), sw.runs.size(),
                 path.c_str());
    std::fprintf(stderr, "moe-sweep: squeue -j %s; run logs %s/<run>.log; then moe-sweep collect %s\n", job.c_str(),
                 sw.out_dir.c_str(), o.sweep_path.c_str());
    std::printf("%s\n", job.c_str());
    return 0;
}

} // namespace moe::sweep_app
