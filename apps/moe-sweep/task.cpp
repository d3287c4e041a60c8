// moe-sweep task SWEEP --index I: one run of the sweep, as GNU parallel's jobs and the Slurm
// array's tasks start it. A finished run (its run file, no checkpoint) is left alone; with
// --resume an unfinished one (its checkpoint OUT.ckpt) continues with moe-train --resume; else the
// run starts fresh. The program replaces this process (exec), so a SIGTERM reaches it directly
// and it checkpoints; its output is appended to OUT_DIR/NAME.log.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "commands.hpp"
#include "process.hpp"

namespace moe::sweep_app {

namespace fs = std::filesystem;

std::vector<std::string> run_argv(const spec::Sweep & sw, size_t index, int threads, bool resume) {
    const spec::SweepRun & r = sw.runs.at(index);
    std::vector<std::string> argv = {sibling(sw.program), r.spec, "-o", r.out, "--threads", std::to_string(threads), "-q"};
    for (const auto & o : r.overrides) {
        argv.push_back("--set");
        argv.push_back(o);
    }
    if (resume) argv.push_back("--resume");
    return argv;
}

std::string task_command(const spec::Sweep & sw, const Options & o, const std::string & index, bool resume) {
    std::string cmd = shell_quote((fs::path(self_dir()) / "moe-sweep").string()) + " task " +
                      shell_quote(absolute(o.sweep_path)) + " --index " + index + " --threads " +
                      std::to_string(o.threads);
    if (!o.out_dir.empty()) cmd += " --out-dir " + shell_quote(absolute(o.out_dir));
    if (resume) cmd += " --resume";
    return cmd;
}

int cmd_task(const Options & o, size_t index) {
    const spec::Sweep sw = spec::load_sweep(o.sweep_path, o.out_dir);
    if (index >= sw.runs.size()) {
        std::fprintf(stderr, "error: --index %zu: the sweep %s has %zu runs (0..%zu)\n", index, o.sweep_path.c_str(),
                     sw.runs.size(), sw.runs.size() - 1);
        return 2;
    }
    const spec::SweepRun & r = sw.runs[index];
    std::error_code ec;
    fs::create_directories(sw.out_dir, ec);
    const bool ckpt = fs::exists(r.out + ".ckpt", ec), done = fs::exists(r.out, ec);
    const std::string log = (fs::path(sw.out_dir) / (r.name + ".log")).string();
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        std::fprintf(stderr, "error: cannot open the run log %s: %s\n", log.c_str(), std::strerror(errno));
        return 3;
    }
    if (o.resume && done && !ckpt) {
        const std::string line = "== moe-sweep: " + r.out + " is finished; nothing to do\n";
        (void)!::write(fd, line.data(), line.size());
        std::printf("%s: finished earlier\n", r.name.c_str());
        return 0;
    }
    const auto argv = run_argv(sw, index, o.threads, o.resume && ckpt);
    std::string line = "== moe-sweep:";
    for (const auto & a : argv) line += " " + shell_quote(a);
    line += "\n";
    (void)!::write(fd, line.data(), line.size());
    std::fflush(stdout);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    ::setenv("OPENBLAS_NUM_THREADS", std::to_string(o.threads).c_str(), 1);
    std::vector<char *> args;
    for (const auto & a : argv) args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "error: cannot run %s: %s\n", argv[0].c_str(), std::strerror(errno));
    return 3;
}

} // namespace moe::sweep_app
