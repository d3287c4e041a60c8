// routing: router "null_experts" — AdaMoE (CengZihao/AdaMoE@180f122; arXiv 2406.13233): the
// softmax runs over E true and M null experts, top-k over all E + M; null experts are the zero
// function (their slots carry no compute) and the gates are renormalised among the selected true
// experts only (a token with none gets no adapter output). Brings the AdaMoE load-balancing
// loss over the E + M counts (null_loss).
#include <algorithm>

#include "moe/routing/registry.hpp"
#include "moe/routing/routing.hpp"

namespace moe::routing {

template <typename T>
class NullExpertsRouter final : public Router<T> {
  public:
    explicit NullExpertsRouter(const RouterConfig & c) : K_(std::max(1, c.k)), M_(c.null_experts) {
        this->renorm_ = true;
    }
    int columns(int E) const override { return E + M_; }
    int slots(int, int P) const override { return std::min(K_, P); }
    int route(int32_t * idx, T * gate, int64_t * counts, const T * p, const RouteContext & c) override {
        const int N = c.N, E = c.E;
        const int K = !c.train && c.eval_k > 0 ? std::min(c.eval_k, c.P) : std::min(K_, c.P);
        topk_select(idx, p, N, c.P, K);
        // null experts are the zero function: their slots carry no compute
        for (size_t i = 0; i < (size_t)N * K; ++i) {
            counts[idx[i]] += 1; // over E + M for the AdaMoE loss, before the nulls are cleared
            if (idx[i] >= E) idx[i] = -1;
        }
        gate_forward(gate, p, idx, N, c.P, K, true, T(1));
        return K;
    }

  private:
    int K_, M_;
};

static void example_null_experts(RouterConfig & c) {
    c.null_experts = 2;
    c.k = 3;
}

RouterEntry router_null_experts() {
    RouterTraits t;
    t.fixed_k = true;
    t.renormalizes = "yes (among the selected true experts)";
    return {"null_experts",
            "AdaMoE: top-k over E true + M zero-compute null experts, renormalised among the true",
            t,
            {"k", "null_experts"},
            {"null_loss"},
            &construct<NullExpertsRouter, float>,
            &construct<NullExpertsRouter, double>,
            &example_null_experts};
}

} // namespace moe::routing
