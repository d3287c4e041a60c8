// routing: router "none" — no router; every token goes to expert 0 with gate 1 (a single LoRA).
#include "moe/routing/registry.hpp"

namespace moe::routing {

template <typename T>
class NoneRouter final : public Router<T> {
  public:
    explicit NoneRouter(const RouterConfig &) {}
    bool has_weights(int) const override { return false; }
    int slots(int, int) const override { return 1; }
    int route(int32_t * idx, T * gate, int64_t * counts, const T *, const RouteContext & c) override {
        const int K = route_to_first(idx, gate, c.N);
        count_slots(counts, idx, c.N);
        return K;
    }
};

RouterEntry router_none() {
    RouterTraits t;
    t.weights = false;
    t.chooses = false;
    return {"none",
            "every token to expert 0 (a single adapter, adapters.experts = 1)",
            t,
            {},
            {},
            &construct<NoneRouter, float>,
            &construct<NoneRouter, double>};
}

} // namespace moe::routing
