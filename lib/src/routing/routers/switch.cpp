// routing: router "switch" — Switch Transformer top-1 with expert capacity (Fedus et al. 2021,
// arXiv 2101.03961; huggingface/transformers@00dcc6d modeling_switch_transformers.py): the most
// probable expert, gate = its raw probability; an expert keeps tokens in token order up to
// capacity ceil(capacity_factor * N / E), later ones are dropped (no expert, output unchanged).
#include <algorithm>
#include <cmath>

#include "moe/routing/registry.hpp"
#include "moe/routing/routing.hpp"

namespace moe::routing {

template <typename T>
class SwitchRouter final : public Router<T> {
  public:
    explicit SwitchRouter(const RouterConfig & c) : cf_(c.capacity_factor) {}
    int slots(int, int) const override { return 1; }
    int route(int32_t * idx, T * gate, int64_t * counts, const T * p, const RouteContext & c) override {
        const int N = c.N, E = c.E;
        topk_select(idx, p, N, c.P, 1);
        const int cap = std::max(1, (int)std::ceil(cf_ * N / E));
        switch_capacity_drop(idx, N, E, cap);
        gate_forward(gate, p, idx, N, c.P, 1, false, T(1));
        count_slots(counts, idx, N);
        return 1;
    }

  private:
    double cf_;
};

RouterEntry router_switch() {
    RouterTraits t;
    t.drops = true;
    return {"switch",
            "Switch Transformer: top-1 with expert capacity and token dropping",
            t,
            {"capacity_factor"},
            {},
            &construct<SwitchRouter, float>,
            &construct<SwitchRouter, double>};
}

} // namespace moe::routing
