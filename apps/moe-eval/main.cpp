// moe-eval: evaluate a run, analyse its routing, change routing at inference, ablate experts;
// `moe-eval summarize RUN.h5 ...` tabulates many runs; `moe-eval export-metrics RUN.h5 --csv DIR`
// writes a run's series as CSV files.
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/core.h>

#include "../common/cli_common.hpp"
#include "../common/version.hpp"
#include "generate.hpp"
#include "moe/io/run_file.hpp"
#include "moe/train/evaluator.hpp"
#include "moe/train/export.hpp"
#include "moe/train/hf_export.hpp"
#include "moe/train/peft_export.hpp"
#include "moe/train/summary.hpp"

using namespace moe;

// A usage mistake: exit 2, one line naming the option.
[[noreturn]] static void usage(const std::string & msg) { throw Error(ErrorCode::spec, msg); }

// "0,3": expert indices, each a whole non-negative integer.
static std::vector<int> parse_ints(const std::string & s) {
    std::vector<int> v;
    if (s.empty()) return v;
    std::stringstream ss(s);
    for (std::string t; std::getline(ss, t, ',');) {
        int x = -1;
        const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), x);
        if (t.empty() || ec != std::errc() || end != t.data() + t.size() || x < 0)
            usage("--disable '" + s + "': '" + t + "' is not an expert index (a comma-separated list of 0, 1, ...)");
        v.push_back(x);
    }
    if (s.back() == ',')
        usage("--disable '" + s + "': a trailing comma (expected a comma-separated list of 0, 1, ...)");
    return v;
}

static void print_report(const train::EvalReport & r) {
    const auto & o = r.options;
    std::string how;
    if (o.k > 0) how += fmt::format(", k {}", o.k);
    if (o.force == "uniform") how += ", uniform routing";
    if (o.force == "oracle")
        how += o.oracle_map == "fixed" ? ", oracle routing (task t -> expert t mod E)"
                                       : ", oracle routing (each task to its expert by the learned affinity)";
    if (!o.disable.empty()) {
        std::string off;
        for (int e : o.disable) off += (off.empty() ? "" : ",") + std::to_string(e);
        how += ", experts " + off + " disabled";
    }
    if (r.text) {
        fmt::print(
            "run {} ({} split, {} target tokens{}): {:.4f} bits per byte (mean over domains {:.4f}), loss {:.4f} "
            "nats, perplexity {:.3f}, next-token accuracy {:.4f}\n\n",
            r.run_path, r.split, r.overall.n, how, r.overall.bpb, r.overall.bpb_mean, r.overall.loss, r.overall.ppl,
            r.overall.accuracy);
        fmt::print("| domain | tokens | bpb | loss (nats) | perplexity | accuracy |\n|---|---|---|---|---|---|\n");
        for (const auto & t : r.overall.tasks)
            fmt::print("| {} | {} | {:.4f} | {:.4f} | {:.3f} | {:.4f} |\n", t.task, t.n, t.bpb, t.loss, t.ppl,
                       t.accuracy);
    } else {
        fmt::print("run {} ({} split, {} samples{}): loss {:.4f} accuracy {:.4f}\n\n", r.run_path, r.split, r.overall.n,
                   how, r.overall.loss, r.overall.accuracy);
        fmt::print("| task | samples | loss | accuracy |\n|---|---|---|---|\n");
        for (const auto & t : r.overall.tasks)
            fmt::print("| {} | {} | {:.4f} | {:.4f} |\n", t.task, t.n, t.loss, t.accuracy);
    }
    if (r.sites.empty()) return;
    fmt::print("\n| site | experts | load (share per expert) | entropy | experts/token | dropped | FLOPs vs dense | "
               "task-expert MI | NMI{} |\n",
               r.ground_truth ? " (vs true routing)" : "");
    fmt::print("|---|---|---|---|---|---|---|---|---|\n");
    for (const auto & s : r.sites) {
        std::string load;
        for (double l : s.load) load += fmt::format("{}{:.2f}", load.empty() ? "" : " ", l);
        fmt::print("| {} | {} | {} | {:.3f} | {:.2f} | {:.3f} | {:.3f} | {:.3f} | {:.3f} |\n", s.site, s.experts, load,
                   s.entropy, s.active, s.dropped, s.flops_ratio, s.mi, s.nmi);
    }
    for (const auto & s : r.sites) {
        if (s.oracle.empty()) continue;
        std::string map;
        for (size_t t = 0; t < s.oracle.size() && t < r.task_names.size(); ++t)
            map += fmt::format("{}{} -> e{}", map.empty() ? "" : ", ", r.task_names[t], s.oracle[t]);
        fmt::print("\noracle {}: {}\n", s.site, map);
    }
    for (const auto & s : r.sites) {
        fmt::print("\naffinity {} (share of each task's assignments per expert)\n| task |", s.site);
        for (int e = 0; e < s.experts; ++e) fmt::print(" e{} |", e);
        fmt::print("\n|---|");
        for (int e = 0; e < s.experts; ++e) fmt::print("---|");
        fmt::print("\n");
        for (size_t t = 0; t < r.task_names.size(); ++t) {
            fmt::print("| {} |", r.task_names[t]);
            for (int e = 0; e < s.experts; ++e) fmt::print(" {:.2f} |", s.affinity[t * s.experts + e]);
            fmt::print("\n");
        }
    }
    if (!r.ablations.empty()) {
        fmt::print("\nablation: {} change per {} when one expert is removed\n| site | expert |",
                   r.text ? "bits-per-byte" : "accuracy", r.text ? "domain" : "task");
        for (auto & t : r.task_names) fmt::print(" {} |", t);
        fmt::print("\n|---|---|");
        for (size_t t = 0; t < r.task_names.size(); ++t) fmt::print("---|");
        fmt::print("\n");
        for (const auto & a : r.ablations) {
            fmt::print("| {} | {} |", a.site, a.expert);
            for (double d : r.text ? a.delta_bpb : a.delta) fmt::print(" {:+.4f} |", d);
            fmt::print("\n");
        }
    }
}

int main(int argc, char ** argv) {
    apps::check_address_space("moe-eval");
    apps::select_blas_kernels(argc, argv);
    CLI::App app{"moe-eval: evaluate a run file, analyse routing, change routing at inference, ablate experts.\n"
                 "  moe-eval RUN.h5 [-o EVAL.h5] [--set k=v ...] [--k K] [--uniform | --oracle[=fixed]] [--disable "
                 "0,3] [--ablate]\n"
                 "  moe-eval summarize RUN.h5 ... [--csv FILE] [--by key,...]\n"
                 "  moe-eval export-metrics RUN.h5 --csv DIR\n"
                 "  moe-eval export RUN.h5 DIR [--format peft|moe-peft|hf] [--force]\n"
                 "  moe-eval generate RUN.h5 --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] "
                 "[--seed S]\n"
                 "Exit codes: 0 ok, 1 internal error, 2 bad usage or spec, 3 I/O or bad file, 4 numeric failure."};
    std::string run, out, split = "test", disable, csv, by, oracle_map, export_run, export_dir;
    std::vector<std::string> overrides, runs;
    int k = 0;
    bool uniform = false, ablate = false, force = false;
    apps::CommonArgs common;
    app.add_option("run", run, "run file written by moe-train");
    auto * out_opt = app.add_option("-o,--out", out, "write the analysis to this HDF5 file (never into the run file)");
    app.add_option("--set", overrides, "override a key of the run's spec (e.g. other tasks or data)")->take_all();
    app.add_option("--split", split, "test or val")->check(CLI::IsMember({"test", "val"}));
    app.add_option("--k", k, "evaluate with another top-k (self-slimmable evaluation)")->check(CLI::PositiveNumber);
    app.add_flag("--uniform", uniform, "route every token to every expert with weight 1/E");
    auto * oracle_opt = app.add_flag("--oracle{affinity}", oracle_map,
                                     "route every token to the expert of its task: the expert the router sends most "
                                     "of the task to (an assignment over the learned task x expert affinity); "
                                     "--oracle=fixed: expert task id mod E");
    auto * disable_opt =
        app.add_option("--disable", disable, "comma-separated experts removed from routing at every site");
    app.add_flag("--ablate", ablate, "drop each (site, expert) in turn and report the accuracy change per task");
    apps::add_force_option(app, force, "an existing -o file");
    apps::add_common_options(app, common);
    auto * sum = app.add_subcommand("summarize", "one row per run: spec values that differ and final metrics");
    sum->add_option("runs", runs, "run files")->required();
    auto * csv_opt = sum->add_option("--csv", csv, "also write the table as CSV");
    sum->add_option("--by", by, "group by these spec keys (comma-separated): means and standard deviations");
    apps::add_force_option(*sum, force, "an existing --csv file");
    apps::GenerateArgs gen;
    apps::add_generate_command(app, gen);
    auto * exp_cmd = app.add_subcommand("export-metrics", "write a run's series as CSV files (pandas: pd.read_csv)");
    exp_cmd->add_option("run", export_run, "run file (moe-train or moe-expand)")->required();
    exp_cmd
        ->add_option("--csv", export_dir,
                     "directory of the CSV files (created if missing): metrics/train.csv, metrics/eval/<split>.csv, "
                     "routing/<site>.csv, stream/accuracy_matrix.csv")
        ->required();
    std::string peft_run, peft_dir;
    train::PeftExportOptions peft_opt;
    auto * peft_cmd = app.add_subcommand("export", "write a run's LoRA experts as PEFT adapters (docs/peft.md)");
    peft_cmd->add_option("run", peft_run, "run file of moe-train on a GPT-2 or LLaMA-shaped model")->required();
    peft_cmd->add_option("dir", peft_dir, "output directory (made; must not exist unless --force)")->required();
    peft_cmd
        ->add_option("--format", peft_opt.format,
                     "peft: PEFT LoRA adapters (one per expert, routers in a side file); moe-peft: MoE-PEFT's "
                     "MoLA / LoRAMoE names (LLaMA); hf: the model as a Hugging Face checkpoint (a single LoRA "
                     "merged)")
        ->check(CLI::IsMember({"peft", "moe-peft", "hf"}));
    apps::add_force_option(*peft_cmd, peft_opt.force, "an existing output directory");
    apps::add_version_flag(app, "moe-eval");
    app.require_subcommand(0, 1);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError & e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }
    apps::install_logger(common);
    return apps::run_guarded([&]() -> int {
        if (exp_cmd->parsed()) {
            for (const auto & p : train::export_metrics_csv(export_run, export_dir)) fmt::print("{}\n", p);
            return 0;
        }
        if (peft_cmd->parsed()) {
            const auto files = peft_opt.format == "hf" ? train::export_hf_model(peft_run, peft_dir, peft_opt.force)
                                                       : train::export_peft(peft_run, peft_dir, peft_opt);
            for (const auto & p : files) fmt::print("{}/{}\n", peft_dir, p);
            return 0;
        }
        if (sum->parsed()) {
            if (csv_opt->count() > 0 && csv.empty()) usage("--csv: an empty path");
            std::vector<std::string> keys;
            std::stringstream ss(by);
            for (std::string t; std::getline(ss, t, ',');)
                if (!t.empty()) keys.push_back(t);
            std::vector<std::pair<std::string, std::string>> inputs;
            for (const auto & r : runs) inputs.push_back({"one of the runs", r});
            io::check_output_not_input(csv, inputs, "--csv");
            io::check_new_output(csv, force, "--csv");
            auto res = train::summarize_runs(runs, keys);
            fmt::print("{}", res.runs.markdown());
            if (!keys.empty()) fmt::print("\n{}", res.groups.markdown());
            if (!csv.empty()) { io::write_text_atomic(csv, keys.empty() ? res.runs.csv() : res.groups.csv()); }
            return 0;
        }
        if (gen.cmd->parsed()) return apps::run_generate(gen, common.threads);
        if (run.empty()) usage("give a run file (see --help)");
        if (out_opt->count() > 0 && out.empty()) usage("-o: an empty path");
        {
            std::error_code ec;
            if (!out.empty() && (out == run || std::filesystem::equivalent(out, run, ec)))
                usage("-o '" + out +
                      "' is the run file itself; the analysis goes to a new file (the run is never modified)");
        }
        const bool oracle = oracle_opt->count() > 0;
        if (oracle && oracle_map != "affinity" && oracle_map != "fixed")
            usage("--oracle=" + oracle_map +
                  ": expected --oracle (each task to its expert by the learned affinity) "
                  "or --oracle=fixed (task t to expert t mod E)");
        if (uniform && oracle) usage("--uniform and --oracle: choose one routing override");
        train::EvalOptions opt;
        opt.overrides = overrides;
        opt.split = split;
        opt.k = k;
        opt.force = uniform ? "uniform" : oracle ? "oracle" : "";
        if (oracle) opt.oracle_map = oracle_map;
        if (disable_opt->count() > 0 && disable.empty())
            usage("--disable: an empty list (expected 0, 1, ... separated by commas)");
        opt.disable = parse_ints(disable);
        opt.out = out;
        opt.ablate = ablate;
        opt.threads = common.threads;
        const auto lock =
            out.empty() ? io::OutputLock() : train::claim_outputs(out, "", {{"the run file", run}}, {force});
        auto rep = train::evaluate_run(run, opt);
        print_report(rep);
        if (!out.empty()) {
            train::write_eval_report(rep, out);
            fmt::print("\neval file: {}\n", out);
        }
        return 0;
    });
}
