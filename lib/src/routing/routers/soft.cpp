// routing: router "soft" — LoRAMoE's dense router: every expert, gate p = softmax(W x), no
// renormalisation (TUDB-Labs/MoE-PEFT@40f8cb7 moe_peft/adapters/loramoe/model.py).
#include "moe/routing/registry.hpp"
#include "moe/routing/routing.hpp"

namespace moe::routing {

template <typename T>
class SoftRouter final : public Router<T> {
  public:
    explicit SoftRouter(const RouterConfig &) {}
    int slots(int E, int) const override { return E; }
    int route(int32_t * idx, T * gate, int64_t * counts, const T * p, const RouteContext & c) override {
        const int N = c.N, E = c.E;
        for (int n = 0; n < N; ++n)
            for (int e = 0; e < E; ++e) idx[(size_t)n * E + e] = e;
        gate_forward(gate, p, idx, N, c.P, E, false, T(1));
        count_slots(counts, idx, (int64_t)N * E);
        return E;
    }
};

RouterEntry router_soft() {
    RouterTraits t;
    t.dense_slots = true;
    return {"soft",
            "LoRAMoE: every expert, weighted by the softmax (no top-k, no renormalisation)",
            t,
            {},
            {},
            &construct<SoftRouter, float>,
            &construct<SoftRouter, double>};
}

} // namespace moe::routing
