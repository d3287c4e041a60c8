// routing: router "sigmoid_bias" — DeepSeek-V3's auxiliary-loss-free balancing
// (deepseek-ai/DeepSeek-V3@9b4e978 inference/model.py `Gate.forward`; Wang et al. 2024, arXiv
// 2408.15664): scores s = σ(W x); top-k of s + b with a per-expert bias b that has no gradient;
// gates = the UNBIASED s of the selected, renormalised, times route_scale. After every optimizer
// step b_e += u * sign(mean_e c_e - c_e) from the step's loads c (NVIDIA/Megatron-LM@00611e6
// megatron/core/transformer/moe/moe_utils.py `get_updated_expert_bias`).
#include <algorithm>

#include "moe/routing/registry.hpp"
#include "moe/routing/routing.hpp"

namespace moe::routing {

template <typename T>
class SigmoidBiasRouter final : public Router<T> {
  public:
    explicit SigmoidBiasRouter(const RouterConfig & c) : K_(std::max(1, c.k)), u_(c.bias_update_rate) {
        this->renorm_ = true;
        this->scale_ = static_cast<T>(c.route_scale);
    }
    void declare(ParamStore<T> & s, const std::string & site, int E) override {
        id_bias_ = s.declare(site + ".router.expert_bias", {E}, false, Init::Zeros());
    }
    void bind(ParamStore<T> & s) override { bias_ = s.value(id_bias_); }
    int slots(int, int) const override { return K_; }
    int route(int32_t * idx, T * gate, int64_t * counts, const T * p, const RouteContext & c) override {
        const int K = !c.train && c.eval_k > 0 ? std::min(c.eval_k, c.P) : std::min(K_, c.P);
        biased_topk_select(idx, p, bias_, c.N, c.E, K);
        gate_forward(gate, p, idx, c.N, c.P, K, true, this->scale_);
        count_slots(counts, idx, (int64_t)c.N * K);
        return K;
    }
    void after_step(const int64_t * load, int E) override {
        if (bias_) bias_update(bias_, load, E, static_cast<T>(u_));
    }

  private:
    int K_;
    double u_;
    int id_bias_ = -1;
    T * bias_ = nullptr; // (E) <site>.router.expert_bias, frozen (updated after each step)
};

RouterEntry router_sigmoid_bias() {
    RouterTraits t;
    t.sigmoid = true;
    t.fixed_k = true;
    t.renormalizes = "yes (then times route_scale)";
    return {"sigmoid_bias",
            "DeepSeek-V3: sigmoid scores, top-k of scores + a load-driven bias (no auxiliary loss)",
            t,
            {"k", "bias_update_rate", "route_scale"},
            {},
            &construct<SigmoidBiasRouter, float>,
            &construct<SigmoidBiasRouter, double>};
}

} // namespace moe::routing
