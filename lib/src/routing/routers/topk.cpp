// routing: router "topk" — token-choice top-k over p = softmax(W x) (Mixtral, MoLA, MixLoRA;
// huggingface/transformers@008f5c8 src/transformers/models/mixtral/modular_mixtral.py): the k
// largest, ties to the lower index, gates renormalised over the selected (routing.renormalize)
// or the raw probabilities. With a single expert there is no router (a plain LoRA).
#include <algorithm>

#include "moe/routing/registry.hpp"
#include "moe/routing/routing.hpp"

namespace moe::routing {

template <typename T>
class TopkRouter final : public Router<T> {
  public:
    explicit TopkRouter(const RouterConfig & c) : K_(std::max(1, c.k)) { this->renorm_ = c.renormalize; }
    bool has_weights(int E) const override { return E > 1; }
    int slots(int, int) const override { return K_; }
    int route(int32_t * idx, T * gate, int64_t * counts, const T * p, const RouteContext & c) override {
        const int K = !c.train && c.eval_k > 0 ? std::min(c.eval_k, c.P) : std::min(K_, c.P);
        topk_select(idx, p, c.N, c.P, K);
        gate_forward(gate, p, idx, c.N, c.P, K, this->renorm_, T(1));
        count_slots(counts, idx, (int64_t)c.N * K);
        return K;
    }

  private:
    int K_;
};

RouterEntry router_topk() {
    RouterTraits t;
    t.fixed_k = true;
    t.renormalizes = "routing.renormalize";
    return {"topk",
            "Mixtral / MoLA / MixLoRA: the k most probable experts, renormalised or raw",
            t,
            {"k", "renormalize"},
            {},
            &construct<TopkRouter, float>,
            &construct<TopkRouter, double>};
}

} // namespace moe::routing
