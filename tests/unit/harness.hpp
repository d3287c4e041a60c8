// Shared by the unit tests that run training steps: a thread-count guard, the MoE spec the
// benchmarks build, and one batch's training loop (forward, cross-entropy, backward, AdamW).
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

// Training steps on one fixed random batch of B samples with 10 classes, AdamW at lr.
struct TrainLoop {
    std::unique_ptr<train::Network> net;
    std::unique_ptr<optim::Optimizer<float>> opt;
    int B, V = 10;
    std::vector<float> x, probs, losses, dlogits;
    std::vector<int32_t> y, task;
    int64_t steps = 0;
    const float * logits = nullptr; // of the last step

    TrainLoop(const spec::Spec & sp, const models::InputShape & in, int batch, double lr, uint64_t seed)
        : B(batch) {
        net = train::build_network(sp, in, V, 1, 3);
        net->plan(B);
        optim::OptimConfig oc;
        oc.kind = "adamw";
        oc.lr = lr;
        opt = std::make_unique<optim::Optimizer<float>>(oc, net->store, std::vector<optim::GroupConfig>{});
        x.resize((size_t)B * in.d); probs.resize((size_t)B * V); losses.resize(B); dlogits.resize((size_t)B * V);
        y.resize(B); task.assign(B, 0);
        Rng rng(seed);
        for (auto & v : x) v = (float)rng.normal();
        for (auto & v : y) v = (int32_t)rng.below(V);
    }
    // forward, loss and backward; the gradients are then in net->store
    void forward_backward() {
        net->set_context(task.data(), B, steps, (uint64_t)steps);
        logits = net->model->forward(x.data(), B, true);
        net->pool_lbl(true);
        nn::cross_entropy_forward(losses.data(), probs.data(), logits, y.data(), B, V, 0, V);
        std::fill(dlogits.begin(), dlogits.end(), 0.f);
        nn::cross_entropy_backward(dlogits.data(), probs.data(), y.data(), 1.0f / B, B, V);
        net->model->backward(dlogits.data(), B);
    }
    // the update, clearing the gradients
    void update() {
        opt->step(1.0, /*zero_grads=*/true);
        net->after_step();
        ++steps;
    }
    void step() { forward_backward(); update(); }
};

} // namespace moe::test
