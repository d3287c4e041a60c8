// moe/train/step.hpp — THE training step, used by moe-train, moe-expand, moe-bench and the tests:
// for each micro-batch, the network's forward (site contexts, pooled losses), the task loss
// (cross-entropy over every output row, or the sites' own objectives), the backward; then the
// global gradient norm (clipped when asked), and, when every term is finite, the optimizer
// update (gradients cleared in the same pass) and the network's after-step updates.
// Nothing allocates in a step once its buffers are planned.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "moe/models/batch.hpp"
#include "moe/optim/optim.hpp"
#include "moe/train/communicator.hpp"
#include "moe/train/network.hpp"

namespace moe::train {

// The micro-batches of one step. fill(i) fills the i-th (the source owns its buffers); stream(i)
// seeds that micro-batch's noise (jitter, dropout).
class MicroBatches {
  public:
    virtual ~MicroBatches() = default;
    virtual int count() const = 0;
    virtual const models::Batch<float> & fill(int i) = 0;
    virtual uint64_t stream(int i) const { return 0; }
};

// One fixed batch as the step's only micro-batch (moe-bench's workloads and the tests); its noise
// stream is set before each step.
class FixedBatch final : public MicroBatches {
  public:
    models::Batch<float> batch;
    uint64_t noise = 0;
    int count() const override { return 1; }
    const models::Batch<float> & fill(int) override { return batch; }
    uint64_t stream(int) const override { return noise; }
};

struct StepConfig {
    int accum = 1;         // micro-batches averaged per step (the task gradient is scaled by 1 / (rows * accum))
    int lo = 0, hi = -1;   // the cross-entropy over logits [lo, hi) (-1: every logit); moe-expand masks old tasks
    bool task_loss = true; // false: the sites' own objectives only (SEMA's descriptor phase)
    double clip = 0;       // clip the global gradient norm to this (0: off)
    double lr_factor = 1;  // schedule factor of the peak learning rates
    // Data parallel (docs/distributed.md): the step's accum micro-batches are cut into `shards`
    // consecutive shards of accum / shards; this process computes its block of them (comm: null =
    // one process, every shard), each shard's gradient and sums from zero, and the shards are
    // summed in one fixed pairwise order. shards = 1 with one process: the gradients accumulate
    // over the micro-batches in the store, as always.
    int shards = 1;
    Communicator * comm = nullptr;
};

struct StepResult {
    double loss = 0;               // mean task loss over the rows + the mean auxiliary loss per micro-batch
    double aux = 0;                // the mean auxiliary loss per micro-batch
    int64_t samples = 0;           // samples of the micro-batches
    int64_t rows = 0, correct = 0; // output rows counted and those whose argmax in [lo, hi) is the target
    double grad_norm = 0;
    bool updated = false; // false: a non-finite loss or gradient norm; no update was made
    std::string bad_term; // then: the first non-finite loss term ("the cross-entropy", ...)
};

// The step's own buffers: losses (rows), probs and dlogits (rows, V); with shards, this process's
// shard gradients and sums (plan_shards, once the network is built).
struct StepBuffers {
    std::vector<float> losses, probs, dlogits;
    void plan(int rows, int V);
    void plan_shards(Network & net, int shards, Communicator * comm);
    int n_shards = 1;
    std::vector<float> grads, grad_scratch; // (local shards, trainable) and one peer's partial sum
    std::vector<double> metrics, metric_scratch, metric_out;
    std::vector<int64_t> exact; // every site's step counts (summed over the processes)
    std::vector<float *> grad_ptrs;
    std::vector<double *> metric_ptrs;
};

StepResult train_step(Network & net, optim::Optimizer<float> & opt, MicroBatches & micro, const StepConfig & cfg,
                      StepBuffers & buf);

} // namespace moe::train
