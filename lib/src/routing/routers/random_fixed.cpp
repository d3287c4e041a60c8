// routing: router "random_fixed" — SMoE-Dropout (Chen et al. 2023, arXiv 2303.01610): a router
// with random weights that never train; top-k with renormalised gates, where k grows linearly
// from k_start to k over k_grow_steps optimizer steps. Evaluation routes with the k of the
// network's current step (a finished run: the k its training reached).
#include <algorithm>
#include <cmath>

#include "moe/routing/registry.hpp"
#include "moe/routing/routing.hpp"

namespace moe::routing {

template <typename T>
class RandomFixedRouter final : public Router<T> {
  public:
    explicit RandomFixedRouter(const RouterConfig & c)
        : K_(std::max(1, c.k)), k_start_(c.k_start), grow_(c.k_grow_steps) {
        this->renorm_ = true;
    }
    int slots(int, int) const override { return std::max(K_, k_start_); }
    int route(int32_t * idx, T * gate, int64_t * counts, const T * p, const RouteContext & c) override {
        const int K = k_now(c);
        topk_select(idx, p, c.N, c.P, K);
        gate_forward(gate, p, idx, c.N, c.P, K, true, T(1));
        count_slots(counts, idx, (int64_t)c.N * K);
        return K;
    }

  private:
    int k_now(const RouteContext & c) const {
        if (!c.train && c.eval_k > 0) return std::min(c.eval_k, c.P);
        if (grow_ > 0) {
            const double frac = std::min(1.0, double(c.step) / double(grow_));
            return std::clamp(k_start_ + (int)std::floor(frac * (K_ - k_start_) + 1e-9), 1, K_);
        }
        return std::min(K_, c.P);
    }
    int K_, k_start_;
    int64_t grow_;
};

static void example_random_fixed(RouterConfig & c) {
    c.k = 3;
    c.k_start = 1;
    c.k_grow_steps = 10;
}

RouterEntry router_random_fixed() {
    RouterTraits t;
    t.frozen = true;
    t.fixed_k = true;
    t.renormalizes = "yes";
    return {"random_fixed",
            "SMoE-Dropout: a frozen random router, top-k with k growing on a schedule",
            t,
            {"k", "k_start", "k_grow_steps"},
            {},
            &construct<RandomFixedRouter, float>,
            &construct<RandomFixedRouter, double>,
            &example_random_fixed};
}

} // namespace moe::routing
