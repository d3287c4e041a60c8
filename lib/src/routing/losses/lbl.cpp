// routing: the load-balancing loss L = E * Σ_e f_e P_e under a named convention (routing.hpp:
// mixtral, megatron, switch), f from the selection counts (no gradient), P_e = mean_n p[n,e].
// Per site (Megatron: one loss per layer, summed) or pooled over every adapted site (HF Mixtral /
// Switch concatenate every layer's router logits: huggingface/transformers@008f5c8
// src/transformers/models/mixtral/modular_mixtral.py `load_balancing_loss_func`); f per
// micro-batch or accumulated over the step's micro-batches (loss.lbl_scope = global, "Demons
// in the Detail", arXiv 2501.11873; Megatron's running form).
#include <algorithm>

#include "moe/core/error.hpp"
#include "moe/routing/loss.hpp"
#include "moe/routing/routing.hpp"

namespace moe::routing {

namespace {

template <typename T>
class LblLoss final : public SiteLoss<T> {
  public:
    LblLoss(const BalanceConfig & bc, bool pooled) : conv_(parse_lbl(bc.lbl)), global_(bc.lbl_scope == "global") {
        this->kind = kLbl;
        this->coef = bc.lbl_coef;
        this->pooled = pooled;
    }
    void plan(int N, int E, int P) override {
        E_ = E;
        f_.assign(P, T(0));
        counts_.assign(E, 0);
        psum_.assign(E, 0.0);
        step_counts_.assign(P, 0);
    }
    double forward(const RouterOutputs<T> & r) override {
        const int N = r.N, P = r.P, E = r.E;
        const T * p = r.probs;
        N_ = N;
        K_ = r.K;
        // this forward's counts under the convention (Switch: top-1 of the probabilities, whatever
        // the router selected) and the probability sums
        std::fill(counts_.begin(), counts_.end(), 0);
        std::fill(psum_.begin(), psum_.end(), 0.0);
        for (int n = 0; n < N; ++n) {
            const T * pn = p + (size_t)n * P;
            int best = 0;
            for (int e = 0; e < P; ++e) {
                if (e < E) psum_[e] += pn[e];
                if (pn[e] > pn[best]) best = e;
            }
            if (conv_ == LblConvention::switch_ && best < E) counts_[best] += 1;
        }
        if (conv_ != LblConvention::switch_)
            for (int e = 0; e < E; ++e) counts_[e] = r.counts[e];
        if (this->pooled) return 0.0; // the network pools every site's counts_ and psum_
        std::vector<int64_t> & use = step_counts_;
        int64_t ntok = N;
        const bool running = global_ && r.train && conv_ != LblConvention::switch_;
        if (running) {
            for (int e = 0; e < E; ++e) use[e] += counts_[e]; // until after_step()
            step_rows_ += N;
            ntok = step_rows_;
        } else {
            std::copy(counts_.begin(), counts_.end(), use.begin());
        }
        lbl_frequencies(f_.data(), use.data(), ntok, E, conv_ == LblConvention::switch_ ? 1 : std::max(1, r.K), conv_);
        if (!(global_ && r.train)) std::fill(use.begin(), use.end(), 0);
        return lbl_forward(p, f_.data(), N, P, E);
    }
    void backward_probs(T * dprobs, const RouterOutputs<T> & r, T scale) override {
        if (this->coef > 0) lbl_backward(dprobs, f_.data(), static_cast<T>(this->coef) * scale, r.N, r.P, r.E);
    }
    void after_step() override {
        std::fill(step_counts_.begin(), step_counts_.end(), 0);
        step_rows_ = 0;
    }

    // pooled over sites (the parts of every site, in site order)
    static double pool(std::span<SiteLoss<T> * const> parts, bool train, PoolState & st) {
        if (parts.empty()) return 0.0;
        auto * first = static_cast<LblLoss *>(parts[0]);
        const LblConvention conv = first->conv_;
        const int E = first->E_;
        // scratch kept across calls: after the first step this allocates nothing
        st.counts.resize(E);
        std::vector<int64_t> & acc = st.counts;
        st.scratch_i.assign(E, 0);
        st.scratch_a.assign(E, 0.0);
        st.scratch_b.assign(E, 0.0);
        st.scratch_c.assign(E, 0.0);
        std::vector<int64_t> & counts = st.scratch_i;
        std::vector<double> &psum = st.scratch_a, &f = st.scratch_b, &feff = st.scratch_c;
        int64_t rows = 0;
        for (auto * part : parts) {
            auto * s = static_cast<LblLoss *>(part);
            MOE_ASSERT(s->E_ == E);
            for (int e = 0; e < E; ++e) {
                counts[e] += s->counts_[e];
                psum[e] += s->psum_[e];
            }
            rows += s->N_;
        }
        if (rows == 0) return 0.0;
        const int K = conv == LblConvention::switch_ ? 1 : std::max(1, first->K_);
        if (first->global_ && train && conv != LblConvention::switch_) {
            for (int e = 0; e < E; ++e) acc[e] += counts[e];
            st.rows += rows;
            lbl_frequencies(f.data(), acc.data(), st.rows, E, K, conv);
        } else {
            lbl_frequencies(f.data(), counts.data(), rows, E, K, conv);
        }
        double value = 0;
        for (int e = 0; e < E; ++e) value += f[e] * psum[e] / rows;
        value *= E;
        for (auto * part : parts) { // every site's share of the gradient
            auto * s = static_cast<LblLoss *>(part);
            for (int e = 0; e < E; ++e) feff[e] = f[e] * s->N_ / double(rows);
            for (int e = 0; e < E; ++e) s->f_[e] = static_cast<T>(feff[e]);
        }
        return value;
    }

  private:
    LblConvention conv_;
    bool global_;
    int E_ = 0, N_ = 0, K_ = 1;
    std::vector<T> f_;                 // (P) f_e the backward uses (site's or its pooled share)
    std::vector<int64_t> counts_;      // (E) this forward's counts under the convention
    std::vector<double> psum_;         // (E) Σ_n p[n,e] of this forward
    std::vector<int64_t> step_counts_; // (P) running counts of the step (global scope, per site)
    int64_t step_rows_ = 0;
};

template <typename T>
std::unique_ptr<SiteLoss<T>> make(const BalanceConfig & bc, const RouterConfig &, bool pooled) {
    if (bc.lbl == "none") return nullptr;
    return std::make_unique<LblLoss<T>>(bc, pooled);
}

} // namespace

LossEntry loss_lbl() {
    return {"lbl",
            kLbl,
            "load balancing E * sum_e f_e P_e (conventions mixtral, megatron, switch)",
            {"lbl", "lbl_coef", "lbl_scope", "lbl_pool"},
            true,
            &make<float>,
            &make<double>,
            &LblLoss<float>::pool,
            &LblLoss<double>::pool};
}

} // namespace moe::routing
