// moe-bench: the standard workloads (mlp-mole, vit-mole, mlp-mole-wide, lm-mole, lm-pretrain;
// experiments/bench/README.md) and the machine's GEMM peak, measured in the same run.
// For each workload: samples/s (median of timed repeats after 3 warm-up steps), achieved
// GFLOP/s (2 FLOP per multiply-add of every matrix product actually issued, counted by the blas
// wrapper), the ratio to the 1024x1024 SGEMM peak, and peak resident memory; for the language
// models also training tokens/s, and for lm-mole generation tokens/s. Prints a table and,
// with --json, one JSON line per workload.
//   moe-bench [--workloads mlp-mole,vit-mole,mlp-mole-wide,lm-mole,lm-pretrain] [--repeats 5] [--steps 5] [--pairs 9]
//             [--context T] (the language models' sequence length: cost growth in T)
//             [--threads N] [--experts E --k K --batch B] [--json]
//   moe-bench --lora-kernels [--experts 64 --k 2 --batch 512 --rank 16]   one site's LoRA experts alone
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/format.h>

#include "../../apps/common/cli_common.hpp"
#include "../../apps/common/version.hpp"
#include "moe/adapters/adapters.hpp"
#include "moe/blas/gemm.hpp"
#include "moe/core/parallel.hpp"
#include "moe/core/rng.hpp"
#include "moe/models/model.hpp"
#include "moe/nn/kernels.hpp"
#include "moe/optim/optim.hpp"
#include "moe/simd/isa.hpp"
#include "moe/train/generate.hpp"
#include "moe/train/network.hpp"
#include "moe/train/step.hpp"

using namespace moe;
using Clock = std::chrono::steady_clock;

namespace {

// Which instruction set moe-lab's own kernels ran: every one (the LoRA row tiles, scatter-addmm,
// LayerNorm, RMSNorm, GELU, SwiGLU, softmax, attention, cross-entropy, AdamW) dispatches through
// Highway's one chosen target.
std::string kernels_isa_text() {
    return "moe-lab's kernels (LoRA tiles, norms, activations, softmax, attention, AdamW) " + simd::isa();
}

struct Workload {
    std::string name;
    models::ModelConfig model;
    models::InputShape in;
    std::vector<std::string> sites;
    std::vector<std::string> trainable_base; // base params that train (vit-mole: the head)
    int experts = 8, rank = 16, k = 2, batch = 512;
    bool lm = false;       // a language model: token inputs, a target per position
    bool pretrain = false; // every parameter trains, no adapters
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
    } else if (name == "lm-mole" || name == "lm-pretrain") {
        // a byte-level GPT-2-style LM: T 256, width 384, depth 6, 6 heads, MLP 1536 (tanh GELU),
        // learned positions, pre-LayerNorm, head tied to the embedding; batch 8 sequences
        w.lm = true;
        w.model.kind = "gpt";
        w.model.gpt.context = 256;
        w.model.gpt.width = 384;
        w.model.gpt.depth = 6;
        w.model.gpt.heads = 6;
        w.model.gpt.mlp_dim = 1536;
        w.in = {256, 0, 0, 0};
        w.batch = 8;
        if (name == "lm-mole") {
            w.sites = {"blocks.*.attn.qkv", "blocks.*.mlp.fc1", "blocks.*.mlp.fc2"};
        } else {
            w.pretrain = true;
            w.experts = 0;
            w.k = 0;
        }
    } else {
        throw Error(ErrorCode::spec,
                    "unknown workload '" + name + "' (mlp-mole, vit-mole, mlp-mole-wide, lm-mole, lm-pretrain)");
    }
    return w;
}

struct Result {
    double samples_per_s = 0, gflops = 0, ms_per_step = 0, flops_per_step = 0;
    double tokens_per_s = 0; // language models: training tokens (batch x T) per second
    double gen_tokens_per_s = 0;
    int gen_tokens = 0;             // lm-mole: generation with the KV cache (greedy, batch 1, 16-token prompt)
    double gen_bytes_per_token = 0; // what one generated token reads at least: weights and KV cache
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
        const int V = w.lm ? kVocab : kClasses;
        net_ = train::build_network(sp, w.in, V, 1, 1);
        const int B = w.batch, rows = w.lm ? B * w.in.d : B;
        net_->plan(B);
        optim::OptimConfig oc;
        oc.kind = "adamw";
        oc.lr = 1e-3;
        std::vector<optim::GroupConfig> groups;
        if (w.pretrain) { // weight decay 0.1 on the matrices and embeddings, none on biases and norms
            oc.weight_decay = 0.1;
            for (const char * pat : {"*.bias", "*.ln1.*", "*.ln2.*", "norm.*"}) {
                optim::GroupConfig g;
                g.pattern = pat;
                g.weight_decay = 0.0;
                groups.push_back(g);
            }
        }
        opt_ = std::make_unique<optim::Optimizer<float>>(oc, net_->store, groups);
        y_.resize(rows);
        task_.assign(B, 0);
        sbuf_.plan(rows, V);
        Rng rng(5);
        if (w.lm) { // random tokens (uniform over the 257 ids) and their next-token targets
            tok_.resize((size_t)B * w.in.d + 1);
            for (auto & t : tok_) t = (int32_t)rng.below(kVocab);
            for (int i = 0; i < rows; ++i) y_[i] = tok_[i + 1];
            batch_.batch.tokens = tok_.data();
        } else {
            x_.resize((size_t)B * w.in.d);
            for (auto & v : x_) v = (float)rng.normal();
            for (auto & v : y_) v = (int32_t)rng.below(kClasses);
            batch_.batch.x = x_.data();
        }
        batch_.batch.B = B;
        batch_.batch.targets = y_.data();
        batch_.batch.task = task_.data();
        for (int i = 0; i < 3; ++i) step(); // warm-up
    }

    // the training step moe-train runs: forward, losses, backward, gradient norm, AdamW update
    void step() {
        batch_.noise = (uint64_t)step_;
        train::train_step(*net_, *opt_, batch_, cfg_, sbuf_);
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
    train::Network & network() { return *net_; }

  private:
    static constexpr int kClasses = 10, kVocab = 257;
    Workload w_;
    std::unique_ptr<train::Network> net_;
    std::unique_ptr<optim::Optimizer<float>> opt_;
    std::vector<float> x_;
    std::vector<int32_t> y_, task_, tok_;
    train::FixedBatch batch_;
    train::StepConfig cfg_;
    train::StepBuffers sbuf_;
    int64_t step_ = 0;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Tokens per second of generating up to 256 tokens (the context ends it after 240) from a
// 16-token prompt (a boundary and 15 bytes) with the KV cache, greedy, after one warm-up
// generation: the median of `repeats`.
// The bytes one generated token must read at least, on average over a generation of n tokens
// after a prompt of p: every weight once (a LoRA site's experts only the k of E the router picks;
// of the position table one row), plus the KV cache of the positions before it (2 L x t x C).
double generation_bytes_per_token(const train::Network & net, const Workload & w, int p, int n) {
    double floats = 0;
    for (const auto & info : net.store.infos()) {
        if (info.name.find(".experts.") != std::string::npos)
            floats += (double)info.size * w.k / std::max(1, w.experts);
        else if (info.name == "pos_emb.weight")
            floats += (double)w.model.gpt.width;
        else
            floats += (double)info.size;
    }
    const double mean_t = p + (n - 1) / 2.0; // positions before each new token, on average
    floats += 2.0 * w.model.gpt.depth * mean_t * w.model.gpt.width;
    return 4 * floats;
}

// Memory read bandwidth (GB/s): the best of 5 passes summing a 512 MiB buffer, far beyond any
// cache, split over the pool's threads as the kernels are.
double read_bandwidth_gbs() {
    const size_t n = (size_t)512 << 20 >> 2;
    std::vector<float> buf(n, 1.0f);
    double best = 0;
    std::vector<double> part(std::max(1, par::threads()), 0.0);
    for (int pass = 0; pass < 5; ++pass) {
        const auto t0 = Clock::now();
        auto task = [&](int t) {
            const size_t T = part.size(), lo = n * t / T, hi = n * (t + 1) / T;
            float acc[16] = {};
            for (size_t i = lo; i + 16 <= hi; i += 16)
                for (int j = 0; j < 16; ++j) acc[j] += buf[i + j];
            double s = 0;
            for (float a : acc) s += a;
            part[t] = s;
        };
        par::run((int)part.size(), par::TaskRef(task));
        const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
        best = std::max(best, n * 4.0 / sec / 1e9);
    }
    return best;
}

std::pair<double, int> generation_speed(train::Network & net, int repeats) {
    train::GenerateOptions g;
    g.prompt = "int main(void) ";
    g.max_tokens = 256;
    g.temperature = 0;
    g.stop_at_boundary = false;
    (void)train::generate(net, g);
    std::vector<double> rates;
    int n = 0;
    for (int r = 0; r < repeats; ++r) {
        const auto t0 = Clock::now();
        const auto out = train::generate(net, g);
        const double t = std::chrono::duration<double>(Clock::now() - t0).count();
        n = (int)out.tokens.size();
        rates.push_back(n / t);
    }
    return {median(rates), n};
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
    if (w.lm) res.tokens_per_s = (double)w.batch * w.in.d / t;
    res.flops_per_step = flops;
    res.gflops = flops / t / 1e9;
    if (w.lm && !w.pretrain) {
        std::tie(res.gen_tokens_per_s, res.gen_tokens) = generation_speed(run.network(), repeats);
        res.gen_bytes_per_token = generation_bytes_per_token(run.network(), w, 16, res.gen_tokens);
    }
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

// One MoE site's LoRA experts on their own, single-threaded: the gathered blocks through OpenBLAS
// (lora_gated_forward/backward, the path of ranks the register tiles do not cover) against the
// token rows in place (lora_rows_forward/backward), forward (the rank-R activations) and backward
// (the A and B gradients and the rank-R input gradient; the products experts_addmm adds into the
// token rows are the same for both and left out). N tokens, K slots each to distinct experts.
struct KernelTimes {
    double fwd_ms, bwd_ms;
};

std::pair<KernelTimes, KernelTimes> lora_kernel_times(int N, int K, int E, int R, int C, int OC, int repeats) {
    Rng rng(11);
    std::vector<int32_t> idx((size_t)N * K), perm((size_t)N * K), off(E + 1);
    for (int n = 0; n < N; ++n)
        for (int j = 0; j < K; ++j) {
            int e;
            do e = (int)rng.below(E);
            while (std::find(&idx[(size_t)n * K], &idx[(size_t)n * K + j], e) != &idx[(size_t)n * K + j]);
            idx[(size_t)n * K + j] = e;
        }
    const int routed = adapters::dispatch_plan(perm.data(), off.data(), idx.data(), N, K, E);
    auto rnd = [&](size_t n, double scale) {
        std::vector<float> v(n);
        for (auto & x : v) x = (float)(rng.normal() * scale);
        return v;
    };
    const std::vector<float> x = rnd((size_t)N * C, 1), dout = rnd((size_t)N * OC, 1), A = rnd((size_t)E * R * C, 0.03),
                             B = rnd((size_t)E * OC * R, 0.03), gg = rnd(routed, 0.5);
    std::vector<float> dA((size_t)E * R * C), dB((size_t)E * OC * R), h((size_t)routed * R), hg((size_t)routed * R),
        dh((size_t)routed * R), dg(routed), xg((size_t)routed * C), dyg((size_t)routed * OC);
    auto run = [&](bool in_place) {
        std::vector<double> f, b;
        for (int rep = 0; rep < repeats + 2; ++rep) { // the first two are warm-up
            const auto t0 = Clock::now();
            for (int e = 0; e < E; ++e) {
                const int b0 = off[e], b1 = off[e + 1], n = b1 - b0;
                if (in_place) {
                    adapters::lora_rows_forward(h.data() + (size_t)b0 * R, hg.data() + (size_t)b0 * R, x.data(),
                                                gg.data() + b0, A.data() + (size_t)e * R * C, 2.f, perm.data(), b0, b1,
                                                K, C, R);
                } else {
                    adapters::gather_rows(xg.data() + (size_t)b0 * C, x.data(), perm.data(), b0, b1, K, C);
                    adapters::lora_gated_forward((float *)nullptr, h.data() + (size_t)b0 * R,
                                                 hg.data() + (size_t)b0 * R, xg.data() + (size_t)b0 * C, gg.data() + b0,
                                                 A.data() + (size_t)e * R * C, (const float *)nullptr, 2.f, n, C, OC,
                                                 R);
                }
            }
            const auto t1 = Clock::now();
            for (int e = 0; e < E; ++e) {
                const int b0 = off[e], b1 = off[e + 1], n = b1 - b0;
                float *da = dA.data() + (size_t)e * R * C, *db = dB.data() + (size_t)e * OC * R;
                if (in_place) {
                    adapters::lora_rows_backward(da, db, dg.data() + b0, dh.data() + (size_t)b0 * R, dout.data(),
                                                 x.data(), h.data() + (size_t)b0 * R, hg.data() + (size_t)b0 * R,
                                                 gg.data() + b0, B.data() + (size_t)e * OC * R, 2.f, perm.data(), b0,
                                                 b1, K, C, OC, R);
                } else {
                    adapters::gather_rows(dyg.data() + (size_t)b0 * OC, dout.data(), perm.data(), b0, b1, K, OC);
                    adapters::lora_gated_backward((float *)nullptr, da, db, dg.data() + b0, dh.data() + (size_t)b0 * R,
                                                  dyg.data() + (size_t)b0 * OC, xg.data() + (size_t)b0 * C,
                                                  h.data() + (size_t)b0 * R, hg.data() + (size_t)b0 * R, gg.data() + b0,
                                                  A.data() + (size_t)e * R * C, B.data() + (size_t)e * OC * R, 2.f, n,
                                                  C, OC, R);
                }
            }
            const auto t2 = Clock::now();
            if (rep < 2) continue;
            f.push_back(std::chrono::duration<double>(t1 - t0).count() * 1e3);
            b.push_back(std::chrono::duration<double>(t2 - t1).count() * 1e3);
        }
        return KernelTimes{median(f), median(b)};
    };
    KernelTimes blocks{1e300, 1e300}, rows{1e300, 1e300};
    for (int round = 0; round < 3; ++round) { // alternated, the better median of each
        const KernelTimes a = run(false), b = run(true);
        blocks = {std::min(blocks.fwd_ms, a.fwd_ms), std::min(blocks.bwd_ms, a.bwd_ms)};
        rows = {std::min(rows.fwd_ms, b.fwd_ms), std::min(rows.bwd_ms, b.bwd_ms)};
    }
    return {blocks, rows};
}

double peak_rss_mb() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

} // namespace

int main(int argc, char ** argv) {
    apps::select_blas_kernels(argc, argv);
    CLI::App app{"moe-bench: the standard workloads (experiments/bench/README.md) against this machine's GEMM peak"};
    std::string list = "mlp-mole,vit-mole,mlp-mole-wide,lm-mole,lm-pretrain";
    int repeats = 5, steps = 5, pairs = 9, experts = 0, k = 0, batch = 0, rank = 16, in_dim = 1024, out_dim = 1024,
        context = 0;
    bool json = false, lora_kernels = false;
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
    app.add_option("--context", context, "override the context (sequence length) of the language models")
        ->check(CLI::Range(16, 4096));
    app.add_flag("--json", json, "also print one JSON line per workload");
    app.add_flag("--lora-kernels", lora_kernels,
                 "instead: one site's LoRA experts alone at 1 thread (--in, --out, --experts (64), --k (2), "
                 "--batch (512), --rank), gathered blocks + OpenBLAS against the token rows in place");
    app.add_option("--rank", rank, "LoRA rank for --lora-kernels")->check(CLI::PositiveNumber);
    app.add_option("--in", in_dim, "input width C of the --lora-kernels site (1024)")->check(CLI::PositiveNumber);
    app.add_option("--out", out_dim, "output width OC of the --lora-kernels site (1024)")->check(CLI::PositiveNumber);
    apps::add_common_options(app, common);
    apps::add_version_flag(app, "moe-bench");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError & e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : 2; // usage errors exit 2, as in every binary
    }
    apps::install_logger(common);
    return apps::run_guarded([&]() -> int {
        if (lora_kernels) {
            blas::blas_init(1);
            const double peak1 = blas::sgemm_gflops(1024, 7, true);
            const int N = batch > 0 ? batch : 512, K = k > 0 ? k : 2, E = experts > 0 ? experts : 64, C = in_dim,
                      OC = out_dim;
            if (K > E) throw Error(ErrorCode::spec, "--lora-kernels: --k must not exceed --experts");
            const auto [blocks, rows] = lora_kernel_times(N, K, E, rank, C, OC, repeats);
            const double ff = 2.0 * N * K * rank * C, fb = 2.0 * N * K * rank * (2.0 * OC + C);
            fmt::print(
                "LoRA experts of one site, 1 thread (N {}, K {}, E {}, r {}, C {}, OC {}; 1-thread GEMM peak {:.1f} "
                "GFLOP/s; medians of {}, the better of 3 alternated rounds)\n",
                N, K, E, rank, C, OC, peak1, repeats);
            fmt::print("| path | forward ms | GFLOP/s | backward ms | GFLOP/s |\n|---|---|---|---|---|\n");
            for (auto [name, t] :
                 {std::pair{"gathered blocks + OpenBLAS", blocks}, std::pair{"token rows in place", rows}})
                fmt::print("| {} | {:.3f} | {:.1f} | {:.3f} | {:.1f} |\n", name, t.fwd_ms, ff / t.fwd_ms / 1e6,
                           t.bwd_ms, fb / t.bwd_ms / 1e6);
            if (json)
                fmt::print("{{\"lora_kernels\":{{\"N\":{},\"K\":{},\"E\":{},\"rank\":{},\"C\":{},\"OC\":{},"
                           "\"peak1_gflops\":{:.3f},\"blocks_fwd_ms\":{:.4f},\"blocks_bwd_ms\":{:.4f},"
                           "\"rows_fwd_ms\":{:.4f},\"rows_bwd_ms\":{:.4f}}}}}\n",
                           N, K, E, rank, C, OC, peak1, blocks.fwd_ms, blocks.bwd_ms, rows.fwd_ms, rows.bwd_ms);
            return 0;
        }
        blas::blas_init(common.threads < 0 ? 0 : common.threads);
        // The host's speed drifts (a shared machine): each row's ratio is taken against the better
        // of the peaks measured just before and just after its workload.
        Peak pk = gemm_peak_gflops();
        double peak_lo = pk.best(), peak_hi = pk.best();
        fmt::print("GEMM peak (1024^3 SGEMM, {} threads): {:.1f} GFLOP/s (OpenBLAS's own threads {:.1f}, split over "
                   "moe-lab's pool {:.1f}); re-measured after every workload, each row against the better of the "
                   "two around it\n",
                   blas::blas_threads(), pk.best(), pk.openblas, pk.split);
        fmt::print("kernels: {} (--isa / MOE_ISA; this CPU runs {}), GEMMs: OpenBLAS {}\n", kernels_isa_text(),
                   fmt::join(simd::available_isas(), ", "), blas::blas_core_name());
        fmt::print("| workload | E | k | batch | samples/s | tokens/s | ms/step | GFLOP/step | GFLOP/s | of peak | "
                   "peak RSS MB |\n");
        fmt::print("|---|---|---|---|---|---|---|---|---|---|---|\n");
        std::stringstream ss(list);
        std::vector<std::string> jsonl;
        std::vector<std::string> gen_lines;
        double ms_narrow = 0, ms_wide = 0; // mlp-mole (E = 8) and mlp-mole-wide (E = 64)
        Workload narrow, wide;
        for (std::string name; std::getline(ss, name, ',');) {
            Workload w = make_workload(name);
            if (experts > 0) w.experts = experts;
            if (k > 0) w.k = k;
            if (batch > 0) w.batch = batch;
            if (context > 0 && w.lm) w.model.gpt.context = w.in.d = context;
            Result r = run_workload(w, repeats, steps);
            const double rss = peak_rss_mb();
            const Peak after = gemm_peak_gflops();
            const Peak row_pk = after.best() > pk.best() ? after : pk;
            const double peak = row_pk.best();
            pk = after;
            peak_lo = std::min(peak_lo, after.best());
            peak_hi = std::max(peak_hi, after.best());
            if (w.name == "mlp-mole") {
                ms_narrow = r.ms_per_step;
                narrow = w;
            }
            if (w.name == "mlp-mole-wide") {
                ms_wide = r.ms_per_step;
                wide = w;
            }
            fmt::print("| {} | {} | {} | {} | {:.{}f} | {} | {:.2f} | {:.3f} | {:.1f} | {:.1f}% | {:.0f} |\n", w.name,
                       w.experts, w.k, w.batch, r.samples_per_s, w.lm ? 2 : 0,
                       w.lm ? fmt::format("{:.0f}", r.tokens_per_s) : std::string("-"), r.ms_per_step,
                       r.flops_per_step / 1e9, r.gflops, 100 * r.gflops / peak, rss);
            if (r.gen_tokens > 0) {
                gen_lines.push_back(fmt::format("{}: generation with the KV cache, batch 1, greedy, {} tokens after a "
                                                "16-token prompt: {:.1f} tokens/s",
                                                w.name, r.gen_tokens, r.gen_tokens_per_s));
                const double bw = read_bandwidth_gbs(), bound = bw * 1e9 / r.gen_bytes_per_token;
                gen_lines.push_back(fmt::format(
                    "{}: memory-bandwidth bound of generation: {:.1f} MB read per token at least (weights once, "
                    "the k of E experts, the KV cache) at {:.1f} GB/s measured (512 MiB read, {} threads) = {:.0f} "
                    "tokens/s; measured {:.1f} tokens/s = {:.0f}% of the bound ({:.2f}x below it)",
                    w.name, r.gen_bytes_per_token / 1e6, bw, par::threads(), bound, r.gen_tokens_per_s,
                    100 * r.gen_tokens_per_s / bound, bound / r.gen_tokens_per_s));
            }
            jsonl.push_back(
                fmt::format("{{\"workload\":\"{}\",\"experts\":{},\"k\":{},\"batch\":{},\"samples_per_s\":{:.2f},"
                            "\"ms_per_step\":{:.4f},\"gflop_per_step\":{:.5f},\"gflops\":{:.3f},\"peak_gflops\":{:.3f},"
                            "\"peak_openblas_gflops\":{:.3f},\"peak_split_gflops\":{:.3f},\"ratio\":{:.4f},\"peak_rss_"
                            "mb\":{:.1f},\"threads\":{},\"tokens_per_s\":{:.1f},\"gen_tokens_per_s\":{:.2f},"
                            "\"gen_tokens\":{},\"isa\":\"{}\"}}",
                            w.name, w.experts, w.k, w.batch, r.samples_per_s, r.ms_per_step, r.flops_per_step / 1e9,
                            r.gflops, peak, row_pk.openblas, row_pk.split, r.gflops / peak, rss, blas::blas_threads(),
                            r.tokens_per_s, r.gen_tokens_per_s, r.gen_tokens, simd::isa()));
            std::fflush(stdout);
        }
        fmt::print("GEMM peak over the run: {:.1f}-{:.1f} GFLOP/s\n", peak_lo, peak_hi);
        for (const auto & l : gen_lines) fmt::print("{}\n", l);
        if (ms_narrow > 0 && ms_wide > 0 && experts == 0) {
            fmt::print("step time mlp-mole-wide / mlp-mole (E = 64 / E = 8, k = {}): {:.2f} from the rows above",
                       wide.k, ms_wide / ms_narrow);
            std::fflush(stdout);
            const PairedRatio pr = paired_ratio(narrow, wide, pairs, steps);
            fmt::print("; paired ({} alternated repeats of {} steps each): median {:.2f}, range {:.2f}-{:.2f}\n",
                       pr.pairs, steps, pr.median, pr.lo, pr.hi);
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
