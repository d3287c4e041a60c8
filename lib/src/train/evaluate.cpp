// train: evaluation of a network on a data set (see moe/train/evaluate.hpp).
#include "moe/train/evaluate.hpp"

#include "moe/nn/kernels.hpp"

namespace moe::train {

EvalInfo evaluate_dataset(Network & net, const data::Dataset & ds, const std::vector<std::string> & task_names,
                          int batch, const std::string & split, bool collect_stats) {
    EvalInfo ev;
    ev.split = split;
    const int V = net.model->n_outputs();
    const size_t n_tasks = task_names.size();
    std::vector<double> tl(n_tasks, 0.0), ta(n_tasks, 0.0);
    std::vector<int64_t> tn(n_tasks, 0);
    std::vector<float> x((size_t)batch * ds.d), losses(batch), probs((size_t)batch * V);
    std::vector<int32_t> y(batch), task(batch);
    net.set_stats_enabled(collect_stats);
    for (auto & s : net.sites) s->set_labels(y.data());
    // a fixed shuffled order, so every batch mixes the tasks (the data is grouped by task)
    data::Batcher b(ds, batch, true, 0x5eedULL);
    b.start_epoch(0);
    double loss_sum = 0, correct = 0;
    for (int64_t i = 0; i < b.batches_per_epoch(); ++i) {
        const int B = b.fill(i, x.data(), y.data(), task.data());
        models::Batch<float> mb;
        mb.B = B;
        mb.x = x.data();
        mb.targets = y.data();
        mb.task = task.data();
        const float * logits = net.forward(mb, false, 0);
        nn::cross_entropy_forward(losses.data(), probs.data(), logits, y.data(), B, V, 0, V);
        for (int r = 0; r < B; ++r) {
            const double l = losses[r];
            const bool ok = argmax_row(logits + (size_t)r * V, V) == y[r];
            loss_sum += l;
            correct += ok;
            const int t = task[r];
            if (t >= 0 && (size_t)t < n_tasks) {
                tl[t] += l;
                ta[t] += ok;
                ++tn[t];
            }
        }
    }
    for (auto & s : net.sites) s->set_labels(nullptr);
    net.set_stats_enabled(true);
    ev.n = ds.n;
    ev.loss = ds.n ? loss_sum / ds.n : 0;
    ev.accuracy = ds.n ? correct / ds.n : 0;
    for (size_t t = 0; t < n_tasks; ++t)
        ev.tasks.push_back({task_names[t], tn[t], tn[t] ? tl[t] / tn[t] : 0.0, tn[t] ? ta[t] / tn[t] : 0.0});
    return ev;
}

} // namespace moe::train
