// moe/train/network.hpp — a base model with its adapter sites, built from a spec. Shared by
// the trainer (moe-train) and the evaluator (moe-eval).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "moe/core/params.hpp"
#include "moe/models/model.hpp"
#include "moe/routing/moe_site.hpp"
#include "moe/spec/spec.hpp"
#include "moe/train/trainer.hpp"

namespace moe::train {

// Expert and router tensors ("<site>.experts.*", "<site>.router.*") versus base tensors.
bool is_adapter_param(const std::string & name);

struct Network {
    ParamStore<float> store;
    std::unique_ptr<models::Model<float>> model;
    std::vector<std::unique_ptr<routing::MoeSite<float>>> sites;
    std::vector<routing::MoeSite<float> *> site_ptrs; // the same sites, for pool_lbl

    // Size the model's and the sites' buffers for batches of up to B samples.
    void plan(int B);
    // Context of the next forward for every site (task ids of the n samples, step, noise stream).
    void set_context(const int32_t * task, int n, int64_t step, uint64_t stream);
    void set_stats_enabled(bool on);
    // After a forward: the load-balancing loss pooled over all sites (HF Mixtral / Switch) when
    // the spec asks for pooling; returns its un-scaled value (0 otherwise). Call after_step()
    // after every optimizer step (sites' bias updates, the step's running LBL counts).
    double pool_lbl(bool train);
    void after_step();
    routing::BalanceConfig balance;
    std::vector<int64_t> lbl_acc_counts;
    int64_t lbl_acc_rows = 0;
};

// Declares the model and one MoE site per Linear matching spec.adapters.sites (an unmatched
// pattern is a SpecError naming the available sites), allocates and initialises the store from
// (seed, name) and binds the views. Trainability follows the spec (with adapters the base is
// frozen but for train.unfreeze; train.freeze always wins). Loads no weights.
std::unique_ptr<Network> build_network(const spec::Spec & spec, const models::InputShape & in, int n_classes,
                                       int n_tasks, uint64_t seed);

// Index of the largest of V logits (the lower index on ties).
int argmax_row(const float * z, int V);

// Loss and accuracy on a data set, overall and per task, with the network in evaluation mode
// (batches of `batch` samples; the network must be planned for them). Site telemetry is
// collected only when collect_stats (moe-eval); the trainer keeps it for training windows.
EvalInfo evaluate_dataset(Network & net, const data::Dataset & ds, const std::vector<std::string> & task_names,
                          int batch, const std::string & split, bool collect_stats);

} // namespace moe::train
