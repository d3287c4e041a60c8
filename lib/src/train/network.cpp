// train: building a model with its adapter sites from a spec.
#include "moe/train/network.hpp"

#include "moe/core/error.hpp"
#include "moe/core/glob.hpp"

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

void Network::set_stats_enabled(bool on) {
    for (auto & s : sites) s->set_stats_enabled(on);
}

std::unique_ptr<Network> build_network(const spec::Spec & spec, const models::InputShape & in, int n_classes,
                                       int n_tasks, uint64_t seed) {
    auto net = std::make_unique<Network>();
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
    net->store.allocate(seed);
    net->model->bind(net->store);
    for (auto & s : net->sites) s->bind(net->store);
    return net;
}

} // namespace moe::train
