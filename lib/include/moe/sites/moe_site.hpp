// moe/sites/moe_site.hpp — a mixture of adapter experts at one site:
//
//     y = W x + b + Σ_{e ∈ S(x)} g_e(x) · Δ_e(x)
//
// composed of three parts: a router (routing/router.hpp) over the router Linear's scores picks
// S(x) and the gates g; an expert bank (adapters/expert_bank.hpp) runs the experts on their
// routed rows (sparse dispatch: compute grows with k, not E); the site's losses
// (routing/loss.hpp) report their un-scaled values and add their gradients in backward.
// Parameters: the bank's "<site>.experts.*" (stacked (E, ...)), "<site>.router.weight" (P, C) and
// the router's own (sigmoid_bias: "<site>.router.expert_bias" (E), frozen).
// A single adapter is the E = 1 case (router none, or topk with one expert).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "moe/adapters/config.hpp"
#include "moe/adapters/expert_bank.hpp"
#include "moe/core/rng.hpp"
#include "moe/routing/config.hpp"
#include "moe/routing/loss.hpp"
#include "moe/routing/registry.hpp"
#include "moe/routing/telemetry.hpp"
#include "moe/sites/site.hpp"

namespace moe::sites {

template <typename T>
class MoeSite final : public Site<T> {
  public:
    void declare(ParamStore<T> & s, const std::string & site, int C, int OC, const adapters::AdapterConfig & a,
                 const routing::RouterConfig & r, const routing::BalanceConfig & b, const nn::TrainablePred & tr);
    void bind(ParamStore<T> & s) override;
    void plan(int N, int tokens = 1) override;
    void set_context(const SiteContext & c) override;
    void forward(T * out, const T * inp, int N, bool train) override;
    void backward(T * dinp, const T * dout, const T * inp, int N) override;
    void after_step() override;
    void restart_running() override;
    std::span<int64_t> step_counts() override { return step_load_; }
    double aux_loss() const override { return last_aux_; }
    void set_aux_scale(double s) override { aux_scale_ = s; }
    routing::SiteLoss<T> * pooled_loss(int kind) override;
    void record_pooled(int kind, double value) override { (stats_on_ ? stats_ : off_stats_).aux[kind] += value; }
    routing::RoutingStats * stats() override { return &stats_; }
    void set_stats_enabled(bool on) override { stats_on_ = on; }
    void set_overrides(const Overrides & o) override { ov_ = o; }
    void set_analysis(int n_tasks, int n_classes) override;
    void set_labels(const int32_t * labels) override { labels_ = labels; }
    const std::string & name() const override { return site_; }
    int experts() const override { return E_; }
    Selection<T> last_selection() const override { return {N_, K_, idx_.data(), gate_.data()}; }
    const routing::RouterEntry & router_entry() const { return *entry_; }
    // adapter multiply-adds spent in the forwards since the last clear / those of every expert densely
    double flops_ratio() const;

  private:
    void route(const T * inp, int N, bool train);
    routing::RouterOutputs<T> outputs();
    std::string site_;
    adapters::AdapterConfig ac_;
    routing::RouterConfig rc_;
    const routing::RouterEntry * entry_ = nullptr;
    std::unique_ptr<routing::Router<T>> router_;
    std::unique_ptr<adapters::ExpertBank<T>> bank_;
    std::vector<std::unique_ptr<routing::SiteLoss<T>>> losses_;
    int C_ = 0, OC_ = 0, E_ = 1, P_ = 1, Nmax_ = 0, N_ = 0, K_ = 1, routed_ = 0;
    bool has_router_ = false, train_ = false, has_lse_ = false;
    int id_rw_ = -1;
    T *rw_ = nullptr, *drw_ = nullptr; // (P,C) the router Linear and its gradient (null: frozen)
    // per-forward state (planned)
    std::vector<T> xr_, noise_;                        // (N,C) jittered router input and its factors
    std::vector<T> xd_, mask_, dxd_;                   // (N,C) dropped-out adapter input, its mask, scratch gradient
    std::vector<T> logits_, probs_, dprobs_, dlogits_; // (N,P)
    std::vector<T> lse_;                               // (N) the router rows' logsumexp (z-loss, entropy telemetry)
    std::vector<T> gate_, dgate_;                      // (N,K)
    std::vector<int32_t> idx_, perm_, offsets_;        // (N,K), (N*K), (E+1)
    std::vector<int64_t> counts_;                      // (P) this forward's (token, slot) assignments
    std::vector<int64_t> step_load_;                   // (E) the step's assignments (router after_step)
    double last_aux_ = 0, aux_scale_ = 1.0;
    routing::RoutingStats stats_, off_stats_; // off_stats_ absorbs the counts while telemetry is disabled
    bool stats_on_ = true;
    // context
    const int32_t * task_ = nullptr;
    int n_samples_ = 1;
    int64_t step_ = 0;
    Rng rng_;
    Overrides ov_;
    const int32_t * labels_ = nullptr;
    int an_tasks_ = 0, an_classes_ = 0;
};

extern template class MoeSite<float>;
extern template class MoeSite<double>;

} // namespace moe::sites
