// routing: the router z-loss of ST-MoE (Zoph et al. 2022, arXiv 2202.08906):
//     L_z = mean_n (logsumexp_e z[n,e])^2        over the router logits (N,P)
// Its gradient goes into the logits. It is computed whenever z_coef > 0 and whenever a
// load-balancing loss is on (then with its coefficient, possibly 0): its row logsumexps give the
// entropy telemetry without a logarithm per element, and its value is logged.
#include "moe/routing/loss.hpp"
#include "moe/routing/routing.hpp"

namespace moe::routing {

namespace {

template <typename T>
class ZLoss final : public SiteLoss<T> {
  public:
    explicit ZLoss(const BalanceConfig & bc) {
        this->kind = kZLoss;
        this->coef = bc.z_coef;
    }
    double forward(const RouterOutputs<T> & r) override { return zloss_forward(r.logits, r.N, r.P, r.lse); }
    void backward_logits(T * dlogits, const RouterOutputs<T> & r, T scale) override {
        if (this->coef > 0) zloss_backward(dlogits, r.logits, static_cast<T>(this->coef) * scale, r.N, r.P);
    }
};

template <typename T>
std::unique_ptr<SiteLoss<T>> make(const BalanceConfig & bc, const RouterConfig &, bool) {
    if (!(bc.z_coef > 0 || bc.lbl != "none")) return nullptr;
    return std::make_unique<ZLoss<T>>(bc);
}

} // namespace

LossEntry loss_z_loss() {
    return {"z_loss",      kZLoss,  "router z-loss mean_n logsumexp(z_n)^2 (ST-MoE)",
            {"z_coef"},    false,   &make<float>,
            &make<double>, nullptr, nullptr};
}

} // namespace moe::routing
