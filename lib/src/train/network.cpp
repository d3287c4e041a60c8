// train: building a model with its adapter sites from a spec.
#include "moe/train/network.hpp"

#include "moe/core/error.hpp"
#include "moe/core/glob.hpp"
#include "moe/data/dataset.hpp"
#include "moe/nn/kernels.hpp"

namespace moe::train {

bool is_adapter_param(const std::string & name) {
    return name.find(".experts.") != std::string::npos || name.find(".router.") != std::string::npos;
}

void Network::plan(int B) {
    model->plan(B);
    for (auto & s : sites) s->plan(B * model->tokens_per_sample());
}

void Network::set_context(const int32_t * task, int n, int64_t step, uint64_t stream) {
    for (auto & s : sites) s->set_context(task, n, step, stream);
}

double Network::pool_lbl(bool train) {
    if (site_ptrs.empty()) return 0.0;
    return routing::pool_lbl(site_ptrs, balance, train, lbl_acc_counts, lbl_acc_rows);
}

void Network::after_step() {
    for (auto & s : sites) s->after_step();
    std::fill(lbl_acc_counts.begin(), lbl_acc_counts.end(), 0);
    lbl_acc_rows = 0;
}

void Network::set_stats_enabled(bool on) {
    for (auto & s : sites) s->set_stats_enabled(on);
}

std::unique_ptr<Network> build_network(const spec::Spec & spec, const models::InputShape & in, int n_classes,
                                       int n_tasks, uint64_t seed) {
    auto net = std::make_unique<Network>();
    net->balance = spec.loss;
    const bool adapted = !spec.adapters.sites.empty();
    nn::TrainablePred trainable = [&](const std::string & name) {
        if (glob_any(spec.train.freeze, name)) return false;
        if (!adapted) return true;
        return is_adapter_param(name) || glob_any(spec.train.unfreeze, name);
    };
    net->model = models::make_model<float>(spec.model, in, n_classes, net->store, trainable);
    if (adapted) {
        auto all = net->model->sites();
        std::vector<SpecProblem> problems;
        for (size_t i = 0; i < spec.adapters.sites.size(); ++i) {
            const auto & pat = spec.adapters.sites[i];
            bool any = false;
            for (auto * l : all) any |= glob_match(pat, l->name);
            if (any) continue;
            std::string names;
            for (auto * l : all) names += " " + l->name;
            problems.push_back({"adapters.sites[" + std::to_string(i) + "]",
                                "pattern '" + pat + "' matches no site; the sites are:" + names});
        }
        if (!problems.empty()) throw SpecError("", problems);
        routing::RouterConfig rc = spec.routing;
        if (rc.n_tasks == 0) rc.n_tasks = std::max(1, n_tasks);
        for (auto * l : all) {
            if (!glob_any(spec.adapters.sites, l->name)) continue;
            auto site = std::make_unique<routing::MoeSite<float>>();
            site->declare(net->store, l->name, l->C, l->OC, spec.adapters, rc, spec.loss, trainable);
            l->hook = site.get();
            net->sites.push_back(std::move(site));
        }
    }
    for (auto & s : net->sites) net->site_ptrs.push_back(s.get());
    net->store.allocate(seed);
    net->model->bind(net->store);
    for (auto & s : net->sites) s->bind(net->store);
    return net;
}

int argmax_row(const float * z, int V) {
    int best = 0;
    for (int v = 1; v < V; ++v)
        if (z[v] > z[best]) best = v;
    return best;
}

EvalInfo evaluate_dataset(Network & net, const data::Dataset & ds, const std::vector<std::string> & task_names,
                          int batch, const std::string & split, bool collect_stats) {
    EvalInfo ev;
    ev.split = split;
    const int V = net.model->n_classes();
    const size_t n_tasks = task_names.size();
    std::vector<double> tl(n_tasks, 0.0), ta(n_tasks, 0.0);
    std::vector<int64_t> tn(n_tasks, 0);
    std::vector<float> x((size_t)batch * ds.d), losses(batch), probs((size_t)batch * V);
    std::vector<int32_t> y(batch), task(batch);
    net.set_stats_enabled(collect_stats);
    for (auto & s : net.sites) s->set_labels(y.data());
    // a fixed shuffled order, so every batch mixes the tasks (the data is grouped by task) —
    // capacity-based routers (switch, expert_choice) see batches like the training ones
    data::Batcher b(ds, batch, true, 0x5eedULL);
    b.start_epoch(0);
    double loss_sum = 0, correct = 0;
    for (int64_t i = 0; i < b.batches_per_epoch(); ++i) {
        const int B = b.fill(i, x.data(), y.data(), task.data());
        net.set_context(task.data(), B, 0, 0);
        const float * logits = net.model->forward(x.data(), B, false);
        nn::cross_entropy_forward(losses.data(), probs.data(), logits, y.data(), B, V, 0, V);
        for (int r = 0; r < B; ++r) {
            const double l = losses[r];
            const bool ok = argmax_row(logits + (size_t)r * V, V) == y[r];
            loss_sum += l;
            correct += ok;
            const int t = task[r];
            if (t >= 0 && (size_t)t < n_tasks) { tl[t] += l; ta[t] += ok; ++tn[t]; }
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
