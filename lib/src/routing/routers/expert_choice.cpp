// routing: router "expert_choice" — Expert Choice routing (Zhou et al. 2022, arXiv 2202.09368):
// each expert takes its k_c = capacity_factor * N / E most probable tokens (lower token index on
// ties); a token may get several experts or none. Gates = the raw probabilities.
#include <algorithm>
#include <vector>

#include "moe/routing/registry.hpp"
#include "moe/routing/routing.hpp"

namespace moe::routing {

template <typename T>
class ExpertChoiceRouter final : public Router<T> {
  public:
    explicit ExpertChoiceRouter(const RouterConfig & c) : cf_(c.capacity_factor) {}
    int slots(int E, int) const override { return E; }
    void plan(int N, int E) override { picks_.assign((size_t)E * N, 0); }
    int route(int32_t * idx, T * gate, int64_t * counts, const T * p, const RouteContext & c) override {
        const int N = c.N, E = c.E;
        const int kc = std::clamp((int)(cf_ * N / E), 1, N);
        expert_choice_select(picks_.data(), p, N, E, kc);
        std::fill(idx, idx + (size_t)N * E, -1);
        for (int e = 0; e < E; ++e)
            for (int j = 0; j < kc; ++j) idx[(size_t)picks_[(size_t)e * kc + j] * E + e] = e;
        gate_forward(gate, p, idx, N, c.P, E, false, T(1));
        count_slots(counts, idx, (int64_t)N * E);
        return E;
    }

  private:
    double cf_;
    std::vector<int32_t> picks_; // (E, k_c) each expert's tokens
};

RouterEntry router_expert_choice() {
    RouterTraits t;
    t.dense_slots = true;
    t.drops = true;
    return {"expert_choice",
            "Expert Choice: each expert takes its capacity_factor * N / E most probable tokens",
            t,
            {"capacity_factor"},
            {},
            &construct<ExpertChoiceRouter, float>,
            &construct<ExpertChoiceRouter, double>};
}

} // namespace moe::routing
