// Shared by the unit tests that run training steps: a thread-count guard, the MoE spec the
// benchmarks build, and the shipped training step on one fixed batch.
#pragma once
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "moe/blas/gemm.hpp"
#include "moe/core/parallel.hpp"
#include "moe/core/rng.hpp"
#include "moe/nn/kernels.hpp"
#include "moe/optim/optim.hpp"
#include "moe/train/network.hpp"
#include "moe/train/step.hpp"

namespace moe::test {

// sets the thread count for a scope and restores it
struct Threads {
    int saved = par::threads();
    explicit Threads(int n) { blas::blas_init(n); }
    ~Threads() { blas::blas_init(saved); }
};

// A MoE spec as the benchmarks build it: LoRA experts, top-k (k = 2) router, Switch load
// balancing at 0.01.
inline spec::Spec moe_spec(const std::string & model, std::vector<std::string> sites, int experts, int rank) {
    spec::Spec sp;
    sp.model.kind = model;
    sp.adapters.sites = std::move(sites);
    sp.adapters.kind = "lora";
    sp.adapters.experts = experts;
    sp.adapters.rank = rank;
    sp.adapters.alpha = 2.0 * rank;
    sp.routing.kind = "topk";
    sp.routing.k = 2;
    sp.loss.lbl = "switch";
    sp.loss.lbl_coef = 0.01;
    return sp;
}

// A fixed batch of a classifier cut into n consecutive micro-batches (n divides B; d features).
struct SplitBatch final : public train::MicroBatches {
    const models::Batch<float> * whole = nullptr;
    int n = 1, d = 0;
    uint64_t noise = 0;
    models::Batch<float> part;
    int count() const override { return n; }
    const models::Batch<float> & fill(int i) override {
        const int b = whole->B / n;
        part = *whole;
        part.B = b;
        part.x = whole->x + (size_t)i * b * d;
        part.targets = whole->targets + (size_t)i * b;
        part.task = whole->task + (size_t)i * b;
        return part;
    }
    uint64_t stream(int i) const override { return noise * 1000 + (uint64_t)i; }
};

// The shipped training step (train/step.hpp) on one fixed random batch of B samples with 10
// classes, AdamW at lr.
struct TrainLoop {
    std::unique_ptr<train::Network> net;
    std::unique_ptr<optim::Optimizer<float>> opt;
    int B, V = 10;
    std::vector<float> x;
    std::vector<int32_t> y, task;
    train::FixedBatch batch;
    train::StepConfig cfg;
    train::StepBuffers buf;
    train::StepResult last;
    int64_t steps = 0;
    SplitBatch split; // with use_shards: the batch as `shards` micro-batches

    TrainLoop(const spec::Spec & sp, const models::InputShape & in, int batch_size, double lr, uint64_t seed)
        : B(batch_size) {
        net = train::build_network(sp, in, V, 1, 3);
        net->plan(B);
        optim::OptimConfig oc;
        oc.kind = "adamw";
        oc.lr = lr;
        opt = std::make_unique<optim::Optimizer<float>>(oc, net->store, std::vector<optim::GroupConfig>{});
        x.resize((size_t)B * in.d);
        y.resize(B);
        task.assign(B, 0);
        Rng rng(seed);
        for (auto & v : x) v = (float)rng.normal();
        for (auto & v : y) v = (int32_t)rng.below(V);
        batch.batch.B = B;
        batch.batch.x = x.data();
        batch.batch.targets = y.data();
        batch.batch.task = task.data();
        buf.plan(B, V);
    }
    // Data-parallel steps: the batch cut into `shards` shards of one micro-batch each, this process
    // computing its block of them (comm null: all).
    void use_shards(int shards, train::Communicator * comm, int d) {
        split.whole = &batch.batch;
        split.n = shards;
        split.d = d;
        cfg.accum = shards;
        cfg.shards = shards;
        cfg.comm = comm;
        net->set_aux_scale(1.0 / shards);
        buf.plan_shards(*net, shards, comm);
    }
    // one training step (the noise stream is the step number)
    void step() {
        batch.noise = (uint64_t)steps;
        split.noise = (uint64_t)steps;
        if (cfg.shards > 1 || cfg.comm)
            last = train::train_step(*net, *opt, split, cfg, buf);
        else
            last = train::train_step(*net, *opt, batch, cfg, buf);
        ++steps;
    }
    // the logits of the batch in evaluation mode
    const float * logits() { return net->forward(batch.batch, false, 0); }
};

} // namespace moe::test
