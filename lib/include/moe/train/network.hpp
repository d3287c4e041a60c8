// moe/train/network.hpp — a base model with its adapted sites, and the protocol of those sites
// within a step. Nothing else calls a site while a step runs: forward() sets every site's
// context, runs the model and pools the losses that are computed over every site; backward()
// runs the model backward; after_step() follows each optimizer step. Built from a spec
// (moe-train, moe-eval, moe-bench, the tests) or from a site factory (moe-expand).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "moe/core/params.hpp"
#include "moe/models/batch.hpp"
#include "moe/models/model.hpp"
#include "moe/routing/loss.hpp"
#include "moe/routing/telemetry.hpp"
#include "moe/sites/site.hpp"
#include "moe/spec/spec.hpp"

namespace moe::train {

// Expert and router tensors ("<site>.experts.*", "<site>.router.*") versus base tensors.
bool is_adapter_param(const std::string & name);

// The auxiliary losses of one forward.
struct ForwardLosses {
    double aux = 0;          // the weighted sum of every auxiliary loss (pooled ones first, then per site)
    bool pooled_bad = false; // a pooled loss is not finite
    int bad_site = -1;       // the first site whose own losses are not finite
};

class Network {
  public:
    ParamStore<float> store;
    std::unique_ptr<models::Model<float>> model;
    std::vector<std::unique_ptr<sites::Site<float>>> sites;

    // Size the model's and the sites' buffers for batches of up to B samples.
    void plan(int B);
    // The forward of one batch (train: with dropout, jitter, schedules; the pooled losses are
    // computed). stream seeds the sites' noise. Returns logits (rows, V).
    const float * forward(const models::Batch<float> & b, bool train, uint64_t stream,
                          ForwardLosses * losses = nullptr);
    // Generation: the logits (B, V) of position t from its tokens (B), against the model's KV cache
    // (models::CausalDecoder; plan_decode first), the sites seeing task (B) as in a forward.
    const float * decode(const int32_t * tokens, int B, int t, const int32_t * task);
    // Gradients from dlogits (rows, V) of the last forward (of b), added into the store.
    void backward(const float * dlogits, const models::Batch<float> & b);
    // The sites' own objectives over the last forward (SEMA's descriptors), gradients added.
    double objective_backward();
    // At the start of each shard of a data-parallel step: the running counts of the losses (a
    // global-batch scope, pooled or per site) restart, so a shard's result never depends on the
    // shards computed before it in the same process.
    void begin_shard();
    // After every optimizer step: the sites' updates, the pooled losses' running counts; step + 1.
    void after_step();
    // Optimizer steps done: what schedules see in training and evaluation alike.
    int64_t step() const { return step_; }
    void set_step(int64_t s) { step_ = s; }
    // Telemetry on or off (the trainer's evaluations keep it out of the training windows).
    void set_stats_enabled(bool on);
    // Multiplies every auxiliary-loss gradient (1 / grad_accum).
    void set_aux_scale(double s);
    // Adds every site's telemetry since the last call into windows (null entries: skipped) and clears it.
    void take_stats(const std::vector<routing::RoutingStats *> & windows);
    // Called once the sites are attached: which losses are pooled over which sites.
    void finish_sites();

    std::vector<int> site_rows; // rows per sample at each site (as sites)

  private:
    int64_t step_ = 0;
    struct Pool {
        int kind = 0;
        double coef = 0;
        std::vector<routing::SiteLoss<float> *> parts;
        std::vector<sites::Site<float> *> at;
        routing::PoolState state;
    };
    std::vector<Pool> pools_; // in loss-kind order
};

// Declares the model and, for every site (model order) whose name matches one of the patterns,
// the site `make` returns (null: none) and hooks it there; then allocates and initialises the
// store from (seed, name) and binds the views. allocate = false: the tensors are only declared
// (nothing allocated, nothing bound; plan() still sizes the buffers), for the memory guard.
using SiteFactory = std::function<std::unique_ptr<sites::Site<float>>(const nn::SiteRef<float> &, ParamStore<float> &)>;
std::unique_ptr<Network> build_network(const models::ModelConfig & mc, const models::InputShape & in, int n_outputs,
                                       const nn::TrainablePred & trainable, const SiteFactory & make, uint64_t seed,
                                       bool allocate = true);

// Problems (key[i], "pattern '...' matches no site; the sites are: ...") for every pattern that
// matches no site name.
std::vector<SpecProblem> unmatched_patterns(const std::vector<std::string> & patterns, const std::string & key,
                                            const std::vector<nn::SiteRef<float>> & all);

// The network of a moe-train spec: a mixture of experts (or Poly/MHR) at every site matching
// spec.adapters.sites (an unmatched pattern is a SpecError naming the sites). Trainability
// follows the spec (with adapters the base is frozen but for train.unfreeze; train.freeze always
// wins). Loads no weights.
std::unique_ptr<Network> build_network(const spec::Spec & spec, const models::InputShape & in, int n_classes,
                                       int n_tasks, uint64_t seed, bool allocate = true);

// Index of the largest of V logits (the lower index on ties).
int argmax_row(const float * z, int V);

} // namespace moe::train
