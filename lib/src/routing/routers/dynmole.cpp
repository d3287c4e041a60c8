// routing: router "dynmole" — DynMoLE's Tsallis-entropy hybrid (mikecovlee/DynMoLE@9354b27
// moe_peft/adapters/dynmole/model.py; arXiv 2504.00661): experts with cumulative probability
// <= top_p plus the first keep_top_k, or every expert when the normalised Tsallis entropy of the
// token exceeds entropy_threshold; gates w = p ⊙ mask, not renormalised. Brings its router
// loss (dynmole_loss), which reads w.
#include <vector>

#include "moe/routing/registry.hpp"
#include "moe/routing/routing.hpp"

namespace moe::routing {

template <typename T>
class DynmoleRouter final : public Router<T> {
  public:
    explicit DynmoleRouter(const RouterConfig & c) : c_(c) {}
    int slots(int E, int) const override { return E; }
    void plan(int N, int E) override {
        ent_.assign(N, T(0));
        w_.assign((size_t)N * E, T(0));
    }
    int route(int32_t * idx, T * gate, int64_t * counts, const T * p, const RouteContext & c) override {
        const int N = c.N, E = c.E;
        dynmole_select(idx, ent_.data(), p, N, E, static_cast<T>(c_.dynmole_top_p), c_.keep_top_k,
                       static_cast<T>(c_.entropy_threshold), static_cast<T>(c_.entropy_q),
                       static_cast<T>(c_.entropy_eps));
        gate_forward(gate, p, idx, N, c.P, E, false, T(1));
        gates_to_dense(w_.data(), gate, idx, N, E, E); // w = p * mask
        count_slots(counts, idx, (int64_t)N * E);
        return E;
    }
    const T * dense_weights() const override { return w_.data(); }

  private:
    RouterConfig c_;
    std::vector<T> ent_, w_; // (N) Tsallis entropy per token, (N,E) the masked weights
};

RouterEntry router_dynmole() {
    RouterTraits t;
    t.dense_slots = true;
    return {"dynmole",
            "DynMoLE: top-p plus keep_top_k, every expert above the Tsallis-entropy threshold; its entropy loss",
            t,
            {"dynmole_top_p", "keep_top_k", "entropy_threshold", "entropy_q", "entropy_eps"},
            {"dynmole_loss"},
            &construct<DynmoleRouter, float>,
            &construct<DynmoleRouter, double>};
}

} // namespace moe::routing
