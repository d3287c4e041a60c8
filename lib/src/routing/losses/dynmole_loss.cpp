// routing: DynMoLE's router loss (mikecovlee/DynMoLE@9354b27 moe_peft/adapters/dynmole/model.py):
//     L = beta * mean_t H_q(p_t) + alpha * E * Σ_e ftilde_e P_e
// ftilde_e = mean_t w[t,e] (the masked, un-renormalised weights), P_e = mean_t p[t,e], H_q the
// normalised Tsallis entropy (routing.hpp). MoE-PEFT concatenates every layer's router outputs
// and computes L once over all tokens (TUDB-Labs/MoE-PEFT@40f8cb7 moe_peft/common/moe_utils.py):
// that is the default (pooled); loss.lbl_pool = site computes it per site and sums, which weighs
// the entropy term L times with L sites. The coefficients beta, alpha are inside the value.
#include <algorithm>

#include "moe/core/error.hpp"
#include "moe/routing/loss.hpp"
#include "moe/routing/routing.hpp"

namespace moe::routing {

namespace {

template <typename T>
class DynmoleLoss final : public SiteLoss<T> {
  public:
    DynmoleLoss(const BalanceConfig & bc, const RouterConfig & rc, bool pooled)
        : q_(rc.entropy_q), eps_(rc.entropy_eps), beta_(bc.dynmole_beta), alpha_(bc.dynmole_alpha) {
        this->kind = kDynmoleLoss;
        this->coef = 1.0;
        this->pooled = pooled;
    }
    void plan(int, int E, int) override {
        E_ = E;
        wsum_.assign(E, 0.0);
        psum_.assign(E, 0.0);
        ftilde_.assign(E, T(0));
        pbar_.assign(E, T(0));
    }
    double forward(const RouterOutputs<T> & r) override {
        N_ = r.N;
        if (!this->pooled) {
            T ent = 0, lb = 0;
            return dynmole_loss_forward(&ent, &lb, r.probs, r.w_dense, r.N, r.E, q(), eps(), static_cast<T>(beta_),
                                        static_cast<T>(alpha_));
        }
        h_ = 0;
        std::fill(wsum_.begin(), wsum_.end(), 0.0);
        std::fill(psum_.begin(), psum_.end(), 0.0);
        dynmole_loss_stats(&h_, wsum_.data(), psum_.data(), r.probs, r.w_dense, r.N, r.E, q(), eps());
        return 0.0;
    }
    void backward_probs(T * dprobs, const RouterOutputs<T> & r, T scale) override {
        const T beta = static_cast<T>(beta_) * scale, alpha = static_cast<T>(alpha_) * scale;
        if (!this->pooled)
            dynmole_loss_backward(dprobs, r.probs, r.w_dense, r.N, r.E, q(), eps(), beta, alpha);
        else
            dynmole_pooled_backward(dprobs, r.probs, r.w_dense, ftilde_.data(), pbar_.data(), r.N, n_total_, r.E, q(),
                                    eps(), beta, alpha);
    }

    static double pool(std::span<SiteLoss<T> * const> parts, bool, PoolState & st) {
        if (parts.empty()) return 0.0;
        auto * first = static_cast<DynmoleLoss *>(parts[0]);
        const int E = first->E_;
        st.scratch_a.assign(E, 0.0);
        st.scratch_b.assign(E, 0.0);
        std::vector<double> &w = st.scratch_a, &p = st.scratch_b;
        double h = 0;
        int64_t rows = 0;
        for (auto * part : parts) {
            auto * s = static_cast<DynmoleLoss *>(part);
            MOE_ASSERT(s->E_ == E);
            h += s->h_;
            for (int e = 0; e < E; ++e) {
                w[e] += s->wsum_[e];
                p[e] += s->psum_[e];
            }
            rows += s->N_;
        }
        if (rows == 0) return 0.0;
        double lb = 0;
        for (int e = 0; e < E; ++e) lb += (w[e] / rows) * (p[e] / rows);
        for (auto * part : parts) {
            auto * s = static_cast<DynmoleLoss *>(part);
            s->n_total_ = rows;
            for (int e = 0; e < E; ++e) {
                s->ftilde_[e] = static_cast<T>(w[e] / rows);
                s->pbar_[e] = static_cast<T>(p[e] / rows);
            }
        }
        return first->beta_ * (h / rows) + first->alpha_ * E * lb;
    }

  private:
    T q() const { return static_cast<T>(q_); }
    T eps() const { return static_cast<T>(eps_); }
    double q_, eps_, beta_, alpha_;
    int E_ = 0, N_ = 0;
    double h_ = 0;                    // pooled: Σ_n H_q(p_n) of this site's rows
    std::vector<double> wsum_, psum_; // pooled: (E) Σ_n w[n,:], Σ_n p[n,:]
    std::vector<T> ftilde_, pbar_;    // pooled: (E) the means over every site's rows
    int64_t n_total_ = 0;             // pooled: rows of every site
};

template <typename T>
std::unique_ptr<SiteLoss<T>> make(const BalanceConfig & bc, const RouterConfig & rc, bool pooled) {
    return std::make_unique<DynmoleLoss<T>>(bc, rc, pooled);
}

} // namespace

LossEntry loss_dynmole_loss() {
    return {"dynmole_loss",
            kDynmoleLoss,
            "DynMoLE: beta * mean Tsallis entropy + alpha * E * sum ftilde P",
            {"dynmole_beta", "dynmole_alpha"},
            true,
            &make<float>,
            &make<double>,
            &DynmoleLoss<float>::pool,
            &DynmoleLoss<double>::pool};
}

} // namespace moe::routing
