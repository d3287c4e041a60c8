// train: the training step (see moe/train/step.hpp).
#include "moe/train/step.hpp"

#include <algorithm>
#include <cmath>

#include "moe/core/error.hpp"
#include "moe/nn/kernels.hpp"

namespace moe::train {

void StepBuffers::plan(int rows, int V) {
    losses.assign(rows, 0.f);
    probs.assign((size_t)rows * V, 0.f);
    dlogits.assign((size_t)rows * V, 0.f);
}

namespace {

// The sums of micro-batches [m0, m1) of a step: task loss, auxiliary losses, rows, correct.
struct Sums {
    double task = 0, aux = 0;
    int64_t samples = 0, rows = 0, correct = 0;
};

void accumulate(Network & net, MicroBatches & micro, int m0, int m1, const StepConfig & cfg, StepBuffers & buf,
                Sums & r, std::string & bad_term) {
    const int V = net.model->n_outputs();
    const int lo = cfg.lo, hi = cfg.hi < 0 ? V : cfg.hi;
    const int rps = net.model->rows_per_sample();
    for (int mi = m0; mi < m1; ++mi) {
        const models::Batch<float> & b = micro.fill(mi);
        const int rows = b.B * rps;
        r.samples += b.B;
        MOE_ASSERT((size_t)rows * V <= buf.probs.size());
        ForwardLosses fl;
        const float * logits = net.forward(b, true, micro.stream(mi), &fl);
        auto aux_terms = [&] { // (after the task loss: the first non-finite term is named)
            if (bad_term.empty() && fl.pooled_bad) bad_term = "the pooled load-balancing loss";
            if (bad_term.empty() && fl.bad_site >= 0)
                bad_term = "the auxiliary losses of site " + net.sites[fl.bad_site]->name();
        };
        if (cfg.task_loss) {
            // (the rows a mask leaves out get no loss and no gradient)
            int counted = rows;
            if (b.mask) {
                counted = 0;
                for (int i = 0; i < rows; ++i) counted += b.mask[i] != 0;
            }
            const double ce =
                nn::cross_entropy_forward(buf.losses.data(), buf.probs.data(), logits, b.targets, rows, V, lo, hi);
            double ce_sum = ce * rows;
            if (b.mask) {
                ce_sum = 0;
                for (int i = 0; i < rows; ++i)
                    if (b.mask[i]) ce_sum += buf.losses[i];
            }
            if (bad_term.empty() && !std::isfinite(ce_sum)) bad_term = "the cross-entropy";
            aux_terms();
            for (int i = 0; i < rows; ++i)
                if (!b.mask || b.mask[i])
                    r.correct += lo + argmax_row(logits + (size_t)i * V + lo, hi - lo) == b.targets[i];
            std::fill(buf.dlogits.begin(), buf.dlogits.begin() + (size_t)rows * V, 0.f);
            if (counted > 0) {
                nn::cross_entropy_backward(buf.dlogits.data(), buf.probs.data(), b.targets,
                                           1.0f / (counted * cfg.accum), rows, V);
                if (b.mask)
                    for (int i = 0; i < rows; ++i)
                        if (!b.mask[i]) std::fill_n(buf.dlogits.data() + (size_t)i * V, V, 0.f);
            }
            net.backward(buf.dlogits.data(), b);
            r.task += ce_sum;
            r.rows += counted;
        } else {
            const double v = net.objective_backward();
            if (bad_term.empty() && !std::isfinite(v)) bad_term = "the sites' objectives";
            aux_terms();
            r.task += v;
            r.rows += rows;
        }
        r.aux += fl.aux;
    }
}

// What a shard's metrics vector holds: the Sums, then for every site with telemetry its
// RoutingStats (load (E), tokens, dropped, forwards, entropy_sum, active_sum, aux[...]).
constexpr int kSumSlots = 5;
int site_slots(int E) { return E + 3 + 2 + routing::kLossKinds; }

size_t metric_slots(Network & net) {
    size_t n = kSumSlots;
    for (auto & s : net.sites)
        if (auto * st = s->stats()) n += site_slots((int)st->load.size());
    return n;
}

void pack(double * m, const Sums & r, Network & net) {
    m[0] = r.task;
    m[1] = r.aux;
    m[2] = (double)r.samples;
    m[3] = (double)r.rows;
    m[4] = (double)r.correct;
    m += kSumSlots;
    for (auto & s : net.sites) {
        routing::RoutingStats * st = s->stats();
        if (!st) continue;
        for (int64_t v : st->load) *m++ = (double)v;
        *m++ = (double)st->tokens;
        *m++ = (double)st->dropped;
        *m++ = (double)st->forwards;
        *m++ = st->entropy_sum;
        *m++ = st->active_sum;
        for (double a : st->aux) *m++ = a;
        st->clear();
    }
}

void unpack(const double * m, Sums & r, Network & net) {
    r.task = m[0];
    r.aux = m[1];
    r.samples = (int64_t)m[2];
    r.rows = (int64_t)m[3];
    r.correct = (int64_t)m[4];
    m += kSumSlots;
    for (auto & s : net.sites) {
        routing::RoutingStats * st = s->stats();
        if (!st) continue;
        for (auto & v : st->load) v = (int64_t)*m++;
        st->tokens = (int64_t)*m++;
        st->dropped = (int64_t)*m++;
        st->forwards = (int64_t)*m++;
        st->entropy_sum = *m++;
        st->active_sum = *m++;
        for (double & a : st->aux) a = *m++;
    }
}

// The update once the step's gradients and sums are complete (the same on every process).
void finish(StepResult & r, const Sums & sums, Network & net, optim::Optimizer<float> & opt, const StepConfig & cfg) {
    r.samples = sums.samples;
    r.rows = sums.rows;
    r.correct = sums.correct;
    r.aux = sums.aux / cfg.accum;
    r.loss = (cfg.task_loss ? (r.rows ? sums.task / r.rows : 0.0) : sums.task) + r.aux;
    r.grad_norm = optim::clip_grad_norm(net.store.trainable_grads(), cfg.clip);
    if (!std::isfinite(r.loss) || !std::isfinite(r.grad_norm)) return;
    opt.step(cfg.lr_factor, /*zero_grads=*/true); // the next step starts from zero gradients
    net.after_step();
    r.updated = true;
}

} // namespace

void StepBuffers::plan_shards(Network & net, int shards, Communicator * comm) {
    n_shards = shards;
    if (shards <= 1) return;
    const int np = comm ? comm->size() : 1;
    const ShardBlock blk = shard_block(shards, comm ? comm->rank() : 0, np);
    const size_t G = net.store.trainable_grads().size(), M = metric_slots(net);
    grads.assign((size_t)blk.count * G, 0.f);
    grad_scratch.assign(np > 1 ? G : 0, 0.f);
    metrics.assign((size_t)blk.count * M, 0.0);
    metric_scratch.assign(M, 0.0);
    metric_out.assign(M, 0.0);
    size_t E = 0;
    for (auto & s : net.sites) E += s->step_counts().size();
    exact.assign(np > 1 ? E : 0, 0);
    grad_ptrs.assign(blk.count, nullptr);
    metric_ptrs.assign(blk.count, nullptr);
    for (int k = 0; k < blk.count; ++k) {
        grad_ptrs[k] = grads.data() + (size_t)k * G;
        metric_ptrs[k] = metrics.data() + (size_t)k * M;
    }
}

StepResult train_step(Network & net, optim::Optimizer<float> & opt, MicroBatches & micro, const StepConfig & cfg,
                      StepBuffers & buf) {
    StepResult r;
    Sums sums;
    const int S = std::max(1, cfg.shards);
    if (S == 1 && (!cfg.comm || cfg.comm->size() == 1)) { // one shard: the gradients accumulate in the store
        accumulate(net, micro, 0, micro.count(), cfg, buf, sums, r.bad_term);
        finish(r, sums, net, opt, cfg);
        return r;
    }
    // shards: each computed from zero gradients into its own buffer, then summed in the fixed order
    Communicator single;
    Communicator & comm = cfg.comm ? *cfg.comm : single;
    MOE_CHECK(buf.n_shards == S, ErrorCode::internal, "train_step: the shard buffers are not planned");
    MOE_CHECK(cfg.accum % S == 0, ErrorCode::internal, "train_step: accum is not a multiple of the shards");
    const ShardBlock blk = shard_block(S, comm.rank(), comm.size());
    const int per_shard = cfg.accum / S; // micro-batches of a shard (the last step of an epoch may have fewer)
    std::span<float> g = net.store.trainable_grads();
    const size_t M = buf.metric_out.size();
    for (auto & s : net.sites)
        if (auto * st = s->stats()) st->clear();
    for (int k = 0; k < blk.count; ++k) {
        const int shard = blk.first + k;
        const int m0 = std::min(micro.count(), shard * per_shard), m1 = std::min(micro.count(), m0 + per_shard);
        net.begin_shard();
        Sums ss;
        accumulate(net, micro, m0, m1, cfg, buf, ss, r.bad_term);
        std::copy(g.begin(), g.end(), buf.grad_ptrs[k]);
        std::fill(g.begin(), g.end(), 0.f);
        pack(buf.metric_ptrs[k], ss, net);
    }
    float * gs = buf.grad_scratch.empty() ? nullptr : buf.grad_scratch.data();
    tree_sum<float>(comm, buf.grad_ptrs, g.size(), S, gs, g.data());
    tree_sum<double>(comm, buf.metric_ptrs, M, S, buf.metric_scratch.data(), buf.metric_out.data());
    unpack(buf.metric_out.data(), sums, net);
    if (comm.size() > 1 && !buf.exact.empty()) { // the after-step updates see the counts of every shard
        size_t o = 0;
        for (auto & s : net.sites)
            for (int64_t v : s->step_counts()) buf.exact[o++] = v;
        comm.sum_exact(buf.exact);
        o = 0;
        for (auto & s : net.sites)
            for (int64_t & v : s->step_counts()) v = buf.exact[o++];
    }
    finish(r, sums, net, opt, cfg);
    return r;
}

} // namespace moe::train
