// moe/sites/poly_site.hpp — Poly / MHR at one site (router "task"; huggingface/peft@5d602fd
// src/peft/tuners/poly/layer.py, a simplified port of microsoft/mttl@ce4ca51
// mttl/models/poly.py): for the task t of each sample, skill weights w (q,S) from module logits
// Φ[t] (routing.hpp: poly_weights_forward; relaxed Bernoulli in training, σ at evaluation), then
// the LoRA PARAMETERS are mixed before the matmul:
//     A_t = Σ_s w[q(c),s] A_s  (split q(c) of input column c),  B_t = Σ_s w[q(o),s] B_s,
//     out += (1/r) (x A_t^T) B_t^T
// Rows are grouped by task (counting sort), so each task is two dense GEMMs on a contiguous
// block. Parameters: <site>.experts.lora_a (S,R,C) kaiming-uniform with fan-in C/q,
// <site>.experts.lora_b (S,OC,R) = 0, <site>.router.module_logits (n_tasks, q*S) ~ U(±1e-3).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "moe/adapters/config.hpp"
#include "moe/core/rng.hpp"
#include "moe/routing/config.hpp"
#include "moe/sites/site.hpp"

namespace moe::sites {

template <typename T>
class PolySite final : public Site<T> {
  public:
    void declare(ParamStore<T> & s, const std::string & site, int C, int OC, const adapters::AdapterConfig & a,
                 const routing::RouterConfig & r, const nn::TrainablePred & tr);
    void bind(ParamStore<T> & s) override;
    void plan(int N, int tokens = 1) override;
    void set_context(const SiteContext & c) override;
    void forward(T * out, const T * inp, int N, bool train) override;
    void backward(T * dinp, const T * dout, const T * inp, int N) override;
    routing::RoutingStats * stats() override { return &stats_; }
    void set_stats_enabled(bool on) override { stats_on_ = on; }
    void set_analysis(int n_tasks, int n_classes) override;
    void set_labels(const int32_t * labels) override { labels_ = labels; }
    const std::string & name() const override { return site_; }
    int experts() const override { return S_; }

  private:
    std::string site_;
    routing::RouterConfig rc_;
    int C_ = 0, OC_ = 0, S_ = 1, R_ = 1, q_ = 1, n_tasks_ = 1, Nmax_ = 0, N_ = 0;
    T scale_ = 1;
    bool train_ = false;
    int id_a_ = -1, id_b_ = -1, id_phi_ = -1;
    T *a_ = nullptr, *b_ = nullptr, *phi_ = nullptr, *da_ = nullptr, *db_ = nullptr, *dphi_ = nullptr;
    // planned
    std::vector<T> mixA_, mixB_, pw_, pz_, pu_, dmixA_, dmixB_, dpw_; // per task: mixed A, B, weights, z, u
    std::vector<T> xg_, yg_, h_, dh_, dyg_, dxg_, gate_;
    std::vector<int32_t> idx_, perm_, toff_;
    routing::RoutingStats stats_, off_stats_;
    bool stats_on_ = true;
    const int32_t * task_ = nullptr;
    int n_samples_ = 1;
    Rng rng_;
    const int32_t * labels_ = nullptr;
    int an_tasks_ = 0, an_classes_ = 0;
};

extern template class PolySite<float>;
extern template class PolySite<double>;

} // namespace moe::sites
