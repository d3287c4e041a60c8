// expand: the stream's data and its network — the frozen base with a SEMA site at every adapted
// site (Linear sites, or block sites beside a ViT block's MLP), all slots declared up front.
#include "internal.hpp"

#include "moe/core/error.hpp"
#include "moe/core/glob.hpp"
#include "moe/core/log.hpp"
#include "moe/models/registry.hpp"
#include "moe/train/run_setup.hpp"

namespace moe::expand {

void Expander::build() {
    st_ = data::build_stream(spec_.data, spec_.stream, seed_);
    const auto & tr = st_.all_train;
    const int N = (int)st_.names.size();
    S_ = cfg_.max_adapters > 0 ? cfg_.max_adapters : N;
    const std::string & strat = cfg_.strategy;
    if (strat == "mole_joint") S_ = std::max(S_, N);
    nn::TrainablePred trainable = [](const std::string & name) { return name.rfind("head.", 0) == 0; };
    models::InputShape in{tr.d, tr.channels, tr.height, tr.width};
    MOE_CHECK(!(st_.growing && cfg_.head == "base" && st_.n_logits != st_.V), ErrorCode::spec,
              "expand.head = base: the growing label space has " + std::to_string(st_.n_logits) +
                  " logits, the base head " + std::to_string(st_.V) + "; use expand.head = reinit");
    { // every pattern must match a site of this model
        ParamStore<float> probe;
        auto m = models::make_model<float>(spec_.model, in, st_.n_logits, probe, trainable);
        auto all = m->sites();
        auto problems = train::unmatched_patterns(cfg_.sites, "expand.sites", all);
        auto more = train::unmatched_patterns(cfg_.expandable, "expand.expandable", all);
        problems.insert(problems.end(), more.begin(), more.end());
        if (!problems.empty()) throw SpecError("", problems);
    }
    sites::SemaSiteConfig sc;
    sc.adapter = cfg_.adapter;
    sc.rank = cfg_.rank;
    sc.lora_alpha = cfg_.lora_alpha;
    sc.rd_dim = cfg_.rd_dim;
    sc.buffer_size = cfg_.buffer_size;
    const bool rd = strat == "sema";
    train::SiteFactory make = [&](const nn::SiteRef<float> & at,
                                  ParamStore<float> & store) -> std::unique_ptr<sites::Site<float>> {
        if (strat == "head_only" || at.name == "head") return nullptr;
        // default: every Linear site but the head; patterns may name block sites too
        if (cfg_.sites.empty() ? at.block : !glob_any(cfg_.sites, at.name)) return nullptr;
        const bool exp = cfg_.expandable.empty() || glob_any(cfg_.expandable, at.name);
        MOE_CHECK(cfg_.expandable.empty() || cfg_.sites.empty() || !exp || glob_any(cfg_.sites, at.name),
                  ErrorCode::spec, "expand.expandable: site " + at.name + " is not in expand.sites");
        auto site = std::make_unique<sites::SemaSite<float>>();
        const bool expandable = exp && strat != "single_adapter";
        site->declare(store, at.name, at.C, at.OC, sc, expandable ? S_ : 1, expandable, rd);
        sites_.push_back(site.get());
        site_names_.push_back(at.name);
        return site;
    };
    net_ = train::build_network(spec_.model, in, st_.n_logits, trainable, make, seed_);
    MOE_CHECK(strat == "head_only" || !sites_.empty(), ErrorCode::spec,
              "expand.sites: no adapted site (the head is never adapted)");
    // the frozen base
    if (!spec_.base.empty()) {
        const bool reinit = cfg_.head == "reinit";
        train::load_base(net_->store, spec_.base, [reinit](const std::string & n) {
            return n.find(".sema.") == std::string::npos && !(reinit && n.rfind("head.", 0) == 0);
        });
    } else {
        log_warn("moe-expand on a randomly initialised base (no \"base\" run file given)");
    }
    if (cfg_.head == "reinit") { // SEMA: kaiming-uniform weight (the default init), zero bias
        const int id = net_->store.find("head.bias");
        if (id >= 0) std::fill_n(net_->store.value(id), net_->store.info(id).size, 0.f);
    }
    Bmax_ = std::max({cfg_.batch_size, cfg_.detect_batch_size, cfg_.eval_batch_size});
    net_->plan(Bmax_);
    const int V = st_.n_logits, d = tr.d;
    x_.assign((size_t)Bmax_ * d, 0.f);
    y_.assign(Bmax_, 0);
    task_.assign(Bmax_, 0);
    sbuf_.plan(Bmax_ * net_->model->rows_per_sample(), V);
    augment_ = spec_.data.augment.hflip || spec_.data.augment.shift > 0;
    MOE_CHECK(!augment_ || tr.is_image(), ErrorCode::spec, "data.augment: the data has no image geometry");
    aug_.assign(augment_ ? (size_t)d : 0, 0.f);
    // task 0 starts with one adapter per site (mole_joint: every slot of an expandable site)
    for (auto * s : sites_) s->set_adapters(strat == "mole_joint" && s->expandable() ? s->slots() : 1);
}

} // namespace moe::expand
