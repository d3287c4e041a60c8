// moe-train: train what a JSON experiment spec makes trainable and write an HDF5 run file.
#include <cstdio>
#include <filesystem>
#include <optional>

#include "../common/cli_common.hpp"
#include "moe/core/memory_limit.hpp"
#include "moe/train/memory_estimate.hpp"
#include "../common/version.hpp"
#include "moe/spec/spec.hpp"
#include "moe/train/parts.hpp"
#include "moe/train/trainer.hpp"
#include "../common/processes.hpp"

int main(int argc, char ** argv) {
    moe::apps::check_address_space("moe-train");
    moe::apps::select_blas_kernels(argc, argv);
    moe::apps::Processes procs(&argc, &argv); // under mpirun: one rank of a data-parallel run
    const bool rank0 = procs.rank0();
    CLI::App app{
        "moe-train: train a base model (or adapters on a frozen base) from a JSON experiment spec.\n"
        "Writes every weight and metric to one HDF5 run file (readable with h5py).\n"
        "Checkpoints go to OUT.ckpt (log.checkpoint_every steps, every epoch, on SIGINT/SIGTERM); --resume continues.\n"
        "A run whose memory estimate exceeds the memory available (MemAvailable, ulimit -v, the cgroup\n"
        "limit) is refused before anything large is allocated (exit 2; see --estimate-memory).\n"
        "Exit codes: 0 ok, 1 internal error, 2 bad spec or usage, 3 I/O or bad data, 4 numeric failure,\n"
        "130 interrupted (checkpoint written).\n"
#ifdef MOE_HAVE_MPI
        "Data parallel: mpirun -np N moe-train SPEC --set train.shards=S (N dividing S; docs/distributed.md)."
#else
        "Built without MPI (openmpi-bin libopenmpi-dev): no data-parallel runs (docs/distributed.md)."
#endif
    };
    std::string spec_path, out_path;
    std::vector<std::string> overrides;
    bool estimate_memory = false, print_spec = false, spec_reference = false, resume = false, markdown = false,
         force = false;
    std::string list;
    moe::apps::CommonArgs common;
    app.add_option("spec", spec_path, "experiment spec (JSON)");
    app.add_flag("--spec-reference", spec_reference,
                 "print every spec key with its type, default and meaning (Markdown) and exit");
    app.add_option("--list", list,
                   "print the registered parts of a kind, one name a line, and exit: routers, experts, losses, models")
        ->check(CLI::IsMember(moe::train::part_kinds()));
    app.add_flag("--markdown", markdown, "with --list: a Markdown table (docs/methods/README.md)");
    auto * out_opt = app.add_option("-o,--out", out_path, "run file to write (.h5); default runs/<exp.name>.h5");
    app.add_option("--set", overrides,
                   "override a spec key, e.g. --set train.lr=0.001 (value parsed as JSON, else a string)")
        ->take_all();
    app.add_flag("--print-spec", print_spec, "print the resolved spec (defaults filled in) and exit");
    app.add_flag("--estimate-memory", estimate_memory,
                 "print what the run would allocate, part by part (data, parameters, gradients, optimizer, "
                 "activations, overhead), and the memory available, then exit without training (docs/memory.md)");
    app.add_flag("--resume", resume, "continue the run from its checkpoint OUT.ckpt (same spec and --set overrides)");
    moe::apps::add_force_option(app, force, "an existing OUT, or start over from an unfinished run's OUT.ckpt");
    moe::apps::add_common_options(app, common);
    moe::apps::add_version_flag(app, "moe-train");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError & e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }
    moe::apps::install_logger(common);
    procs.quiet_other_ranks();
    if (spec_reference) {
        std::printf("| key | type | default | meaning |\n| --- | --- | --- | --- |\n");
        for (const auto & f : moe::spec::spec_reference())
            std::printf("| `%s` | %s | %s | %s |\n", f.path.c_str(), f.type.c_str(),
                        f.default_value.empty() ? "" : ("`" + f.default_value + "`").c_str(), f.doc.c_str());
        return 0;
    }
    if (!list.empty()) {
        if (markdown)
            std::printf("%s", moe::train::parts_table(list).c_str());
        else
            for (const auto & n : moe::train::part_names(list)) std::printf("%s\n", n.c_str());
        return 0;
    }
    if (spec_path.empty()) {
        std::fprintf(stderr, "error: the spec argument is required (see --help)\n");
        return 2;
    }
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
            const auto est = moe::train::estimate_run_memory(spec, "moe-train");
            std::printf("%s", moe::train::memory_report(est, moe::available_memory()).c_str());
            return 0;
        }
        if (out_path.empty()) {
            out_path = moe::spec::default_run_path(spec);
            std::filesystem::create_directories("runs");
        }
        std::optional<moe::io::OutputLock> lock; // (rank 0 writes)
        if (rank0) lock.emplace(moe::apps::claim_run_outputs(spec, spec_path, out_path, force, resume));
        moe::apps::ConsoleObserver console(spec.log.progress, common.quiet);
        moe::train::Observer silent; // the ranks but 0
        moe::train::Observer & obs = rank0 ? static_cast<moe::train::Observer &>(console) : silent;
        moe::train::TrainOptions opt;
        opt.resume = resume;
        opt.spec_source = spec_path;
        opt.resume_command = procs.launcher() + moe::apps::resume_command(argc, argv);
        opt.comm = procs.comm();
        moe::apps::install_interrupt_handlers();
        const auto sum = moe::train::run_training(spec, out_path, obs, opt);
        if (sum.already_finished && rank0) std::printf("run %s already finished; nothing to do\n", out_path.c_str());
        return 0;
    });
    return procs.finish(rc);
}
