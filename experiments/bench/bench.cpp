// moe-bench: the standard workloads of ../shared/BENCHMARKS.md (mlp-mole, vit-mole,
// mlp-mole-wide) and the machine's GEMM peak, measured in the same run.
// For each workload: samples/s (median of timed repeats after 3 warm-up steps), achieved
// GFLOP/s (2 FLOP per multiply-add of every matrix product actually issued, counted by the blas
// wrapper), the ratio to the 1024x1024 SGEMM peak, and peak resident memory. Prints a table and,
// with --json, one JSON line per workload.
//   moe-bench [--workloads mlp-mole,vit-mole,mlp-mole-wide] [--repeats 5] [--steps 5] [--pairs 9]
//             [--threads N] [--experts E --k K --batch B] [--json]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "../../apps/common/cli_common.hpp"
#include "moe/blas/gemm.hpp"
#include "moe/core/rng.hpp"
#include "moe/models/model.hpp"
#include "moe/nn/kernels.hpp"
#include "moe/optim/optim.hpp"
#include "moe/routing/moe_site.hpp"
#include "moe/train/network.hpp"

using namespace moe;
using Clock = std::chrono::steady_clock;

namespace {

struct Workload {
    std::string name;
    models::ModelConfig model;
    models::InputShape in;
    std::vector<std::string> sites;
    std::vector<std::string> trainable_base; // base params that train (vit-mole: the head)
    int experts = 8, rank = 16, k = 2, batch = 512;
};

Workload make_workload(const std::string & name) {
    Workload w;
    w.name = name;
    if (name == "mlp-mole" || name == "mlp-mole-wide") {
        w.model.kind = "mlp";
        w.model.mlp.hidden = {1024, 1024};
        w.model.mlp.activation = "gelu";
        w.in = {784, 0, 0, 0};
        w.sites = {"layers.0", "layers.1"};
        w.experts = name == "mlp-mole-wide" ? 64 : 8;
        w.batch = 512;
    } else if (name == "vit-mole") {
        w.model.kind = "vit";
        w.model.vit = {4, 192, 6, 3, 768};
        w.in = {784, 1, 28, 28};
        w.sites = {"blocks.*.attn.qkv", "blocks.*.mlp.fc1", "blocks.*.mlp.fc2"};
        w.trainable_base = {"head.*"};
        w.batch = 64;
    } else {
        throw Error(ErrorCode::spec, "unknown workload '" + name + "' (mlp-mole, vit-mole, mlp-mole-wide)");
    }
    return w;
}

struct Result {
    double samples_per_s = 0, gflops = 0, ms_per_step = 0, flops_per_step = 0;
};

// One workload, built and warmed up: its network, optimizer and batch, and the timed step.
class Runner {
  public:
    explicit Runner(const Workload & w) : w_(w) {
        // the workload as a spec: frozen base, LoRA experts (A kaiming-uniform, B = 0, alpha = 2r),
        // softmax top-k router with renormalisation, Switch load-balancing loss 0.01
        spec::Spec sp;
        sp.model = w.model;
        sp.adapters.sites = w.sites;
        sp.adapters.kind = "lora";
        sp.adapters.experts = w.experts;
        sp.adapters.rank = w.rank;
        sp.adapters.alpha = 2.0 * w.rank;
        sp.routing.kind = "topk";
        sp.routing.k = w.k;
        sp.routing.renormalize = true;
        sp.loss.lbl = "switch";
        sp.loss.lbl_coef = 0.01;
        sp.train.unfreeze = w.trainable_base;
        net_ = train::build_network(sp, w.in, 10, 1, 1);
        const int B = w.batch;
        net_->plan(B);
        optim::OptimConfig oc;
        oc.kind = "adamw"; oc.lr = 1e-3;
        opt_ = std::make_unique<optim::Optimizer<float>>(oc, net_->store, std::vector<optim::GroupConfig>{});
        x_.resize((size_t)B * w.in.d); probs_.resize((size_t)B * kClasses); losses_.resize(B);
        dlogits_.resize((size_t)B * kClasses); y_.resize(B); task_.assign(B, 0);
        Rng rng(5);
        for (auto & v : x_) v = (float)rng.normal();
        for (auto & v : y_) v = (int32_t)rng.below(kClasses);
        for (int i = 0; i < 3; ++i) step(); // warm-up
    }

    // forward + backward + AdamW update
    void step() {
        const int B = w_.batch;
        net_->set_context(task_.data(), B, step_, (uint64_t)step_);
        const float * logits = net_->model->forward(x_.data(), B, true);
        net_->pool_lbl(true);
        nn::cross_entropy_forward(losses_.data(), probs_.data(), logits, y_.data(), B, kClasses, 0, kClasses);
        std::fill(dlogits_.begin(), dlogits_.end(), 0.f);
        nn::cross_entropy_backward(dlogits_.data(), probs_.data(), y_.data(), 1.0f / B, B, kClasses);
        net_->model->backward(dlogits_.data(), B);
        opt_->step(1.0, /*zero_grads=*/true);
        net_->after_step();
        ++step_;
    }

    // One timed repeat of `steps` steps: seconds and FLOP per step.
    std::pair<double, double> repeat(int steps) {
        blas::reset_gemm_flops();
        const auto t0 = Clock::now();
        for (int i = 0; i < steps; ++i) step();
        const double t = std::chrono::duration<double>(Clock::now() - t0).count() / steps;
        return {t, blas::gemm_flops() / steps};
    }

    const Workload & workload() const { return w_; }

  private:
    static constexpr int kClasses = 10;
    Workload w_;
    std::unique_ptr<train::Network> net_;
    std::unique_ptr<optim::Optimizer<float>> opt_;
    std::vector<float> x_, probs_, losses_, dlogits_;
    std::vector<int32_t> y_, task_;
    int64_t step_ = 0;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

Result run_workload(const Workload & w, int repeats, int steps_per_repeat) {
    Runner run(w);
    std::vector<double> times;
    double flops = 0;
    for (int r = 0; r < repeats; ++r) {
        const auto [t, f] = run.repeat(steps_per_repeat);
        times.push_back(t);
        flops = f;
    }
    const double t = median(times);
    Result res;
    res.ms_per_step = 1000 * t;
    res.samples_per_s = w.batch / t;
    res.flops_per_step = flops;
    res.gflops = flops / t / 1e9;
    return res;
}

// The step-time ratio b / a measured in pairs: both workloads built and warmed up side by side,
// their repeats alternated (a, b, a, b, ...), one ratio per pair. The host's speed drifts by
// several percent from one minute to the next; the workloads' own rows are minutes apart in a
// full run (vit-mole sits between them), a pair is a fraction of a second.
struct PairedRatio {
    double median = 0, lo = 0, hi = 0;
    int pairs = 0;
};

PairedRatio paired_ratio(const Workload & a, const Workload & b, int pairs, int steps_per_repeat) {
    Runner ra(a), rb(b);
    std::vector<double> ratios;
    for (int i = 0; i < pairs; ++i) {
        const double ta = ra.repeat(steps_per_repeat).first;
        const double tb = rb.repeat(steps_per_repeat).first;
        ratios.push_back(tb / ta);
    }
    PairedRatio pr;
    pr.pairs = pairs;
    pr.median = median(ratios);
    pr.lo = *std::min_element(ratios.begin(), ratios.end());
    pr.hi = *std::max_element(ratios.begin(), ratios.end());
    return pr;
}

// The machine's GEMM peak: 1024^3 SGEMM at the run's thread count, the better of OpenBLAS's own
// threading and the pool's split of the same product (the ratio is taken against the higher).
struct Peak {
    double openblas, split;
    double best() const { return std::max(openblas, split); }
};
Peak gemm_peak_gflops() { return {blas::sgemm_gflops(1024, 7, true), blas::sgemm_gflops(1024, 7, false)}; }

double peak_rss_mb() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

} // namespace

int main(int argc, char ** argv) {
    apps::select_blas_kernels(argc, argv);
    CLI::App app{"moe-bench: the standard workloads (../shared/BENCHMARKS.md) against this machine's GEMM peak"};
    std::string list = "mlp-mole,vit-mole,mlp-mole-wide";
    int repeats = 5, steps = 5, pairs = 9, experts = 0, k = 0, batch = 0;
    bool json = false;
    apps::CommonArgs common;
    app.add_option("--workloads", list, "comma-separated workloads");
    app.add_option("--repeats", repeats, "timed repeats (median reported)")->check(CLI::PositiveNumber);
    app.add_option("--steps", steps, "steps per timed repeat")->check(CLI::PositiveNumber);
    app.add_option("--pairs", pairs,
                   "alternated repeat pairs for the mlp-mole-wide / mlp-mole step-time ratio (when both run)")
        ->check(CLI::PositiveNumber);
    app.add_option("--experts", experts, "override E of every workload (cost-growth tables)");
    app.add_option("--k", k, "override k of every workload");
    app.add_option("--batch", batch, "override the batch of every workload");
    app.add_flag("--json", json, "also print one JSON line per workload");
    apps::add_common_options(app, common);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError & e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : 2; // usage errors exit 2, as in every binary
    }
    apps::install_logger(common);
    return apps::run_guarded([&]() -> int {
        blas::blas_init(common.threads < 0 ? 0 : common.threads);
        const Peak pk = gemm_peak_gflops();
        const double peak = pk.best();
        fmt::print("GEMM peak (1024^3 SGEMM, {} threads): {:.1f} GFLOP/s (OpenBLAS's own threads {:.1f}, split over "
                   "moe-lab's pool {:.1f})\n",
                   blas::blas_threads(), peak, pk.openblas, pk.split);
        fmt::print("| workload | E | k | batch | samples/s | ms/step | GFLOP/step | GFLOP/s | of peak | peak RSS MB |\n");
        fmt::print("|---|---|---|---|---|---|---|---|---|---|\n");
        std::stringstream ss(list);
        std::vector<std::string> jsonl;
        double ms_narrow = 0, ms_wide = 0; // mlp-mole (E = 8) and mlp-mole-wide (E = 64)
        Workload narrow, wide;
        for (std::string name; std::getline(ss, name, ',');) {
            Workload w = make_workload(name);
            if (experts > 0) w.experts = experts;
            if (k > 0) w.k = k;
            if (batch > 0) w.batch = batch;
            Result r = run_workload(w, repeats, steps);
            const double rss = peak_rss_mb();
            if (w.name == "mlp-mole") { ms_narrow = r.ms_per_step; narrow = w; }
            if (w.name == "mlp-mole-wide") { ms_wide = r.ms_per_step; wide = w; }
            fmt::print("| {} | {} | {} | {} | {:.0f} | {:.2f} | {:.3f} | {:.1f} | {:.1f}% | {:.0f} |\n", w.name, w.experts, w.k,
                       w.batch, r.samples_per_s, r.ms_per_step, r.flops_per_step / 1e9, r.gflops, 100 * r.gflops / peak, rss);
            jsonl.push_back(fmt::format("{{\"workload\":\"{}\",\"experts\":{},\"k\":{},\"batch\":{},\"samples_per_s\":{:.2f},"
                                        "\"ms_per_step\":{:.4f},\"gflop_per_step\":{:.5f},\"gflops\":{:.3f},\"peak_gflops\":{:.3f},"
                                        "\"peak_openblas_gflops\":{:.3f},\"peak_split_gflops\":{:.3f},\"ratio\":{:.4f},\"peak_rss_mb\":{:.1f},\"threads\":{}}}",
                                        w.name, w.experts, w.k, w.batch, r.samples_per_s, r.ms_per_step, r.flops_per_step / 1e9,
                                        r.gflops, peak, pk.openblas, pk.split, r.gflops / peak, rss, blas::blas_threads()));
            std::fflush(stdout);
        }
        if (ms_narrow > 0 && ms_wide > 0 && experts == 0) { // issue 3: <= 1.5, issue 6: <= 1.3
            fmt::print("step time mlp-mole-wide / mlp-mole (E = 64 / E = 8, k = {}): {:.2f} from the rows above", wide.k,
                       ms_wide / ms_narrow);
            std::fflush(stdout);
            const PairedRatio pr = paired_ratio(narrow, wide, pairs, steps);
            fmt::print("; paired ({} alternated repeats of {} steps each): median {:.2f}, range {:.2f}-{:.2f}\n", pr.pairs,
                       steps, pr.median, pr.lo, pr.hi);
            jsonl.push_back(fmt::format("{{\"step_time_ratio\":\"mlp-mole-wide/mlp-mole\",\"experts\":[{},{}],\"k\":{},"
                                        "\"from_rows\":{:.4f},\"paired_median\":{:.4f},\"paired_min\":{:.4f},"
                                        "\"paired_max\":{:.4f},\"pairs\":{},\"steps_per_repeat\":{},\"threads\":{}}}",
                                        narrow.experts, wide.experts, wide.k, ms_wide / ms_narrow, pr.median, pr.lo,
                                        pr.hi, pr.pairs, steps, blas::blas_threads()));
        }
        if (json)
            for (auto & l : jsonl) fmt::print("{}\n", l);
        return 0;
    });
}
