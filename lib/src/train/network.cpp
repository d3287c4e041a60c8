// train: a base model with its adapted sites and their protocol (see moe/train/network.hpp).
#include "moe/train/network.hpp"

#include <cmath>

#include "moe/core/error.hpp"
#include "moe/core/glob.hpp"
#include "moe/models/registry.hpp"
#include "moe/routing/registry.hpp"
#include "moe/sites/moe_site.hpp"
#include "moe/sites/poly_site.hpp"

namespace moe::train {

bool is_adapter_param(const std::string & name) {
    return name.find(".experts.") != std::string::npos || name.find(".router.") != std::string::npos;
}

void Network::plan(int B) {
    model->plan(B);
    const int tok = model->tokens_per_sample();
    for (size_t i = 0; i < sites.size(); ++i) {
        const int rows = i < site_rows.size() && site_rows[i] > 0 ? site_rows[i] : tok;
        sites[i]->plan(B * rows, rows);
    }
}

void Network::finish_sites() {
    pools_.clear();
    for (int kind = 0; kind < routing::kLossKinds; ++kind) {
        Pool p;
        p.kind = kind;
        for (auto & s : sites)
            if (auto * part = s->pooled_loss(kind)) {
                p.parts.push_back(part);
                p.at.push_back(s.get());
                p.coef = part->coef;
            }
        if (!p.parts.empty()) pools_.push_back(std::move(p));
    }
}

const float * Network::forward(const models::Batch<float> & b, bool train, uint64_t stream, ForwardLosses * losses) {
    sites::SiteContext ctx;
    ctx.task = b.task;
    ctx.n_samples = b.B;
    ctx.step = step_;
    ctx.stream = stream;
    for (auto & s : sites) s->set_context(ctx);
    const float * logits = model->forward(b, train);
    double a = 0;
    bool pooled_bad = false;
    if (train) // losses computed over every site's rows, then each site's own
        for (auto & p : pools_) {
            const double v = routing::pool_losses<float>(p.kind, p.parts, true, p.state);
            for (auto * s : p.at) s->record_pooled(p.kind, v);
            a += p.coef * v;
            pooled_bad |= !std::isfinite(a);
        }
    int bad_site = -1;
    for (size_t i = 0; i < sites.size(); ++i) {
        const double v = sites[i]->aux_loss();
        a += v;
        if (bad_site < 0 && !std::isfinite(v)) bad_site = (int)i;
    }
    if (losses) *losses = {a, pooled_bad, bad_site};
    return logits;
}

const float * Network::decode(const int32_t * tokens, int B, int t, const int32_t * task) {
    auto * dec = model->decoder();
    MOE_CHECK(dec != nullptr, ErrorCode::spec, "the model '" + model->kind() + "' is not a causal language model");
    sites::SiteContext ctx;
    ctx.task = task;
    ctx.n_samples = B;
    ctx.step = step_;
    for (auto & s : sites) s->set_context(ctx);
    return dec->decode(tokens, B, t);
}

void Network::backward(const float * dlogits, const models::Batch<float> & b) { model->backward(dlogits, b); }

double Network::objective_backward() {
    double v = 0;
    for (auto & s : sites) v += s->objective_backward();
    return v;
}

void Network::after_step() {
    for (auto & s : sites) s->after_step();
    for (auto & p : pools_) p.state.reset();
    ++step_;
}

void Network::begin_shard() {
    for (auto & s : sites) s->restart_running();
    for (auto & p : pools_) p.state.reset();
}

void Network::set_stats_enabled(bool on) {
    for (auto & s : sites) s->set_stats_enabled(on);
}

void Network::set_aux_scale(double v) {
    for (auto & s : sites) s->set_aux_scale(v);
}

void Network::take_stats(const std::vector<routing::RoutingStats *> & windows) {
    for (size_t i = 0; i < sites.size(); ++i) {
        routing::RoutingStats * st = sites[i]->stats();
        if (!st) continue;
        if (i < windows.size() && windows[i]) windows[i]->add(*st);
        st->clear();
    }
}

std::unique_ptr<Network> build_network(const models::ModelConfig & mc, const models::InputShape & in, int n_outputs,
                                       const nn::TrainablePred & trainable, const SiteFactory & make, uint64_t seed,
                                       bool allocate) {
    auto net = std::make_unique<Network>();
    net->store.set_frozen_bf16(mc.base_storage == "bf16");
    net->model = models::make_model<float>(mc, in, n_outputs, net->store, trainable);
    for (auto & ref : net->model->sites()) {
        auto site = make(ref, net->store);
        if (!site) continue;
        *ref.hook = site.get();
        net->sites.push_back(std::move(site));
        net->site_rows.push_back(ref.rows);
    }
    if (!allocate) { // declared only: the memory guard counts its tensors and plans its buffers
        net->finish_sites();
        return net;
    }
    net->store.allocate(seed);
    net->model->bind(net->store);
    for (auto & s : net->sites) s->bind(net->store);
    net->finish_sites();
    return net;
}

std::vector<SpecProblem> unmatched_patterns(const std::vector<std::string> & patterns, const std::string & key,
                                            const std::vector<nn::SiteRef<float>> & all) {
    std::vector<SpecProblem> problems;
    for (size_t i = 0; i < patterns.size(); ++i) {
        bool any = false;
        for (const auto & s : all) any |= glob_match(patterns[i], s.name);
        if (any) continue;
        std::string names;
        for (const auto & s : all) names += " " + s.name;
        problems.push_back({key + "[" + std::to_string(i) + "]",
                            "pattern '" + patterns[i] + "' matches no site; the sites are:" + names});
    }
    return problems;
}

std::unique_ptr<Network> build_network(const spec::Spec & spec, const models::InputShape & in, int n_classes,
                                       int n_tasks, uint64_t seed, bool allocate) {
    const bool adapted = !spec.adapters.sites.empty();
    nn::TrainablePred trainable = [&](const std::string & name) {
        if (glob_any(spec.train.freeze, name)) return false;
        if (!adapted) return true;
        return is_adapter_param(name) || glob_any(spec.train.unfreeze, name);
    };
    routing::RouterConfig rc = spec.routing;
    if (rc.n_tasks == 0) rc.n_tasks = std::max(1, n_tasks);
    const routing::RouterEntry & router = routing::router_entry(rc.kind);
    SiteFactory make = [&](const nn::SiteRef<float> & at,
                           ParamStore<float> & store) -> std::unique_ptr<sites::Site<float>> {
        if (!adapted || !glob_any(spec.adapters.sites, at.name)) return nullptr;
        if (router.traits.per_task) {
            auto s = std::make_unique<sites::PolySite<float>>();
            s->declare(store, at.name, at.C, at.OC, spec.adapters, rc, trainable);
            return s;
        }
        auto s = std::make_unique<sites::MoeSite<float>>();
        s->declare(store, at.name, at.C, at.OC, spec.adapters, rc, spec.loss, trainable);
        return s;
    };
    if (adapted) { // every pattern must match a site of this model: built once without sites to list them
        ParamStore<float> probe;
        auto m = models::make_model<float>(spec.model, in, n_classes, probe, trainable);
        auto problems = unmatched_patterns(spec.adapters.sites, "adapters.sites", m->sites());
        if (!problems.empty()) throw SpecError("", problems);
    }
    return build_network(spec.model, in, n_classes, trainable, make, seed, allocate);
}

int argmax_row(const float * z, int V) {
    int best = 0;
    for (int v = 1; v < V; ++v)
        if (z[v] > z[best]) best = v;
    return best;
}

} // namespace moe::train
