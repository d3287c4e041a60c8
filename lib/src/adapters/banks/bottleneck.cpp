// adapters: the bottleneck expert kind (AdaptFormer / SEMA's functional adapter):
//     Δ_e(x) = up_e(ReLU(down_e(x)))      down (R,C) + (R), up (OC,R) + (OC)
// down kaiming-uniform U(±1/sqrt(C)), biases and up = 0, so a new expert adds nothing. Routed
// rows are gathered into one block per expert, and the gate-weighted block outputs are added
// back token by token (combine_rows).
#include "moe/adapters/adapters.hpp"
#include "moe/adapters/expert_bank.hpp"

namespace moe::adapters {

namespace {

template <typename T>
class BottleneckBank final : public ExpertBank<T> {
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
        const int n = at.stacked ? 1 : E;
        auto shape = [&](std::vector<int64_t> per) {
            if (at.stacked) per.insert(per.begin(), E);
            return per;
        };
        for (int e = 0; e < n; ++e) {
            auto decl = [&](const char * w, std::vector<int64_t> per, Init init) {
                const std::string nm = at.name(e, w);
                return s.declare(nm, shape(std::move(per)), tr(nm), init);
            };
            id_dw_.push_back(decl("down_w", {R_, C}, Init::KaimingUniform(C)));
            id_db_.push_back(decl("down_b", {R_}, Init::Zeros()));
            id_uw_.push_back(decl("up_w", {OC, R_}, Init::Zeros()));
            id_ub_.push_back(decl("up_b", {OC}, Init::Zeros()));
        }
    }
    void bind(ParamStore<T> & s) override {
        for (auto * v : {&dw_, &db_, &uw_, &ub_, &gdw_, &gdb_, &guw_, &gub_}) v->assign(E_, nullptr);
        for (int e = 0; e < E_; ++e) {
            const int i = at_.stacked ? 0 : e;
            const size_t k = at_.stacked ? (size_t)e : 0;
            auto bind1 = [&](int id, size_t per, T *& v, T *& g) {
                v = s.value(id) + k * per;
                if (T * gr = s.grad(id)) g = gr + k * per;
            };
            bind1(id_dw_[i], (size_t)R_ * C_, dw_[e], gdw_[e]);
            bind1(id_db_[i], (size_t)R_, db_[e], gdb_[e]);
            bind1(id_uw_[i], (size_t)OC_ * R_, uw_[e], guw_[e]);
            bind1(id_ub_[i], (size_t)OC_, ub_[e], gub_[e]);
        }
    }
    std::vector<std::string> param_names(int e) const override {
        return {at_.name(e, "down_w"), at_.name(e, "down_b"), at_.name(e, "up_w"), at_.name(e, "up_b")};
    }

    void plan_routed(int N, int K) override {
        const size_t NK = (size_t)N * K;
        xg_.assign(NK * C_, T(0));
        dxg_.assign(NK * C_, T(0));
        yg_.assign(NK * OC_, T(0));
        dyg_.assign(NK * OC_, T(0));
        hpre_.assign(NK * R_, T(0));
        h_.assign(NK * R_, T(0));
        dh_.assign(NK * R_, T(0));
        pos_.assign(NK, -1);
    }
    void forward_routed(T * out, const T * x, const Dispatch<T> & d) override {
        const int K = d.K;
        dispatch_positions(pos_.data(), d.perm, d.routed, d.N, K); // for combine_rows
        // each expert (experts in parallel): dense GEMMs on its gathered rows into its block of yg
        for_each_expert(d.offsets, E_, (int64_t)d.routed * (C_ + OC_) * R_, [&](int e) {
            const int b = d.offsets[e], en = d.offsets[e + 1], n = en - b;
            T * xg = xg_.data() + (size_t)b * C_;
            T * yg = yg_.data() + (size_t)b * OC_;
            gather_rows(xg, x, d.perm, b, en, K, C_);
            std::fill(yg, yg + (size_t)n * OC_, T(0));
            bottleneck_forward(yg, hpre_.data() + (size_t)b * R_, h_.data() + (size_t)b * R_, xg, dw_[e], db_[e],
                               uw_[e], ub_[e], n, C_, OC_, R_);
        });
        // every token adds its slots' block rows with their gates
        combine_rows(out, yg_.data(), d.gate, pos_.data(), d.N, K, OC_);
    }
    void backward_routed(T * dx, T * dgate, const T * dout, const T * x, const Dispatch<T> & d) override {
        const int K = d.K;
        for_each_expert(d.offsets, E_, (int64_t)d.routed * (C_ + OC_) * R_, [&](int e) {
            const int b = d.offsets[e], en = d.offsets[e + 1], n = en - b;
            T * dyg = dyg_.data() + (size_t)b * OC_;
            T * dxg = dxg_.data() + (size_t)b * C_;
            scatter_add_rows_backward(dyg, dgate, dout, yg_.data() + (size_t)b * OC_, d.gate, d.perm, b, en, K, OC_);
            if (dx) std::fill(dxg, dxg + (size_t)n * C_, T(0));
            bottleneck_backward(dx ? dxg : (T *)nullptr, gdw_[e], gdb_[e], guw_[e], gub_[e],
                                dh_.data() + (size_t)b * R_, dyg, xg_.data() + (size_t)b * C_,
                                hpre_.data() + (size_t)b * R_, h_.data() + (size_t)b * R_, dw_[e], uw_[e], n, C_, OC_,
                                R_);
        });
        // forward was: xg[i] = x[perm[i] / K]   so   dx[token] += the sum of its slots' dxg rows
        if (dx) combine_rows(dx, dxg_.data(), (const T *)nullptr, pos_.data(), d.N, K, C_);
    }

    void plan_dense(int N) override {
        Nd_ = N;
        hpd_.assign((size_t)E_ * N * R_, T(0));
        hd_.assign((size_t)E_ * N * R_, T(0));
        dhd_.assign((size_t)N * R_, T(0));
    }
    void forward_dense(int e, T * y, const T * x, int N) override {
        std::fill(y, y + (int64_t)N * OC_, T(0));
        bottleneck_forward(y, hpd_.data() + (size_t)e * Nd_ * R_, hd_.data() + (size_t)e * Nd_ * R_, x, dw_[e], db_[e],
                           uw_[e], ub_[e], N, C_, OC_, R_);
    }
    void backward_dense(int e, T * dx, const T * dy, const T * x, int N, bool param_grads) override {
        auto g = [&](T * p) { return param_grads ? p : (T *)nullptr; };
        bottleneck_backward(dx, g(gdw_[e]), g(gdb_[e]), g(guw_[e]), g(gub_[e]), dhd_.data(), dy, x,
                            hpd_.data() + (size_t)e * Nd_ * R_, hd_.data() + (size_t)e * Nd_ * R_, dw_[e], uw_[e], N,
                            C_, OC_, R_);
    }

  private:
    BankLayout at_;
    std::vector<int> id_dw_, id_db_, id_uw_, id_ub_;
    // (E): expert e's down (R,C) + (R), up (OC,R) + (OC) and their gradients (null: frozen)
    std::vector<T *> dw_, db_, uw_, ub_, gdw_, gdb_, guw_, gub_;
    std::vector<T> xg_, dxg_, yg_, dyg_, hpre_, h_, dh_; // routed blocks (planned)
    std::vector<int32_t> pos_;                           // (N*K) the inverse of perm
    int Nd_ = 0;
    std::vector<T> hpd_, hd_, dhd_; // dense: per expert (E,N,R); dh (N,R)
};

} // namespace

template <typename T>
std::unique_ptr<ExpertBank<T>> make_bottleneck_bank() {
    return std::make_unique<BottleneckBank<T>>();
}
template std::unique_ptr<ExpertBank<float>> make_bottleneck_bank<float>();
template std::unique_ptr<ExpertBank<double>> make_bottleneck_bank<double>();

} // namespace moe::adapters
