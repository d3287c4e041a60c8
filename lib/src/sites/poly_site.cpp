// sites: Poly / MHR at one site (see moe/sites/poly_site.hpp).
#include "moe/sites/poly_site.hpp"

#include <algorithm>
#include <cmath>

#include "moe/adapters/adapters.hpp"
#include "moe/core/error.hpp"
#include "moe/routing/routing.hpp"

namespace moe::sites {

template <typename T>
void PolySite<T>::declare(ParamStore<T> & s, const std::string & site, int C, int OC, const adapters::AdapterConfig & a,
                          const routing::RouterConfig & r, const nn::TrainablePred & tr) {
    site_ = site;
    rc_ = r;
    C_ = C;
    OC_ = OC;
    S_ = a.experts;
    R_ = a.rank;
    MOE_CHECK(S_ >= 1 && R_ >= 1, ErrorCode::spec, "adapters: experts and rank must be >= 1");
    q_ = r.n_splits;
    n_tasks_ = std::max(1, r.n_tasks);
    MOE_CHECK(a.kind == "lora", ErrorCode::spec,
              "routing.router task (Poly/MHR) mixes LoRA parameters: adapters.kind must be lora");
    MOE_CHECK(q_ >= 1 && C % q_ == 0 && OC % q_ == 0, ErrorCode::spec,
              "routing.n_splits (" + std::to_string(q_) + ") must divide the input and output widths of site " + site +
                  " (" + std::to_string(C) + ", " + std::to_string(OC) + ")");
    const std::string ex = site + ".experts.";
    // PEFT Poly: A per (split, skill) with fan-in d_in/q, B = 0, scale 1/r (no alpha)
    id_a_ = s.declare(ex + "lora_a", {S_, R_, C}, tr(ex + "lora_a"), Init::KaimingUniform(C / q_));
    id_b_ = s.declare(ex + "lora_b", {S_, OC, R_}, tr(ex + "lora_b"), Init::Zeros());
    const std::string pn = site + ".router.module_logits";
    id_phi_ = s.declare(pn, {n_tasks_, q_ * S_}, tr(pn), Init::Uniform(1e-3));
    scale_ = static_cast<T>(1.0 / R_);
}

template <typename T>
void PolySite<T>::bind(ParamStore<T> & s) {
    a_ = s.value(id_a_);
    da_ = s.grad(id_a_);
    b_ = s.value(id_b_);
    db_ = s.grad(id_b_);
    phi_ = s.value(id_phi_);
    dphi_ = s.grad(id_phi_);
}

template <typename T>
void PolySite<T>::plan(int N, int) {
    Nmax_ = N;
    const size_t QS = (size_t)q_ * S_;
    mixA_.assign((size_t)n_tasks_ * R_ * C_, T(0));
    mixB_.assign((size_t)n_tasks_ * OC_ * R_, T(0));
    pw_.assign(n_tasks_ * QS, T(0));
    pz_.assign(n_tasks_ * QS, T(0));
    pu_.assign(n_tasks_ * QS, T(0.5));
    dmixA_.assign((size_t)R_ * C_, T(0));
    dmixB_.assign((size_t)OC_ * R_, T(0));
    dpw_.assign(QS, T(0));
    toff_.assign(n_tasks_ + 1, 0);
    xg_.assign((size_t)N * C_, T(0));
    dxg_.assign((size_t)N * C_, T(0));
    yg_.assign((size_t)N * OC_, T(0));
    dyg_.assign((size_t)N * OC_, T(0));
    h_.assign((size_t)N * R_, T(0));
    dh_.assign((size_t)N * R_, T(0));
    gate_.assign(N, T(0));
    idx_.assign(N, -1);
    perm_.assign(N, 0);
    stats_.init(S_, an_tasks_, an_classes_);
    off_stats_.init(S_);
}

template <typename T>
void PolySite<T>::set_analysis(int n_tasks, int n_classes) {
    an_tasks_ = std::max(0, n_tasks);
    an_classes_ = std::max(0, n_classes);
    stats_.init(S_, an_tasks_, an_classes_);
}

template <typename T>
void PolySite<T>::set_context(const SiteContext & c) {
    task_ = c.task;
    n_samples_ = std::max(1, c.n_samples);
    rng_.reseed(seed_for(c.stream, site_));
}

template <typename T>
void PolySite<T>::forward(T * out, const T * inp, int N, bool train) {
    MOE_ASSERT(N <= Nmax_);
    N_ = N;
    train_ = train;
    const int S = S_, QS = q_ * S_, cs = C_ / q_, os = OC_ / q_;
    for (int n = 0; n < N; ++n) {
        const int sample = (int)((int64_t)n * n_samples_ / N);
        const int t = task_ ? task_[sample] : 0;
        if (t < 0 || t >= n_tasks_)
            throw Error(ErrorCode::spec, "routing.n_tasks: task id " + std::to_string(t) + " at site " + site_ +
                                             " is outside [0, " + std::to_string(n_tasks_) + ")");
        idx_[n] = t;
        gate_[n] = T(1);
    }
    adapters::dispatch_plan(perm_.data(), toff_.data(), idx_.data(), N, 1, n_tasks_);
    routing::RoutingStats & st = stats_on_ ? stats_ : off_stats_;
    for (int t = 0; t < n_tasks_; ++t) {
        const int b = toff_[t], en = toff_[t + 1], n = en - b;
        if (n == 0) continue;
        T * w = pw_.data() + (size_t)t * QS;
        T * z = pz_.data() + (size_t)t * QS;
        T * u = pu_.data() + (size_t)t * QS;
        if (train)
            for (int i = 0; i < QS; ++i) u[i] = static_cast<T>(rng_.uniform());
        routing::poly_weights_forward(w, z, phi_ + (size_t)t * QS, u, q_, S, train, static_cast<T>(rc_.temperature));
        T * A = mixA_.data() + (size_t)t * R_ * C_;
        T * B = mixB_.data() + (size_t)t * OC_ * R_;
        std::fill(A, A + (size_t)R_ * C_, T(0));
        std::fill(B, B + (size_t)OC_ * R_, T(0));
        for (int s = 0; s < S; ++s) {
            const T * As = a_ + (size_t)s * R_ * C_;
            const T * Bs = b_ + (size_t)s * OC_ * R_;
            for (int r = 0; r < R_; ++r)
                for (int c = 0; c < C_; ++c) A[(size_t)r * C_ + c] += w[(c / cs) * S + s] * As[(size_t)r * C_ + c];
            for (int o = 0; o < OC_; ++o) {
                const T wo = w[(o / os) * S + s];
                for (int r = 0; r < R_; ++r) B[(size_t)o * R_ + r] += wo * Bs[(size_t)o * R_ + r];
            }
        }
        T * xg = xg_.data() + (size_t)b * C_;
        T * yg = yg_.data() + (size_t)b * OC_;
        adapters::gather_rows(xg, inp, perm_.data(), b, en, 1, C_);
        std::fill(yg, yg + (size_t)n * OC_, T(0));
        adapters::lora_forward(yg, h_.data() + (size_t)b * R_, xg, A, B, scale_, n, C_, OC_, R_);
        adapters::scatter_add_rows(out, yg, gate_.data(), perm_.data(), b, en, 1, OC_);
        // telemetry: each row counts for the skill with the largest weight (averaged over heads)
        int best = 0;
        double bw = -1;
        for (int s = 0; s < S; ++s) {
            double m = 0;
            for (int h = 0; h < q_; ++h) m += w[h * S + s];
            if (m > bw) {
                bw = m;
                best = s;
            }
        }
        st.load[best] += n;
        for (int h = 0; h < q_; ++h)
            for (int s = 0; s < S; ++s) {
                const double v = w[h * S + s];
                if (v > 0) st.entropy_sum -= n * v * std::log(v) / q_;
            }
    }
    st.tokens += N;
    st.active_sum += N; // one mixed LoRA per row: 1/S of the work of running every skill
    st.forwards += 1;
}

template <typename T>
void PolySite<T>::backward(T * dinp, const T * dout, const T *, int N) {
    MOE_ASSERT(N == N_);
    const int S = S_, QS = q_ * S_, cs = C_ / q_, os = OC_ / q_;
    for (int t = 0; t < n_tasks_; ++t) {
        const int b = toff_[t], en = toff_[t + 1], n = en - b;
        if (n == 0) continue;
        const T * w = pw_.data() + (size_t)t * QS;
        const T * A = mixA_.data() + (size_t)t * R_ * C_;
        const T * B = mixB_.data() + (size_t)t * OC_ * R_;
        T * dyg = dyg_.data() + (size_t)b * OC_;
        T * dxg = dxg_.data() + (size_t)b * C_;
        adapters::scatter_add_rows_backward(dyg, (T *)nullptr, dout, yg_.data() + (size_t)b * OC_, gate_.data(),
                                            perm_.data(), b, en, 1, OC_);
        std::fill(dmixA_.begin(), dmixA_.end(), T(0));
        std::fill(dmixB_.begin(), dmixB_.end(), T(0));
        if (dinp) std::fill(dxg, dxg + (size_t)n * C_, T(0));
        adapters::lora_backward(dinp ? dxg : (T *)nullptr, dmixA_.data(), dmixB_.data(), dh_.data() + (size_t)b * R_,
                                dyg, xg_.data() + (size_t)b * C_, h_.data() + (size_t)b * R_, A, B, scale_, n, C_, OC_,
                                R_);
        if (dinp) adapters::gather_rows_backward(dinp, dxg, perm_.data(), b, en, 1, C_);
        // forward was: A_t = Σ_s w[q(c),s] A_s ; B_t = Σ_s w[q(o),s] B_s
        std::fill(dpw_.begin(), dpw_.end(), T(0));
        for (int s = 0; s < S; ++s) {
            const T * As = a_ + (size_t)s * R_ * C_;
            const T * Bs = b_ + (size_t)s * OC_ * R_;
            T * dAs = da_ ? da_ + (size_t)s * R_ * C_ : nullptr;
            T * dBs = db_ ? db_ + (size_t)s * OC_ * R_ : nullptr;
            for (int r = 0; r < R_; ++r)
                for (int c = 0; c < C_; ++c) {
                    const size_t i = (size_t)r * C_ + c;
                    const int h = c / cs;
                    if (dAs) dAs[i] += w[h * S + s] * dmixA_[i];
                    dpw_[h * S + s] += As[i] * dmixA_[i];
                }
            for (int o = 0; o < OC_; ++o) {
                const int h = o / os;
                for (int r = 0; r < R_; ++r) {
                    const size_t i = (size_t)o * R_ + r;
                    if (dBs) dBs[i] += w[h * S + s] * dmixB_[i];
                    dpw_[h * S + s] += Bs[i] * dmixB_[i];
                }
            }
        }
        if (dphi_)
            routing::poly_weights_backward(dphi_ + (size_t)t * QS, dpw_.data(), w, pz_.data() + (size_t)t * QS,
                                           phi_ + (size_t)t * QS, pu_.data() + (size_t)t * QS, q_, S, train_,
                                           static_cast<T>(rc_.temperature));
    }
}

template class PolySite<float>;
template class PolySite<double>;

} // namespace moe::sites
