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

StepResult train_step(Network & net, optim::Optimizer<float> & opt, MicroBatches & micro, const StepConfig & cfg,
                      StepBuffers & buf) {
    StepResult r;
    const int V = net.model->n_outputs();
    const int lo = cfg.lo, hi = cfg.hi < 0 ? V : cfg.hi;
    const int rps = net.model->rows_per_sample();
    double task = 0, aux = 0;
    for (int mi = 0; mi < micro.count(); ++mi) {
        const models::Batch<float> & b = micro.fill(mi);
        const int rows = b.B * rps;
        r.samples += b.B;
        MOE_ASSERT((size_t)rows * V <= buf.probs.size());
        ForwardLosses fl;
        const float * logits = net.forward(b, true, micro.stream(mi), &fl);
        auto aux_terms = [&] { // (after the task loss: the first non-finite term is named)
            if (r.bad_term.empty() && fl.pooled_bad) r.bad_term = "the pooled load-balancing loss";
            if (r.bad_term.empty() && fl.bad_site >= 0)
                r.bad_term = "the auxiliary losses of site " + net.sites[fl.bad_site]->name();
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
            if (r.bad_term.empty() && !std::isfinite(ce_sum)) r.bad_term = "the cross-entropy";
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
            task += ce_sum;
            r.rows += counted;
        } else {
            const double v = net.objective_backward();
            if (r.bad_term.empty() && !std::isfinite(v)) r.bad_term = "the sites' objectives";
            aux_terms();
            task += v;
            r.rows += rows;
        }
        aux += fl.aux;
    }
    r.aux = aux / cfg.accum;
    r.loss = (cfg.task_loss ? (r.rows ? task / r.rows : 0.0) : task) + r.aux;
    r.grad_norm = optim::clip_grad_norm(net.store.trainable_grads(), cfg.clip);
    if (!std::isfinite(r.loss) || !std::isfinite(r.grad_norm)) return r;
    opt.step(cfg.lr_factor, /*zero_grads=*/true); // the next step starts from zero gradients
    net.after_step();
    r.updated = true;
    return r;
}

} // namespace moe::train
