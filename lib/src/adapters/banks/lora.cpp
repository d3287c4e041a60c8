// adapters: the LoRA expert kind (PEFT LoRA, huggingface/peft@5d602fd src/peft/tuners/lora/layer.py):
//     Δ_e(x) = s · B_e A_e x        A_e (R,C), B_e (OC,R), s = alpha/R (rsLoRA: alpha/sqrt(R))
// A kaiming-uniform U(±1/sqrt(C)) (or gaussian N(0, 1/R)), B = 0, so a new expert adds nothing.
// Routed rows: at ranks 8 and 16 each expert multiplies its token rows in place (lora_rows_*);
// other ranks gather the rows into blocks first (lora_gated_*). Either way the gate is folded
// into the rank-R activations and the up-projection and input gradient land straight in the
// token rows (experts_addmm), in expert order.
#include <cmath>

#include "moe/adapters/adapters.hpp"
#include "moe/adapters/expert_bank.hpp"
#include "moe/core/error.hpp"

namespace moe::adapters {

namespace {

template <typename T>
class LoraBank final : public ExpertBank<T> {
    using ExpertBank<T>::E_;
    using ExpertBank<T>::C_;
    using ExpertBank<T>::OC_;
    using ExpertBank<T>::R_;

  public:
    void declare(ParamStore<T> & s, const BankLayout & at, int E, int C, int OC, const AdapterConfig & cfg,
                 const nn::TrainablePred & tr) override {
        E_ = E;
        C_ = C;
        OC_ = OC;
        R_ = cfg.rank;
        at_ = at;
        scale_ = static_cast<T>(cfg.rslora ? cfg.alpha / std::sqrt(double(R_)) : cfg.alpha / double(R_));
        const Init ai = cfg.init == "gaussian" ? Init::Normal(1.0 / R_) : Init::KaimingUniform(C);
        const int n = at.stacked ? 1 : E;
        const std::vector<int64_t> sa = at.stacked ? std::vector<int64_t>{E, R_, C} : std::vector<int64_t>{R_, C};
        const std::vector<int64_t> sb = at.stacked ? std::vector<int64_t>{E, OC, R_} : std::vector<int64_t>{OC, R_};
        for (int e = 0; e < n; ++e) {
            const std::string na = at.name(e, "lora_a"), nb = at.name(e, "lora_b");
            id_a_.push_back(s.declare(na, sa, tr(na), ai));
            id_b_.push_back(s.declare(nb, sb, tr(nb), Init::Zeros()));
        }
    }
    void bind(ParamStore<T> & s) override {
        a_.assign(E_, nullptr);
        b_.assign(E_, nullptr);
        da_.assign(E_, nullptr);
        db_.assign(E_, nullptr);
        for (int e = 0; e < E_; ++e) {
            const int i = at_.stacked ? 0 : e;
            const size_t oa = at_.stacked ? (size_t)e * R_ * C_ : 0, ob = at_.stacked ? (size_t)e * OC_ * R_ : 0;
            a_[e] = s.value(id_a_[i]) + oa;
            b_[e] = s.value(id_b_[i]) + ob;
            if (T * g = s.grad(id_a_[i])) da_[e] = g + oa;
            if (T * g = s.grad(id_b_[i])) db_[e] = g + ob;
        }
    }
    std::vector<std::string> param_names(int e) const override {
        return {at_.name(e, "lora_a"), at_.name(e, "lora_b")};
    }

    void plan_routed(int N, int K) override {
        const size_t NK = (size_t)N * K;
        in_place_ = lora_rows_in_place(R_);
        xg_.assign(in_place_ ? 0 : NK * C_, T(0));
        // backward never reads the block outputs (the gate is folded into hg), so the gathered
        // upstream gradients of the blocks path use this storage
        yg_.assign(in_place_ ? 0 : NK * OC_, T(0));
        h_.assign(NK * R_, T(0));
        hg_.assign(NK * R_, T(0));
        dh_.assign(NK * R_, T(0));
        gg_.assign(NK, T(0));
        dgg_.assign(NK, T(0));
    }
    void forward_routed(T * out, const T * x, const Dispatch<T> & d) override {
        MOE_ASSERT(at_.stacked); // experts_addmm reads the experts' B as one (E, OC, R) tensor
        const int K = d.K;
        for (int i = 0; i < d.routed; ++i) gg_[i] = d.gate[d.perm[i]]; // the gates in dispatch order
        // each expert (experts in parallel): its rank-R activations from its token rows in place,
        // or from its gathered rows at the other ranks
        for_each_expert(d.offsets, E_, (int64_t)d.routed * (C_ + OC_) * R_, [&](int e) {
            const int b = d.offsets[e], en = d.offsets[e + 1], n = en - b;
            if (in_place_) {
                lora_rows_forward(h_.data() + (size_t)b * R_, hg_.data() + (size_t)b * R_, x, gg_.data() + b, a_[e],
                                  scale_, d.perm, b, en, K, C_, R_);
                return;
            }
            T * xg = xg_.data() + (size_t)b * C_;
            gather_rows(xg, x, d.perm, b, en, K, C_);
            lora_gated_forward((T *)nullptr, h_.data() + (size_t)b * R_, hg_.data() + (size_t)b * R_, xg,
                               gg_.data() + b, a_[e], (const T *)nullptr, scale_, n, C_, OC_, R_);
        });
        // out[token] += hg[i] @ B_e^T over its experts (hg carries the gate)
        experts_addmm(out, hg_.data(), b_[0], (int64_t)OC_ * R_, /*transposed=*/true, d.perm, d.offsets, E_, d.N, K, R_,
                      OC_);
    }
    void backward_routed(T * dx, T * dgate, const T * dout, const T * x, const Dispatch<T> & d) override {
        const int K = d.K;
        if (dgate) std::fill(dgg_.begin(), dgg_.begin() + d.routed, T(0));
        for_each_expert(d.offsets, E_, (int64_t)d.routed * (C_ + OC_) * R_, [&](int e) {
            const int b = d.offsets[e], en = d.offsets[e + 1], n = en - b;
            if (in_place_) { // as in forward: the token rows of dout and of the input in place
                lora_rows_backward(da_[e], db_[e], dgate ? dgg_.data() + b : (T *)nullptr, dh_.data() + (size_t)b * R_,
                                   dout, x, h_.data() + (size_t)b * R_, hg_.data() + (size_t)b * R_, gg_.data() + b,
                                   b_[e], scale_, d.perm, b, en, K, C_, OC_, R_);
                return;
            }
            // forward was: out[token] += yg[i], yg = lora_gated(xg)   so   dyg[i] = dout[token]
            T * dyg = yg_.data() + (size_t)b * OC_;
            gather_rows(dyg, dout, d.perm, b, en, K, OC_);
            lora_gated_backward((T *)nullptr, da_[e], db_[e], dgate ? dgg_.data() + b : (T *)nullptr,
                                dh_.data() + (size_t)b * R_, dyg, xg_.data() + (size_t)b * C_,
                                h_.data() + (size_t)b * R_, hg_.data() + (size_t)b * R_, gg_.data() + b, a_[e], b_[e],
                                scale_, n, C_, OC_, R_);
        });
        // forward was: h = x[token] @ A_e^T   so   dx[token] += dh[i] @ A_e over its experts
        if (dx)
            experts_addmm(dx, dh_.data(), a_[0], (int64_t)R_ * C_, /*transposed=*/false, d.perm, d.offsets, E_, d.N, K,
                          R_, C_);
        if (dgate) // the gate gradients back in (token, slot) order
            for (int i = 0; i < d.routed; ++i) dgate[d.perm[i]] += dgg_[i];
    }

    void plan_dense(int N) override {
        Nd_ = N;
        hd_.assign((size_t)E_ * N * R_, T(0));
        dhd_.assign((size_t)N * R_, T(0));
    }
    void forward_dense(int e, T * y, const T * x, int N) override {
        std::fill(y, y + (int64_t)N * OC_, T(0));
        lora_forward(y, hd_.data() + (size_t)e * Nd_ * R_, x, a_[e], b_[e], scale_, N, C_, OC_, R_);
    }
    void backward_dense(int e, T * dx, const T * dy, const T * x, int N, bool param_grads) override {
        lora_backward(dx, param_grads ? da_[e] : (T *)nullptr, param_grads ? db_[e] : (T *)nullptr, dhd_.data(), dy, x,
                      hd_.data() + (size_t)e * Nd_ * R_, a_[e], b_[e], scale_, N, C_, OC_, R_);
    }

  private:
    BankLayout at_;
    T scale_ = 1;
    bool in_place_ = false;
    std::vector<int> id_a_, id_b_;
    std::vector<T *> a_, b_, da_, db_; // (E): expert e's A (R,C), B (OC,R) and their gradients (null: frozen)
    std::vector<T> xg_, yg_, h_, hg_, dh_, gg_, dgg_; // routed buffers (planned)
    int Nd_ = 0;
    std::vector<T> hd_, dhd_; // dense buffers: h per expert (E,N,R), dh (N,R)
};

} // namespace

template <typename T>
std::unique_ptr<ExpertBank<T>> make_lora_bank() {
    return std::make_unique<LoraBank<T>>();
}
template std::unique_ptr<ExpertBank<float>> make_lora_bank<float>();
template std::unique_ptr<ExpertBank<double>> make_lora_bank<double>();

} // namespace moe::adapters
