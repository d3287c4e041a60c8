// moe-sweep collect SWEEP: moe-eval summarize over the sweep's run files, in sweep order; runs
// whose file is missing (not run yet, failed, or still unfinished: only OUT.ckpt) are listed and
// make the exit code 3, after the table of the others. moe-eval runs in OUT_DIR, so the table
// names each run by its file name, whichever directory (or engine) produced it.
#include <cstdio>
#include <filesystem>

#include "commands.hpp"
#include "process.hpp"

namespace moe::sweep_app {

namespace fs = std::filesystem;

int cmd_collect(const Options & o) {
    const spec::Sweep sw = spec::load_sweep(o.sweep_path, o.out_dir);
    std::vector<std::string> argv = {sibling("moe-eval"), "summarize"};
    std::vector<std::string> missing;
    std::error_code ec;
    for (const auto & r : sw.runs) {
        if (fs::exists(r.out, ec))
            argv.push_back(fs::path(r.out).filename().string());
        else
            missing.push_back(r.name + " (" + r.out + (fs::exists(r.out + ".ckpt", ec) ? ": unfinished, a checkpoint" : ": missing") + ")");
    }
    int rc = 0;
    if (argv.size() > 2) {
        if (!o.by.empty()) argv.insert(argv.end(), {"--by", o.by});
        if (!o.csv.empty()) argv.insert(argv.end(), {"--csv", absolute(o.csv)});
        std::fflush(stdout);
        rc = run(argv, nullptr, sw.out_dir);
    }
    if (!missing.empty()) {
        std::fprintf(stderr, "moe-sweep: %zu of %zu runs have no run file:\n", missing.size(), sw.runs.size());
        for (const auto & m : missing) std::fprintf(stderr, "  missing: %s\n", m.c_str());
        std::fprintf(stderr, "hint: moe-sweep run %s --resume (or submit --slurm again) finishes them\n",
                     o.sweep_path.c_str());
        return rc != 0 ? rc : 3;
    }
    return rc;
}

} // namespace moe::sweep_app
