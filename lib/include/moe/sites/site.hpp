// moe/sites/site.hpp — the protocol of an adapted site. A site is a hook at a named place of a
// base model (a Linear, or beside a whole block) that adds an adapter's contribution:
// forward: out (N,OC) += Δ(inp (N,C)); backward: dinp +=, parameter gradients +=.
//
// Only the network (train/network.hpp) drives this protocol inside a step, in this order:
//   set_context -> forward (via the model) -> [pooled losses: pooled_loss / record_pooled] ->
//   aux_loss -> backward (via the model) -> after_step (after the optimizer step)
// Telemetry (stats) is read between steps. Setters without a context argument (overrides,
// analysis, aux scale) are set up before a run or an evaluation, never inside a step.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "moe/core/params.hpp"
#include "moe/nn/modules.hpp"
#include "moe/routing/loss.hpp"
#include "moe/routing/telemetry.hpp"

namespace moe::sites {

// The forward a site is about to see.
struct SiteContext {
    const int32_t * task = nullptr; // (n_samples) task id per sample; row n belongs to sample n * n_samples / N
    int n_samples = 1;
    int64_t step = 0;    // optimizer steps done (schedules; evaluation: the steps trained)
    uint64_t stream = 0; // seeds the site's noise (jitter, dropout, relaxed Bernoulli)
};

// Inference-time routing changes (moe-eval).
struct Overrides {
    int k = 0;                 // > 0: another k (routers with a fixed k)
    std::string force;         // "" | "uniform" (every expert, gate 1/E) | "oracle" (the task's expert)
    std::vector<int> disabled; // experts removed from routing (their logits -inf before selection)
    std::vector<int> oracle;   // --oracle: the expert of each task id (empty: task mod E)
};

// The experts the last forward chose: K slots per row (idx -1: an empty slot), with their gates.
template <typename T>
struct Selection {
    int N = 0, K = 0; // K = 0: the site does not route
    const int32_t * idx = nullptr;
    const T * gate = nullptr;
};

template <typename T>
class Site : public nn::SiteHook<T> {
  public:
    virtual const std::string & name() const = 0;
    virtual int experts() const { return 0; }
    virtual void bind(ParamStore<T> & s) = 0;
    // Buffers for up to N rows, tokens rows per sample. Only here is memory taken.
    virtual void plan(int N, int tokens) = 0;
    virtual void set_context(const SiteContext &) {}
    // The weighted sum of this site's own losses in the last forward (pooled ones are the network's).
    virtual double aux_loss() const { return 0.0; }
    // Multiplies every auxiliary-loss gradient (1 / grad_accum when micro-batches are averaged).
    virtual void set_aux_scale(double) {}
    // This site's part of loss `kind` when that loss is pooled over sites, else null.
    virtual routing::SiteLoss<T> * pooled_loss(int kind) { return nullptr; }
    // The value of a pooled loss, recorded in this site's telemetry.
    virtual void record_pooled(int kind, double value) {}
    // After every optimizer step (bias updates, running counts).
    virtual void after_step() {}
    // Data-parallel steps (train.shards > 1): at the start of each shard, the running counts of
    // the losses restart (a global-batch scope covers one shard); step_counts() are the counts the
    // after-step update reads (summed over the processes before it).
    virtual void restart_running() {}
    virtual std::span<int64_t> step_counts() { return {}; }
    // Telemetry since the last clear (null: the site keeps none); collected only while enabled.
    virtual routing::RoutingStats * stats() { return nullptr; }
    virtual void set_stats_enabled(bool) {}
    // moe-eval: routing changes (before plan) and the task x expert / label x expert analysis.
    virtual void set_overrides(const Overrides &) {}
    virtual void set_analysis(int n_tasks, int n_classes) {}
    virtual void set_labels(const int32_t *) {}
    // A site objective of its own (SEMA's descriptors): its value over the last forward, its
    // gradient added into the site's parameters. 0 when the site has none.
    virtual double objective_backward() { return 0.0; }
    // The routing of the last forward (generation traces).
    virtual Selection<T> last_selection() const { return {}; }
};

} // namespace moe::sites
