// sites: a mixture of adapter experts at one site (see moe/sites/moe_site.hpp).
#include "moe/sites/moe_site.hpp"

#include <algorithm>
#include <cmath>

#include "moe/adapters/adapters.hpp"
#include "moe/adapters/registry.hpp"
#include "moe/blas/gemm.hpp"
#include "moe/core/error.hpp"
#include "moe/nn/kernels.hpp"
#include "moe/routing/routing.hpp"

namespace moe::sites {

template <typename T>
void MoeSite<T>::declare(ParamStore<T> & s, const std::string & site, int C, int OC, const adapters::AdapterConfig & a,
                         const routing::RouterConfig & r, const routing::BalanceConfig & b,
                         const nn::TrainablePred & tr) {
    site_ = site;
    ac_ = a;
    rc_ = r;
    C_ = C;
    OC_ = OC;
    E_ = a.experts;
    MOE_CHECK(E_ >= 1 && a.rank >= 1, ErrorCode::spec, "adapters: experts and rank must be >= 1");
    entry_ = &routing::router_entry(r.kind);
    MOE_CHECK(!entry_->traits.per_task, ErrorCode::internal, "router '" + r.kind + "' is a site of its own (PolySite)");
    router_ = routing::make_router<T>(r);
    has_router_ = entry_->traits.weights && router_->has_weights(E_);
    P_ = router_->columns(E_);
    MOE_CHECK(!has_router_ || !entry_->traits.fixed_k || std::max(1, r.k) <= P_, ErrorCode::spec,
              "routing.k (" + std::to_string(std::max(1, r.k)) + ") must not exceed the number of experts (" +
                  std::to_string(P_) + ")");
    // the experts first, then the router: the parameter arena keeps this order
    bank_ = adapters::make_bank<T>(a.kind);
    bank_->declare(s, adapters::BankLayout{true, site + ".experts."}, E_, C, OC, a, tr);
    if (has_router_) {
        const std::string rn = site + ".router.weight";
        id_rw_ = s.declare(rn, {P_, C}, !entry_->traits.frozen && tr(rn), Init::Normal(r.init_std));
        router_->declare(s, site, E_);
        losses_ = routing::make_site_losses<T>(b, r);
    }
    has_lse_ = false;
    for (auto & l : losses_) has_lse_ |= l->kind == routing::kZLoss;
}

template <typename T>
void MoeSite<T>::bind(ParamStore<T> & s) {
    bank_->bind(s);
    if (id_rw_ >= 0) {
        rw_ = s.value(id_rw_);
        drw_ = s.grad(id_rw_);
    }
    router_->bind(s);
}

template <typename T>
void MoeSite<T>::plan(int N, int) {
    Nmax_ = N;
    int kmax = has_router_ ? router_->slots(E_, P_) : 1;
    // (inference-time overrides after the router's own count: they may need more slots)
    if (ov_.k > 0) kmax = std::max(kmax, std::min(ov_.k, P_));
    if (!ov_.force.empty()) kmax = std::max(kmax, ov_.force == "uniform" ? E_ : 1);
    const size_t NK = (size_t)N * kmax;
    // jitter and dropout buffers only when those are on (they are (N,C) each)
    const size_t nj = rc_.jitter > 0 ? (size_t)N * C_ : 0, nd = ac_.dropout > 0 ? (size_t)N * C_ : 0;
    xr_.assign(nj, T(0));
    noise_.assign(nj, T(1));
    xd_.assign(nd, T(0));
    mask_.assign(nd, T(1));
    dxd_.assign(std::max(nd, nj), T(0));
    logits_.assign((size_t)N * P_, T(0));
    probs_.assign((size_t)N * P_, T(0));
    lse_.assign(N, T(0));
    dprobs_.assign((size_t)N * P_, T(0));
    dlogits_.assign((size_t)N * P_, T(0));
    gate_.assign(NK, T(0));
    dgate_.assign(NK, T(0));
    idx_.assign(NK, -1);
    perm_.assign(NK, 0);
    offsets_.assign(E_ + 1, 0);
    counts_.assign(P_, 0);
    step_load_.assign(E_, 0);
    router_->plan(N, E_);
    bank_->plan_routed(N, kmax);
    for (auto & l : losses_) l->plan(N, E_, P_);
    stats_.init(E_, an_tasks_, an_classes_);
    off_stats_.init(E_);
}

template <typename T>
void MoeSite<T>::set_analysis(int n_tasks, int n_classes) {
    an_tasks_ = std::max(0, n_tasks);
    an_classes_ = std::max(0, n_classes);
    stats_.init(E_, an_tasks_, an_classes_);
}

template <typename T>
void MoeSite<T>::set_context(const SiteContext & c) {
    task_ = c.task;
    n_samples_ = std::max(1, c.n_samples);
    step_ = c.step;
    rng_.reseed(seed_for(c.stream, site_));
}

template <typename T>
routing::SiteLoss<T> * MoeSite<T>::pooled_loss(int kind) {
    for (auto & l : losses_)
        if (l->kind == kind && l->pooled) return l.get();
    return nullptr;
}

template <typename T>
routing::RouterOutputs<T> MoeSite<T>::outputs() {
    routing::RouterOutputs<T> o;
    o.logits = logits_.data();
    o.probs = probs_.data();
    o.lse = lse_.data();
    o.idx = idx_.data();
    o.counts = counts_.data();
    o.w_dense = router_->dense_weights();
    o.N = N_;
    o.P = P_;
    o.E = E_;
    o.K = K_;
    o.train = train_;
    return o;
}

template <typename T>
void MoeSite<T>::route(const T * inp, int N, bool train) {
    if (!train && ov_.force == "uniform") { // every expert with the same weight
        K_ = E_;
        for (int n = 0; n < N; ++n)
            for (int e = 0; e < E_; ++e) {
                idx_[(size_t)n * E_ + e] = e;
                gate_[(size_t)n * E_ + e] = T(1) / E_;
            }
        routing::count_slots(counts_.data(), idx_.data(), (int64_t)N * K_);
        return;
    }
    if (!train && ov_.force == "oracle") { // the expert of the sample's task
        K_ = 1;
        for (int n = 0; n < N; ++n) {
            const int t = task_ ? task_[(int64_t)n * n_samples_ / N] : 0;
            idx_[n] = t >= 0 && t < (int)ov_.oracle.size() ? ov_.oracle[t] : t % E_;
            gate_[n] = T(1);
        }
        routing::count_slots(counts_.data(), idx_.data(), N);
        return;
    }
    if (!has_router_) {
        K_ = routing::route_to_first(idx_.data(), gate_.data(), N);
        routing::count_slots(counts_.data(), idx_.data(), N);
        return;
    }
    // router input, with multiplicative jitter in training
    const T * xr = inp;
    if (train && rc_.jitter > 0) {
        for (size_t i = 0; i < (size_t)N * C_; ++i) {
            noise_[i] = static_cast<T>(rng_.uniform(1.0 - rc_.jitter, 1.0 + rc_.jitter));
            xr_[i] = inp[i] * noise_[i];
        }
        xr = xr_.data();
    }
    nn::linear_forward(logits_.data(), xr, rw_, (const T *)nullptr, N, C_, P_);
    for (int e : ov_.disabled) // removed experts are never selected and carry no probability
        if (e >= 0 && e < E_)
            for (int n = 0; n < N; ++n) logits_[(size_t)n * P_ + e] = T(-1e30);
    if (entry_->traits.sigmoid)
        routing::sigmoid_forward(probs_.data(), logits_.data(), (int64_t)N * P_);
    else
        nn::softmax_forward(probs_.data(), logits_.data(), N, P_);
    routing::RouteContext c;
    c.N = N;
    c.E = E_;
    c.P = P_;
    c.step = step_;
    c.train = train;
    c.eval_k = ov_.k;
    K_ = router_->route(idx_.data(), gate_.data(), counts_.data(), probs_.data(), c);
    // removed experts get no slot even where a router takes every expert (soft, dynmole's
    // broadcast, expert_choice's own picks): no load, no work, no place among the experts used
    if (!ov_.disabled.empty())
        for (size_t i = 0; i < (size_t)N * K_; ++i) {
            const int e = idx_[i];
            if (e < 0 || e >= E_ || std::find(ov_.disabled.begin(), ov_.disabled.end(), e) == ov_.disabled.end())
                continue;
            counts_[e] -= 1;
            idx_[i] = -1;
            gate_[i] = T(0);
        }
}

template <typename T>
void MoeSite<T>::forward(T * out, const T * inp, int N, bool train) {
    MOE_ASSERT(N <= Nmax_);
    N_ = N;
    train_ = train;
    std::fill(counts_.begin(), counts_.end(), 0);
    route(inp, N, train);
    const int K = K_;

    // dropout on the adapter input (training only)
    const T * xd = inp;
    if (train && ac_.dropout > 0) {
        const T keep = static_cast<T>(1.0 / (1.0 - ac_.dropout));
        for (size_t i = 0; i < (size_t)N * C_; ++i) {
            mask_[i] = rng_.uniform() < ac_.dropout ? T(0) : keep;
            xd_[i] = inp[i] * mask_[i];
        }
        xd = xd_.data();
    }
    // sparse dispatch: group (token, slot) pairs by expert; the experts run on their rows
    routed_ = adapters::dispatch_plan(perm_.data(), offsets_.data(), idx_.data(), N, K, E_);
    const adapters::Dispatch<T> d{idx_.data(), gate_.data(), perm_.data(), offsets_.data(), N, K, routed_};
    bank_->forward_routed(out, xd, d);

    // telemetry, auxiliary losses
    routing::RoutingStats & st = stats_on_ ? stats_ : off_stats_;
    for (int e = 0; e < E_; ++e) {
        const int64_t c = offsets_[e + 1] - offsets_[e];
        st.load[e] += c;
        if (train) step_load_[e] += c;
    }
    if (stats_on_ && (an_tasks_ > 0 || an_classes_ > 0)) {
        for (int e = 0; e < E_; ++e)
            for (int i = offsets_[e]; i < offsets_[e + 1]; ++i) {
                const int64_t sample = (int64_t)(perm_[i] / K) * n_samples_ / N;
                if (task_ && an_tasks_ > 0) {
                    const int t = task_[sample];
                    if (t >= 0 && t < an_tasks_) stats_.task_load[(size_t)t * E_ + e] += 1;
                }
                if (labels_ && an_classes_ > 0) {
                    const int y = labels_[sample];
                    if (y >= 0 && y < an_classes_) stats_.class_load[(size_t)y * E_ + e] += 1;
                }
            }
    }
    last_aux_ = 0;
    if (has_router_ && (train || ov_.force.empty())) { // forced evaluation routing has no router output
        const routing::RouterOutputs<T> o = outputs();
        for (auto & l : losses_) {
            const double v = l->forward(o);
            if (l->pooled) continue; // the network pools it over every site
            st.aux[l->kind] += v;
            last_aux_ += l->coef * v;
        }
        const T * p = probs_.data();
        if (!entry_->traits.sigmoid) { // p = softmax(logits)
            st.entropy_sum +=
                routing::softmax_entropy_sum(logits_.data(), p, has_lse_ ? lse_.data() : (const T *)nullptr, N, P_);
        } else { // entropy of the normalised sigmoid scores
            for (int n = 0; n < N; ++n) {
                double h = 0, s = 0;
                for (int e = 0; e < P_; ++e) s += p[(size_t)n * P_ + e];
                for (int e = 0; e < P_; ++e) {
                    const double q = p[(size_t)n * P_ + e] / s;
                    if (q > 0) h -= q * std::log(q);
                }
                st.entropy_sum += h;
            }
        }
    }
    if (entry_->traits.drops) {
        int64_t dropped = 0;
        for (int n = 0; n < N; ++n) {
            bool any = false;
            for (int j = 0; j < K; ++j) any |= idx_[(size_t)n * K + j] >= 0;
            dropped += !any;
        }
        st.dropped += dropped;
    }
    st.tokens += N;
    st.active_sum += routed_;
    st.forwards += 1;
}

template <typename T>
void MoeSite<T>::backward(T * dinp, const T * dout, const T * inp, int N) {
    MOE_ASSERT(N == N_);
    const int K = K_;
    const bool dropout = train_ && ac_.dropout > 0;
    const T * xd = dropout ? xd_.data() : inp;
    T * dxd = dinp ? (dropout ? dxd_.data() : dinp) : nullptr;
    if (dropout && dinp) std::fill(dxd_.begin(), dxd_.begin() + (size_t)N * C_, T(0));
    std::fill(dgate_.begin(), dgate_.begin() + (size_t)N * K, T(0));
    const adapters::Dispatch<T> d{idx_.data(), gate_.data(), perm_.data(), offsets_.data(), N, K, routed_};
    bank_->backward_routed(dxd, has_router_ ? dgate_.data() : (T *)nullptr, dout, xd, d);
    if (dropout && dinp)
        for (size_t i = 0; i < (size_t)N * C_; ++i) dinp[i] += dxd_[i] * mask_[i];
    if (!has_router_) return;

    // router: gates, auxiliary losses, scores, logits, weights and the router's input gradient
    const T * p = probs_.data();
    const routing::RouterOutputs<T> o = outputs();
    std::fill(dprobs_.begin(), dprobs_.begin() + (size_t)N * P_, T(0));
    router_->gate_backward(dprobs_.data(), dgate_.data(), gate_.data(), p, idx_.data(), N, P_, K);
    const T as = static_cast<T>(aux_scale_);
    for (auto & l : losses_) l->backward_probs(dprobs_.data(), o, as);
    std::fill(dlogits_.begin(), dlogits_.begin() + (size_t)N * P_, T(0));
    if (entry_->traits.sigmoid)
        routing::sigmoid_backward(dlogits_.data(), p, dprobs_.data(), (int64_t)N * P_);
    else
        nn::softmax_backward(dlogits_.data(), p, dprobs_.data(), N, P_);
    for (auto & l : losses_) l->backward_logits(dlogits_.data(), o, as);
    // forward was: logits = xr @ W^T with xr = inp * noise
    const bool jittered = train_ && rc_.jitter > 0;
    if (drw_)
        blas::gemm<T>(true, false, P_, C_, N, T(1), dlogits_.data(), P_, jittered ? xr_.data() : inp, C_, T(1), drw_,
                      C_);
    if (dinp) {
        if (jittered) {
            std::fill(dxd_.begin(), dxd_.begin() + (size_t)N * C_, T(0));
            blas::gemm<T>(false, false, N, C_, P_, T(1), dlogits_.data(), P_, rw_, C_, T(1), dxd_.data(), C_);
            for (size_t i = 0; i < (size_t)N * C_; ++i) dinp[i] += dxd_[i] * noise_[i];
        } else {
            blas::gemm<T>(false, false, N, C_, P_, T(1), dlogits_.data(), P_, rw_, C_, T(1), dinp, C_);
        }
    }
}

template <typename T>
void MoeSite<T>::after_step() {
    router_->after_step(step_load_.data(), E_);
    std::fill(step_load_.begin(), step_load_.end(), 0);
    for (auto & l : losses_) l->after_step();
}

template <typename T>
void MoeSite<T>::restart_running() {
    for (auto & l : losses_) l->after_step();
}

template <typename T>
double MoeSite<T>::flops_ratio() const {
    return stats_.tokens ? stats_.active_sum / (double(stats_.tokens) * E_) : 0.0;
}

template class MoeSite<float>;
template class MoeSite<double>;

} // namespace moe::sites
