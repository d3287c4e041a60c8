// expand: the data-parallel parts of the stream (docs/distributed.md). Every process runs the
// whole stream on the same data; a training step's batch is cut into train.shards micro-batches,
// each process computes its block of them and the step sums them in the fixed shard order
// (train/step.hpp), so the weights are the same on every process. What a step adds to SEMA's
// descriptor FIFOs is held by the sites and entered here, every shard's losses in shard order on
// every process; the detection passes then score whole batches on every process alike, and rank
// 0's decision is the one taken.
#include "internal.hpp"

#include "moe/core/error.hpp"

namespace moe::expand {

void Expander::check_shards() const {
    train::shard_block(shards_, comm_.rank(), comm_.size()); // (a multiple of the processes, else a spec error)
    MOE_CHECK(cfg_.batch_size % shards_ == 0, ErrorCode::spec,
              "train.shards (" + std::to_string(shards_) + ") must divide expand.batch_size (" +
                  std::to_string(cfg_.batch_size) + ")");
}

void Expander::plan_parallel() {
    if (shards_ == 1) return; // one process, one micro-batch a step: the FIFOs fill within the step
    sbuf_.plan_shards(*net_, shards_, &comm_);
    held_len_ = 0;
    for (auto * s : sites_) {
        s->set_objective_scale(1.0 / shards_); // the descriptor phase trains on the micro-batches' mean
        s->set_hold_records(true);
        if (s->has_descriptors()) held_len_ += (size_t)s->slots() * (1 + cfg_.batch_size);
    }
    held_blocks_.assign((size_t)comm_.size() * held_len_, 0.0);
}

// A process's block: per site with descriptors, per slot, the count of its held losses and the
// losses (room for a whole batch). The blocks go to every process in rank order; rank r's shards
// are the r-th contiguous block of the step's shards, so entering the blocks in rank order enters
// the losses in shard order, the order of the samples in the batch.
void Expander::enter_held_records() {
    if (held_len_ == 0) return;
    bool any = false; // (the same on every process: which slots update is the phase's)
    for (auto * s : sites_)
        for (bool u : s->updating()) any |= u;
    if (!any) return;
    const int np = comm_.size(), me = comm_.rank();
    const size_t per = 1 + (size_t)cfg_.batch_size;
    double * mine = held_blocks_.data() + (size_t)me * held_len_;
    size_t o = 0;
    for (auto * s : sites_) {
        if (!s->has_descriptors()) continue;
        for (int k = 0; k < s->slots(); ++k, o += per) {
            const auto h = s->held(k);
            MOE_ASSERT(h.size() < per);
            mine[o] = double(h.size());
            std::copy(h.begin(), h.end(), mine + o + 1);
        }
        s->clear_held();
    }
    if (np > 1)
        for (int r = 0; r < np; ++r)
            comm_.broadcast(held_blocks_.data() + (size_t)r * held_len_, held_len_ * sizeof(double), r);
    for (int r = 0; r < np; ++r) {
        const double * b = held_blocks_.data() + (size_t)r * held_len_;
        o = 0;
        for (auto * s : sites_) {
            if (!s->has_descriptors()) continue;
            for (int k = 0; k < s->slots(); ++k, o += per) {
                const int64_t n = (int64_t)b[o];
                for (int64_t i = 0; i < n; ++i) s->records(k).push(b[o + 1 + i]);
            }
        }
    }
}

// The processes score the same batch with the same weights and FIFOs, so they agree; rank 0's
// decision is sent anyway, and a process that decided otherwise has diverged (an internal error).
bool Expander::shared_decision(bool go) {
    if (comm_.size() == 1) return go;
    int64_t v = go ? 1 : 0;
    comm_.broadcast(&v, sizeof v, 0);
    MOE_CHECK((v != 0) == go, ErrorCode::internal,
              comm_.who() + "the expansion decision differs from rank 0's: the processes diverged");
    return v != 0;
}

} // namespace moe::expand
