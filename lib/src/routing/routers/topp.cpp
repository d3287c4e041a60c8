// routing: router "topp" — MixLoRA-dynamic top-p (TUDB-Labs/MoE-PEFT@40f8cb7
// moe_peft/adapters/mixlora/model.py `_dynamic_top_p`): the smallest prefix of experts by
// decreasing probability whose cumulative probability reaches top_p; raw probabilities as gates.
#include "moe/routing/registry.hpp"
#include "moe/routing/routing.hpp"

namespace moe::routing {

template <typename T>
class ToppRouter final : public Router<T> {
  public:
    explicit ToppRouter(const RouterConfig & c) : top_p_(c.top_p) {}
    int slots(int E, int) const override { return E; }
    int route(int32_t * idx, T * gate, int64_t * counts, const T * p, const RouteContext & c) override {
        const int N = c.N, E = c.E;
        topp_select(idx, p, N, E, static_cast<T>(top_p_));
        gate_forward(gate, p, idx, N, c.P, E, false, T(1));
        count_slots(counts, idx, (int64_t)N * E);
        return E;
    }

  private:
    double top_p_;
};

RouterEntry router_topp() {
    RouterTraits t;
    t.dense_slots = true;
    return {"topp",
            "MixLoRA-dynamic: the smallest prefix of experts reaching top_p, raw probabilities",
            t,
            {"top_p"},
            {},
            &construct<ToppRouter, float>,
            &construct<ToppRouter, double>};
}

} // namespace moe::routing
