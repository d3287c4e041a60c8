// moe-sweep run SWEEP: every run of the sweep on this machine under GNU parallel, --jobs at a
// time, with a joblog (OUT_DIR/NAME.joblog). --resume reruns the failed runs and runs the missing
// ones (parallel --resume-failed), each unfinished run continuing from its checkpoint.
#include <thread>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "commands.hpp"
#include "moe/io/outputs.hpp"
#include "process.hpp"

namespace moe::sweep_app {

namespace fs = std::filesystem;

namespace {

struct JobResult {
    int exitval = 0, signal = 0;
};

// The last line of each job (Seq) in a GNU parallel joblog: Seq Host Starttime JobRuntime Send
// Receive Exitval Signal Command.
std::map<size_t, JobResult> read_joblog(const std::string & path) {
    std::map<size_t, JobResult> out;
    std::ifstream in(path);
    std::string line;
    std::getline(in, line); // the header
    while (std::getline(in, line)) {
        std::istringstream f(line);
        std::string col[8];
        for (auto & c : col) std::getline(f, c, '\t');
        try {
            out[std::stoul(col[0])] = {std::stoi(col[6]), std::stoi(col[7])};
        } catch (const std::exception &) {
        }
    }
    return out;
}

} // namespace

int cmd_run(const Options & o) {
    const spec::Sweep sw = spec::load_sweep(o.sweep_path, o.out_dir);
    spec::check_sweep(sw);
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const int jobs = o.jobs > 0 ? o.jobs : std::max(1, cores / std::max(1, o.threads));
    if (o.dry_run) {
        for (size_t i = 0; i < sw.runs.size(); ++i) {
            std::string line;
            for (const auto & a : run_argv(sw, i, o.threads, false)) line += (line.empty() ? "" : " ") + shell_quote(a);
            std::printf("%s\n", line.c_str());
        }
        return 0;
    }
    const std::string parallel = which("parallel");
    if (parallel.empty())
        throw Error(ErrorCode::io, "GNU parallel is not installed (moe-sweep run starts the runs with it)",
                    {"apt-get install parallel (Debian), or moe-sweep submit --slurm on a cluster"});
    fs::create_directories(sw.out_dir);
    const std::string joblog = (fs::path(sw.out_dir) / (sw.name + ".joblog")).string();
    const std::string commands = (fs::path(sw.out_dir) / (sw.name + ".commands")).string();
    std::error_code ec;
    if (!o.resume && fs::exists(joblog, ec))
        throw Error(ErrorCode::spec, "the joblog " + joblog + " exists: this sweep ran here before",
                    {"--resume runs the failed and missing runs (unfinished ones continue from their checkpoints); "
                     "or remove the joblog and the run files to start over"});
    std::string text;
    for (size_t i = 0; i < sw.runs.size(); ++i) text += task_command(sw, o, std::to_string(i), o.resume) + "\n";
    io::write_text_atomic(commands, text);
    std::printf("moe-sweep: %zu runs of %s under GNU parallel, %d at a time, %d thread(s) each%s\n", sw.runs.size(),
                sw.source.c_str(), jobs, o.threads, o.resume ? " (resuming the failed and missing runs)" : "");
    std::printf("moe-sweep: joblog %s, run logs %s/<run>.log\n", joblog.c_str(), sw.out_dir.c_str());
    std::fflush(stdout);
    std::vector<std::string> argv = {parallel, "--will-cite", "--jobs", std::to_string(jobs), "--joblog", joblog};
    if (o.resume) argv.push_back("--resume-failed");
    argv.insert(argv.end(), {"::::", commands});
    const int rc = run(argv);
    const auto results = read_joblog(joblog);
    size_t ok = 0;
    std::vector<std::string> failed;
    for (size_t i = 0; i < sw.runs.size(); ++i) {
        const auto it = results.find(i + 1);
        const std::string log = (fs::path(sw.out_dir) / (sw.runs[i].name + ".log")).string();
        if (it == results.end())
            failed.push_back(sw.runs[i].name + ": not run");
        else if (it->second.exitval != 0 || it->second.signal != 0)
            failed.push_back(sw.runs[i].name + ": " +
                             (it->second.signal ? "killed by signal " + std::to_string(it->second.signal)
                              : it->second.exitval > 128
                                  ? "killed by signal " + std::to_string(it->second.exitval - 128)
                                  : "exit " + std::to_string(it->second.exitval)) +
                             " (log " + log + ")");
        else
            ++ok;
    }
    std::printf("moe-sweep: %zu of %zu runs finished\n", ok, sw.runs.size());
    for (const auto & f : failed) std::fprintf(stderr, "failed: %s\n", f.c_str());
    if (!failed.empty() || rc != 0) {
        std::fprintf(stderr, "error: %zu of %zu runs did not finish\nhint: moe-sweep run %s --resume\n", failed.size(),
                     sw.runs.size(), o.sweep_path.c_str());
        return 3;
    }
    return 0;
}

} // namespace moe::sweep_app
