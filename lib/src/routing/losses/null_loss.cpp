// routing: AdaMoE's load-balancing loss over E true and M null experts (CengZihao/AdaMoE@180f122
// exp_1/src/mola_modeling_llama_hacked.py): counts c over E + M (the null counts replaced by their
// mean), f = c / Σ c, L = (E + M) Σ_e f_e P_e; per site, summed over sites. Comes with the
// null_experts router.
#include "moe/routing/loss.hpp"
#include "moe/routing/routing.hpp"

namespace moe::routing {

namespace {

template <typename T>
class NullLoss final : public SiteLoss<T> {
  public:
    NullLoss(const BalanceConfig & bc, const RouterConfig & rc) : M_(rc.null_experts) {
        this->kind = kNullLoss;
        this->coef = bc.null_coef;
    }
    void plan(int, int, int P) override { f_.assign(P, T(0)); }
    double forward(const RouterOutputs<T> & r) override {
        return adamoe_lbl_forward(f_.data(), r.probs, r.counts, r.N, r.E, M_);
    }
    void backward_probs(T * dprobs, const RouterOutputs<T> & r, T scale) override {
        if (this->coef > 0) adamoe_lbl_backward(dprobs, f_.data(), static_cast<T>(this->coef) * scale, r.N, r.E, M_);
    }

  private:
    int M_;
    std::vector<T> f_; // (E + M)
};

template <typename T>
std::unique_ptr<SiteLoss<T>> make(const BalanceConfig & bc, const RouterConfig & rc, bool) {
    return std::make_unique<NullLoss<T>>(bc, rc);
}

} // namespace

LossEntry loss_null_loss() {
    return {"null_loss",   kNullLoss, "AdaMoE load balancing over true and null experts",
            {"null_coef"}, false,     &make<float>,
            &make<double>, nullptr,   nullptr};
}

} // namespace moe::routing
