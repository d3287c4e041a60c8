// routing: a mixture of adapter experts at one site (see moe/routing/moe_site.hpp).
#include "moe/routing/moe_site.hpp"

#include "moe/core/parallel.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "moe/adapters/adapters.hpp"
#include "moe/blas/gemm.hpp"
#include "moe/core/error.hpp"
#include "moe/core/parallel.hpp"
#include "moe/nn/kernels.hpp"

namespace moe::routing {

namespace {
bool dense_slots(const std::string & k) {
    return k == "soft" || k == "topp" || k == "dynmole" || k == "expert_choice";
}
} // namespace

// body(e) for every expert with routed rows. The experts are split into threads() contiguous
// groups of about equal routed rows and the groups run in parallel: an expert touches only its
// own rows of the dispatch buffers and its own parameter gradients, and its GEMMs run
// single-threaded inside the task, so no result depends on the grouping (issue 6).
template <typename F>
static void for_each_expert(const int32_t * offsets, int E, int64_t work, F && body) {
    const int T = par::threads();
    if (T <= 1 || work < (1 << 18) || par::in_task()) {
        for (int e = 0; e < E; ++e)
            if (offsets[e + 1] > offsets[e]) body(e);
        return;
    }
    const int64_t routed = offsets[E];
    auto first = [&](int u) {
        if (u >= T) return E;
        return int(std::lower_bound(offsets, offsets + E + 1, (int32_t)(routed * u / T)) - offsets);
    };
    auto task = [&](int t) {
        for (int e = first(t), e1 = first(t + 1); e < e1; ++e)
            if (offsets[e + 1] > offsets[e]) body(e);
    };
    par::run(T, task);
}

template <typename T>
void MoeSite<T>::declare(ParamStore<T> & s, const std::string & site, int C, int OC, const AdapterConfig & a,
                         const RouterConfig & r, const BalanceConfig & b, const nn::TrainablePred & tr) {
    site_ = site; ac_ = a; rc_ = r; bc_ = b;
    C_ = C; OC_ = OC; E_ = a.experts; R_ = a.rank;
    MOE_CHECK(E_ >= 1 && R_ >= 1, ErrorCode::spec, "adapters: experts and rank must be >= 1");
    has_router_ = r.kind != "none" && !(E_ == 1 && r.kind == "topk");
    // pooled load balancing needs a per-token router (task routing has no token loads)
    pooled_ = has_router_ && r.kind != "task" && b.lbl != "none" &&
              (b.lbl_pool == "layers" || (b.lbl_pool == "auto" && b.lbl != "megatron"));
    if (r.kind == "task") {
        q_ = r.n_splits;
        n_tasks_ = std::max(1, r.n_tasks);
        MOE_CHECK(a.kind == "lora", ErrorCode::spec, "routing.router task (Poly/MHR) mixes LoRA parameters: adapters.kind must be lora");
        MOE_CHECK(q_ >= 1 && C % q_ == 0 && OC % q_ == 0, ErrorCode::spec,
                  "routing.n_splits (" + std::to_string(q_) + ") must divide the input and output widths of site " + site +
                      " (" + std::to_string(C) + ", " + std::to_string(OC) + ")");
        const std::string ex = site + ".experts.";
        // PEFT Poly: A per (split, skill) with fan-in d_in/q, B = 0, scale 1/r (no alpha)
        id_a_ = s.declare(ex + "lora_a", {E_, R_, C}, tr(ex + "lora_a"), Init::KaimingUniform(C / q_));
        id_b_ = s.declare(ex + "lora_b", {E_, OC, R_}, tr(ex + "lora_b"), Init::Zeros());
        const std::string pn = site + ".router.module_logits";
        id_phi_ = s.declare(pn, {n_tasks_, q_ * E_}, tr(pn), Init::Uniform(1e-3));
        scale_ = static_cast<T>(1.0 / R_);
        K_ = 1;
        return;
    }
    M_ = r.kind == "null_experts" ? r.null_experts : 0;
    P_ = E_ + M_;
    K_ = std::max(1, r.kind == "switch" ? 1 : r.k);
    MOE_CHECK(!has_router_ || r.kind == "soft" || dense_slots(r.kind) || K_ <= P_, ErrorCode::spec,
              "routing.k (" + std::to_string(K_) + ") must not exceed the number of experts (" + std::to_string(P_) + ")");
    scale_ = static_cast<T>(a.rslora ? a.alpha / std::sqrt(double(R_)) : a.alpha / double(R_));
    const std::string ex = site + ".experts.";
    if (a.kind == "lora") {
        Init ai = a.init == "gaussian" ? Init::Normal(1.0 / R_) : Init::KaimingUniform(C);
        id_a_ = s.declare(ex + "lora_a", {E_, R_, C}, tr(ex + "lora_a"), ai);
        id_b_ = s.declare(ex + "lora_b", {E_, OC, R_}, tr(ex + "lora_b"), Init::Zeros());
    } else if (a.kind == "bottleneck") {
        id_a_ = s.declare(ex + "down_w", {E_, R_, C}, tr(ex + "down_w"), Init::KaimingUniform(C));
        id_bd_ = s.declare(ex + "down_b", {E_, R_}, tr(ex + "down_b"), Init::Zeros());
        id_b_ = s.declare(ex + "up_w", {E_, OC, R_}, tr(ex + "up_w"), Init::Zeros());
        id_bu_ = s.declare(ex + "up_b", {E_, OC}, tr(ex + "up_b"), Init::Zeros());
    } else {
        throw Error(ErrorCode::spec, "adapters.kind: unknown adapter '" + a.kind + "' (expected lora or bottleneck)");
    }
    if (has_router_) {
        const std::string rn = site + ".router.weight";
        const bool frozen_router = r.kind == "random_fixed";
        id_rw_ = s.declare(rn, {P_, C}, !frozen_router && tr(rn), Init::Normal(r.init_std));
        if (r.kind == "sigmoid_bias") id_bias_ = s.declare(site + ".router.expert_bias", {E_}, false, Init::Zeros());
    }
}

template <typename T>
void MoeSite<T>::bind(ParamStore<T> & s) {
    a_ = s.value(id_a_); da_ = s.grad(id_a_);
    b_ = s.value(id_b_); db_ = s.grad(id_b_);
    if (id_bd_ >= 0) { bd_ = s.value(id_bd_); dbd_ = s.grad(id_bd_); bu_ = s.value(id_bu_); dbu_ = s.grad(id_bu_); }
    if (id_rw_ >= 0) { rw_ = s.value(id_rw_); drw_ = s.grad(id_rw_); }
    if (id_bias_ >= 0) bias_ = s.value(id_bias_);
    if (id_phi_ >= 0) { phi_ = s.value(id_phi_); dphi_ = s.grad(id_phi_); }
}

template <typename T>
void MoeSite<T>::plan(int N) {
    Nmax_ = N;
    int kmax = has_router_ ? (dense_slots(rc_.kind) ? E_ : std::max(K_, rc_.k_start)) : 1;
    if (rc_.kind == "null_experts") kmax = std::min(K_, P_);
    // (inference-time overrides after the router's own count: they may need more slots)
    if (eval_k_ > 0) kmax = std::max(kmax, std::min(eval_k_, P_));
    if (!force_.empty()) kmax = std::max(kmax, force_ == "uniform" ? E_ : 1);
    if (rc_.kind == "task") {
        kmax = 1;
        const size_t QS = (size_t)q_ * E_;
        mixA_.assign((size_t)n_tasks_ * R_ * C_, T(0)); mixB_.assign((size_t)n_tasks_ * OC_ * R_, T(0));
        pw_.assign(n_tasks_ * QS, T(0)); pz_.assign(n_tasks_ * QS, T(0)); pu_.assign(n_tasks_ * QS, T(0.5));
        dmixA_.assign((size_t)R_ * C_, T(0)); dmixB_.assign((size_t)OC_ * R_, T(0)); dpw_.assign(QS, T(0));
        toff_.assign(n_tasks_ + 1, 0);
    }
    Kslots_ = kmax;
    const size_t NK = (size_t)N * kmax;
    // jitter and dropout buffers only when those are on (they are (N,C) each)
    const size_t nj = rc_.jitter > 0 ? (size_t)N * C_ : 0, nd = ac_.dropout > 0 ? (size_t)N * C_ : 0;
    xr_.assign(nj, T(0)); noise_.assign(nj, T(1));
    logits_.assign((size_t)N * P_, T(0)); probs_.assign((size_t)N * P_, T(0)); lse_.assign(N, T(0));
    dprobs_.assign((size_t)N * P_, T(0)); dlogits_.assign((size_t)N * P_, T(0));
    gate_.assign(NK, T(0)); dgate_.assign(NK, T(0));
    idx_.assign(NK, -1); perm_.assign(NK, 0); pos_.assign(NK, -1); offsets_.assign(E_ + 1, 0);
    xd_.assign(nd, T(0)); mask_.assign(nd, T(1)); dxd_.assign(std::max(nd, nj), T(0));
    // LoRA adds its up-projection and its input gradient straight into token rows (experts_addmm):
    // no (routed, C) input-gradient blocks; the other paths (bottleneck, task routing) keep them
    const bool lora_rows = ac_.kind == "lora" && rc_.kind != "task";
    // ... and at the ranks lora_rows_* cover, read their rows in place: no gathered blocks at all
    rows_in_place_ = lora_rows && adapters::lora_rows_in_place(R_);
    xg_.assign(rows_in_place_ ? 0 : NK * C_, T(0)); dxg_.assign(lora_rows ? 0 : NK * C_, T(0));
    h_.assign(NK * R_, T(0)); hpre_.assign(NK * R_, T(0)); dh_.assign(NK * R_, T(0)); hg_.assign(NK * R_, T(0));
    gg_.assign(NK, T(0)); dgg_.assign(NK, T(0));
    // LoRA's backward never reads the block outputs (the gate is folded into hg), so its output
    // gradients reuse yg_'s storage; the bottleneck and task-routed paths need both
    const bool own_dyg = !lora_rows;
    yg_.assign(rows_in_place_ ? 0 : NK * OC_, T(0)); dyg_.assign(own_dyg ? NK * OC_ : 0, T(0));
    if (rc_.kind == "expert_choice") picks_.assign((size_t)E_ * N, 0);
    if (rc_.kind == "dynmole") { wdense_.assign((size_t)N * E_, T(0)); ent_.assign(N, T(0)); }
    f_.assign(P_, T(0));
    lbl_counts_.assign(E_, 0);
    psum_.assign(E_, 0.0);
    step_load_.assign(E_, 0); micro_counts_.assign(P_, 0); global_counts_.assign(P_, 0);
    stats_.load.assign(E_, 0);
    off_stats_.load.assign(E_, 0);
    stats_.task_load.assign((size_t)an_tasks_ * E_, 0);
    stats_.class_load.assign((size_t)an_classes_ * E_, 0);
}

template <typename T>
void MoeSite<T>::set_analysis(int n_tasks, int n_classes) {
    an_tasks_ = std::max(0, n_tasks);
    an_classes_ = std::max(0, n_classes);
    stats_.task_load.assign((size_t)an_tasks_ * E_, 0);
    stats_.class_load.assign((size_t)an_classes_ * E_, 0);
}

template <typename T>
void MoeSite<T>::set_context(const int32_t * task, int n_samples, int64_t step, uint64_t stream) {
    task_ = task; n_samples_ = std::max(1, n_samples); step_ = step;
    rng_.reseed(seed_for(stream, site_));
}

template <typename T>
int MoeSite<T>::K_now(bool train) const {
    if (!train && eval_k_ > 0) return std::min(eval_k_, P_);
    if (rc_.kind == "random_fixed" && rc_.k_grow_steps > 0) {
        const double frac = std::min(1.0, double(step_) / double(rc_.k_grow_steps));
        return std::clamp(rc_.k_start + (int)std::floor(frac * (K_ - rc_.k_start) + 1e-9), 1, K_);
    }
    return std::min(K_, Kslots_);
}

template <typename T>
void MoeSite<T>::route(const T * inp, int N, bool train) {
    const std::string & kind = rc_.kind;
    if (!train && force_ == "uniform") { // every expert with the same weight
        Kslots_ = E_;
        for (int n = 0; n < N; ++n)
            for (int e = 0; e < E_; ++e) { idx_[(size_t)n * E_ + e] = e; gate_[(size_t)n * E_ + e] = T(1) / E_; }
        return;
    }
    if (!train && force_ == "oracle") { // the expert of the sample's task
        Kslots_ = 1;
        for (int n = 0; n < N; ++n) {
            const int t = task_ ? task_[(int64_t)n * n_samples_ / N] : 0;
            idx_[n] = t % E_;
            gate_[n] = T(1);
        }
        return;
    }
    if (!has_router_) {
        Kslots_ = 1;
        for (int n = 0; n < N; ++n) { idx_[n] = 0; gate_[n] = T(1); }
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
    for (int e : disabled_) // removed experts are never selected and carry no probability
        if (e >= 0 && e < E_)
            for (int n = 0; n < N; ++n) logits_[(size_t)n * P_ + e] = T(-1e30);
    if (kind == "sigmoid_bias") sigmoid_forward(probs_.data(), logits_.data(), (int64_t)N * P_);
    else nn::softmax_forward(probs_.data(), logits_.data(), N, P_);

    const T * p = probs_.data();
    int K = K_now(train);
    if (kind == "soft" || kind == "topp" || kind == "dynmole" || kind == "expert_choice") {
        Kslots_ = E_;
        if (kind == "soft") {
            for (int n = 0; n < N; ++n)
                for (int e = 0; e < E_; ++e) idx_[(size_t)n * E_ + e] = e;
        } else if (kind == "topp") {
            topp_select(idx_.data(), p, N, E_, static_cast<T>(rc_.top_p));
        } else if (kind == "dynmole") {
            dynmole_select(idx_.data(), ent_.data(), p, N, E_, static_cast<T>(rc_.dynmole_top_p), rc_.keep_top_k,
                           static_cast<T>(rc_.entropy_threshold), static_cast<T>(rc_.entropy_q), static_cast<T>(rc_.entropy_eps));
        } else {
            const int kc = std::clamp((int)(rc_.capacity_factor * N / E_), 1, N);
            expert_choice_select(picks_.data(), p, N, E_, kc);
            std::fill(idx_.begin(), idx_.begin() + (size_t)N * E_, -1);
            for (int e = 0; e < E_; ++e)
                for (int j = 0; j < kc; ++j) idx_[(size_t)picks_[(size_t)e * kc + j] * E_ + e] = e;
        }
        gate_forward(gate_.data(), p, idx_.data(), N, P_, E_, false, T(1));
        if (kind == "dynmole") gates_to_dense(wdense_.data(), gate_.data(), idx_.data(), N, E_, E_); // w = p * mask
        return;
    }
    Kslots_ = K;
    if (kind == "switch") {
        topk_select(idx_.data(), p, N, P_, 1);
        const int cap = std::max(1, (int)std::ceil(rc_.capacity_factor * N / E_));
        switch_capacity_drop(idx_.data(), N, E_, cap);
        gate_forward(gate_.data(), p, idx_.data(), N, P_, 1, false, T(1));
    } else if (kind == "sigmoid_bias") {
        biased_topk_select(idx_.data(), p, bias_, N, E_, K);
        gate_forward(gate_.data(), p, idx_.data(), N, P_, K, true, static_cast<T>(rc_.route_scale));
    } else if (kind == "null_experts") {
        topk_select(idx_.data(), p, N, P_, K);
        // null experts are the zero function: their slots carry no compute
        for (size_t i = 0; i < (size_t)N * K; ++i) {
            micro_counts_[idx_[i]] += 1; // counts over E+M for the AdaMoE loss (before nulls are cleared)
            if (idx_[i] >= E_) idx_[i] = -1;
        }
        gate_forward(gate_.data(), p, idx_.data(), N, P_, K, true, T(1));
    } else { // topk, random_fixed
        topk_select(idx_.data(), p, N, P_, K);
        gate_forward(gate_.data(), p, idx_.data(), N, P_, K, kind == "random_fixed" || rc_.renormalize, T(1));
    }
}

template <typename T>
void MoeSite<T>::forward(T * out, const T * inp, int N, bool train) {
    MOE_ASSERT(N <= Nmax_);
    N_ = N;
    train_ = train;
    std::fill(micro_counts_.begin(), micro_counts_.end(), 0);
    if (rc_.kind == "task") { forward_task(out, inp, N, train); return; }
    route(inp, N, train);
    const int K = Kslots_;

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
    // sparse dispatch: group (token, slot) pairs by expert, dense GEMMs per block, scatter-add
    routed_ = adapters::dispatch_plan(perm_.data(), offsets_.data(), idx_.data(), N, K, E_);
    const bool lora = ac_.kind == "lora";
    if (!lora) adapters::dispatch_positions(pos_.data(), perm_.data(), routed_, N, K); // for combine_rows
    if (lora) // LoRA folds the gate into its rank-R activations: the gates in dispatch order
        for (int i = 0; i < routed_; ++i) gg_[i] = gate_[perm_[i]];
    // each expert (experts in parallel): LoRA's rank-R activations from its token rows in place
    // (lora_rows_forward; other ranks gather the rows first), its up-projection added straight into
    // the token rows below (experts_addmm); or the bottleneck's dense GEMMs on its gathered rows into
    // its block of yg (every token then adds its slots' rows)
    for_each_expert(offsets_.data(), E_, (int64_t)routed_ * (C_ + OC_) * R_, [&](int e) {
        const int b = offsets_[e], en = offsets_[e + 1], n = en - b;
        if (rows_in_place_) { // LoRA: the rank-R activations from the token rows, no gather
            adapters::lora_rows_forward(h_.data() + (size_t)b * R_, hg_.data() + (size_t)b * R_, xd, gg_.data() + b,
                                        a_ + (size_t)e * R_ * C_, scale_, perm_.data(), b, en, K, C_, R_);
            return;
        }
        T * xg = xg_.data() + (size_t)b * C_;
        T * yg = yg_.data() + (size_t)b * OC_;
        adapters::gather_rows(xg, xd, perm_.data(), b, en, K, C_);
        if (lora) {
            adapters::lora_gated_forward((T *)nullptr, h_.data() + (size_t)b * R_, hg_.data() + (size_t)b * R_, xg,
                                         gg_.data() + b, a_ + (size_t)e * R_ * C_, (const T *)nullptr, scale_, n, C_,
                                         OC_, R_);
        } else {
            std::fill(yg, yg + (size_t)n * OC_, T(0));
            adapters::bottleneck_forward(yg, hpre_.data() + (size_t)b * R_, h_.data() + (size_t)b * R_, xg,
                                         a_ + (size_t)e * R_ * C_, bd_ + (size_t)e * R_, b_ + (size_t)e * OC_ * R_,
                                         bu_ + (size_t)e * OC_, n, C_, OC_, R_);
        }
    });
    // out[token] += hg[i] @ B_e^T over its experts (LoRA's hg carries the gate); the bottleneck's
    // blocks are added with their gates
    if (lora)
        adapters::experts_addmm(out, hg_.data(), b_, (int64_t)OC_ * R_, /*transposed=*/true, perm_.data(),
                                offsets_.data(), E_, N, K, R_, OC_);
    else adapters::combine_rows(out, yg_.data(), gate_.data(), pos_.data(), N, K, OC_);

    // counts, auxiliary losses, telemetry
    std::vector<int64_t> & cnt = micro_counts_;
    if (rc_.kind != "null_experts")
        for (size_t i = 0; i < (size_t)N * K; ++i)
            if (idx_[i] >= 0) cnt[idx_[i]] += 1;
    SiteStats & st = stats_on_ ? stats_ : off_stats_;
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
    if (has_router_ && (train || force_.empty())) { // forced evaluation routing has no router output
        const T * p = probs_.data();
        if (bc_.lbl != "none") {
            const LblConvention conv = parse_lbl(bc_.lbl);
            // this forward's counts under the convention (Switch: top-1 of the probabilities,
            // whatever the router selected) and the probability sums
            std::fill(lbl_counts_.begin(), lbl_counts_.end(), 0);
            std::fill(psum_.begin(), psum_.end(), 0.0);
            for (int n = 0; n < N; ++n) {
                const T * pn = p + (size_t)n * P_;
                int best = 0;
                for (int e = 0; e < P_; ++e) {
                    if (e < E_) psum_[e] += pn[e];
                    if (pn[e] > pn[best]) best = e;
                }
                if (conv == LblConvention::switch_ && best < E_) lbl_counts_[best] += 1;
            }
            if (conv != LblConvention::switch_)
                for (int e = 0; e < E_; ++e) lbl_counts_[e] = cnt[e];
            if (!pooled_) {
                std::vector<int64_t> & use = global_counts_;
                int64_t ntok = N;
                if (bc_.lbl_scope == "global" && train && conv != LblConvention::switch_) {
                    for (int e = 0; e < E_; ++e) use[e] += lbl_counts_[e]; // until after_step()
                    global_tokens_ += N;
                    ntok = global_tokens_;
                } else {
                    std::copy(lbl_counts_.begin(), lbl_counts_.end(), use.begin());
                }
                lbl_frequencies(f_.data(), use.data(), ntok, E_, conv == LblConvention::switch_ ? 1 : std::max(1, K), conv);
                if (!(bc_.lbl_scope == "global" && train)) std::fill(use.begin(), use.end(), 0);
                const double v = lbl_forward(p, f_.data(), N, P_, E_);
                st.aux_lbl += v;
                last_aux_ += bc_.lbl_coef * v;
            }
        }
        const bool have_lse = bc_.z_coef > 0 || bc_.lbl != "none";
        if (have_lse) {
            const double z = zloss_forward(logits_.data(), N, P_, lse_.data());
            st.aux_z += z;
            last_aux_ += bc_.z_coef * z;
        }
        if (rc_.kind == "dynmole") {
            T ent = 0, lb = 0;
            const double v = dynmole_loss_forward(&ent, &lb, p, wdense_.data(), N, E_, static_cast<T>(rc_.entropy_q),
                                                  static_cast<T>(rc_.entropy_eps), static_cast<T>(bc_.dynmole_beta),
                                                  static_cast<T>(bc_.dynmole_alpha));
            st.aux_dyn += v;
            last_aux_ += v;
        }
        if (rc_.kind == "null_experts") {
            const double v = adamoe_lbl_forward(f_.data(), p, cnt.data(), N, E_, M_);
            st.aux_null += v;
            last_aux_ += bc_.null_coef * v;
        }
        if (rc_.kind != "sigmoid_bias") { // p = softmax(logits)
            st.entropy_sum += softmax_entropy_sum(logits_.data(), p, have_lse ? lse_.data() : (const T *)nullptr, N, P_);
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
    int64_t dropped = 0;
    for (int n = 0; n < N; ++n) {
        bool any = false;
        for (int j = 0; j < K; ++j) any |= idx_[(size_t)n * K + j] >= 0;
        dropped += !any && (rc_.kind == "switch" || rc_.kind == "expert_choice");
    }
    st.dropped += dropped;
    st.tokens += N;
    st.active_sum += routed_;
    st.forwards += 1;
}

template <typename T>
void MoeSite<T>::backward(T * dinp, const T * dout, const T * inp, int N) {
    MOE_ASSERT(N == N_);
    if (rc_.kind == "task") { backward_task(dinp, dout, N); return; }
    const int K = Kslots_;
    const bool dropout = train_ && ac_.dropout > 0;
    const T * xd = dropout ? xd_.data() : inp;
    T * dxd = dinp ? (dropout ? dxd_.data() : dinp) : nullptr;
    if (dropout && dinp) std::fill(dxd_.begin(), dxd_.begin() + (size_t)N * C_, T(0));
    std::fill(dgate_.begin(), dgate_.begin() + (size_t)N * K, T(0));
    const bool lora = ac_.kind == "lora";
    if (lora && has_router_) std::fill(dgg_.begin(), dgg_.begin() + routed_, T(0));
    for_each_expert(offsets_.data(), E_, (int64_t)routed_ * (C_ + OC_) * R_, [&](int e) {
        const int b = offsets_[e], en = offsets_[e + 1], n = en - b;
        if (rows_in_place_) { // as in forward: the token rows of dout and of the input in place
            adapters::lora_rows_backward(da_ ? da_ + (size_t)e * R_ * C_ : (T *)nullptr,
                                         db_ ? db_ + (size_t)e * OC_ * R_ : (T *)nullptr,
                                         has_router_ ? dgg_.data() + b : (T *)nullptr, dh_.data() + (size_t)b * R_, dout, xd,
                                         h_.data() + (size_t)b * R_, hg_.data() + (size_t)b * R_, gg_.data() + b,
                                         b_ + (size_t)e * OC_ * R_, scale_, perm_.data(), b, en, K, C_, OC_, R_);
            return;
        }
        T * dyg = (lora ? yg_.data() : dyg_.data()) + (size_t)b * OC_; // LoRA: yg_'s storage (see plan)
        T * dxg = lora ? (T *)nullptr : dxg_.data() + (size_t)b * C_;
        const T * xg = xg_.data() + (size_t)b * C_;
        if (lora) {
            // forward was: out[token] += yg[i], yg = lora_gated(xg)   so   dyg[i] = dout[token]
            adapters::gather_rows(dyg, dout, perm_.data(), b, en, K, OC_);
            adapters::lora_gated_backward((T *)nullptr, da_ ? da_ + (size_t)e * R_ * C_ : (T *)nullptr,
                                          db_ ? db_ + (size_t)e * OC_ * R_ : (T *)nullptr,
                                          has_router_ ? dgg_.data() + b : (T *)nullptr, dh_.data() + (size_t)b * R_, dyg,
                                          xg, h_.data() + (size_t)b * R_, hg_.data() + (size_t)b * R_, gg_.data() + b,
                                          a_ + (size_t)e * R_ * C_, b_ + (size_t)e * OC_ * R_, scale_, n, C_, OC_, R_);
        } else {
            adapters::scatter_add_rows_backward(dyg, has_router_ ? dgate_.data() : (T *)nullptr, dout,
                                                yg_.data() + (size_t)b * OC_, gate_.data(), perm_.data(), b, en, K, OC_);
            if (dxd) std::fill(dxg, dxg + (size_t)n * C_, T(0));
            adapters::bottleneck_backward(dxd ? dxg : (T *)nullptr, da_ ? da_ + (size_t)e * R_ * C_ : (T *)nullptr,
                                          dbd_ ? dbd_ + (size_t)e * R_ : (T *)nullptr,
                                          db_ ? db_ + (size_t)e * OC_ * R_ : (T *)nullptr,
                                          dbu_ ? dbu_ + (size_t)e * OC_ : (T *)nullptr, dh_.data() + (size_t)b * R_, dyg,
                                          xg, hpre_.data() + (size_t)b * R_, h_.data() + (size_t)b * R_,
                                          a_ + (size_t)e * R_ * C_, b_ + (size_t)e * OC_ * R_, n, C_, OC_, R_);
        }
    });
    // forward was: xg[i] = xd[perm[i] / K], h = xg @ A_e^T   so   dxd[token] += dh[i] @ A_e over its
    // experts (LoRA, straight into the token rows) or += the sum of its slots' dxg blocks
    if (dxd && lora)
        adapters::experts_addmm(dxd, dh_.data(), a_, (int64_t)R_ * C_, /*transposed=*/false, perm_.data(), offsets_.data(),
                                E_, N, K, R_, C_);
    else if (dxd) adapters::combine_rows(dxd, dxg_.data(), (const T *)nullptr, pos_.data(), N, K, C_);
    if (lora && has_router_) // the gate gradients back in (token, slot) order
        for (int i = 0; i < routed_; ++i) dgate_[perm_[i]] += dgg_[i];
    if (dropout && dinp)
        for (size_t i = 0; i < (size_t)N * C_; ++i) dinp[i] += dxd_[i] * mask_[i];
    if (!has_router_) return;

    // router: gates, auxiliary losses, scores, logits, weights and the router's input gradient
    const T * p = probs_.data();
    std::fill(dprobs_.begin(), dprobs_.begin() + (size_t)N * P_, T(0));
    const std::string & kind = rc_.kind;
    const bool renorm = kind == "sigmoid_bias" || kind == "null_experts" || kind == "random_fixed" ||
                        (kind == "topk" && rc_.renormalize);
    const T scale = kind == "sigmoid_bias" ? static_cast<T>(rc_.route_scale) : T(1);
    gate_backward(dprobs_.data(), dgate_.data(), gate_.data(), p, idx_.data(), N, P_, K, renorm, scale);
    const T as = static_cast<T>(aux_scale_);
    if (bc_.lbl != "none" && bc_.lbl_coef > 0) lbl_backward(dprobs_.data(), f_.data(), static_cast<T>(bc_.lbl_coef) * as, N, P_, E_);
    if (kind == "dynmole")
        dynmole_loss_backward(dprobs_.data(), p, wdense_.data(), N, E_, static_cast<T>(rc_.entropy_q),
                              static_cast<T>(rc_.entropy_eps), static_cast<T>(bc_.dynmole_beta) * as,
                              static_cast<T>(bc_.dynmole_alpha) * as);
    if (kind == "null_experts" && bc_.null_coef > 0)
        adamoe_lbl_backward(dprobs_.data(), f_.data(), static_cast<T>(bc_.null_coef) * as, N, E_, M_);
    std::fill(dlogits_.begin(), dlogits_.begin() + (size_t)N * P_, T(0));
    if (kind == "sigmoid_bias") sigmoid_backward(dlogits_.data(), p, dprobs_.data(), (int64_t)N * P_);
    else nn::softmax_backward(dlogits_.data(), p, dprobs_.data(), N, P_);
    if (bc_.z_coef > 0) zloss_backward(dlogits_.data(), logits_.data(), static_cast<T>(bc_.z_coef) * as, N, P_);
    // forward was: logits = xr @ W^T with xr = inp * noise
    const bool jittered = train_ && rc_.jitter > 0;
    if (drw_) blas::gemm<T>(true, false, P_, C_, N, T(1), dlogits_.data(), P_, jittered ? xr_.data() : inp, C_, T(1), drw_, C_);
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

// Poly / MHR (PEFT poly/layer.py): for the task t of each row, w = poly weights of Φ[t] (q,S);
// A_t = Σ_s w[q(c),s] A_s (split q(c) of input column c), B_t = Σ_s w[q(o),s] B_s (split of output
// row o); out += (1/r) (x A_t^T) B_t^T. Rows are grouped by task (counting sort) so each task is
// two dense GEMMs on a contiguous block.
template <typename T>
void MoeSite<T>::forward_task(T * out, const T * inp, int N, bool train) {
    const int S = E_, QS = q_ * E_, cs = C_ / q_, os = OC_ / q_;
    for (int n = 0; n < N; ++n) {
        const int sample = (int)((int64_t)n * n_samples_ / N);
        const int t = task_ ? task_[sample] : 0;
        if (t < 0 || t >= n_tasks_)
            throw Error(ErrorCode::spec, "routing.n_tasks: task id " + std::to_string(t) + " at site " + site_ +
                                             " is outside [0, " + std::to_string(n_tasks_) + ")");
        idx_[n] = t;
        gate_[n] = T(1);
    }
    Kslots_ = 1;
    routed_ = adapters::dispatch_plan(perm_.data(), toff_.data(), idx_.data(), N, 1, n_tasks_);
    SiteStats & st = stats_on_ ? stats_ : off_stats_;
    for (int t = 0; t < n_tasks_; ++t) {
        const int b = toff_[t], en = toff_[t + 1], n = en - b;
        if (n == 0) continue;
        T * w = pw_.data() + (size_t)t * QS;
        T * z = pz_.data() + (size_t)t * QS;
        T * u = pu_.data() + (size_t)t * QS;
        if (train)
            for (int i = 0; i < QS; ++i) u[i] = static_cast<T>(rng_.uniform());
        poly_weights_forward(w, z, phi_ + (size_t)t * QS, u, q_, S, train, static_cast<T>(rc_.temperature));
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
            if (m > bw) { bw = m; best = s; }
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
    last_aux_ = 0;
}

template <typename T>
void MoeSite<T>::backward_task(T * dinp, const T * dout, int N) {
    const int S = E_, QS = q_ * E_, cs = C_ / q_, os = OC_ / q_;
    for (int t = 0; t < n_tasks_; ++t) {
        const int b = toff_[t], en = toff_[t + 1], n = en - b;
        if (n == 0) continue;
        const T * w = pw_.data() + (size_t)t * QS;
        const T * A = mixA_.data() + (size_t)t * R_ * C_;
        const T * B = mixB_.data() + (size_t)t * OC_ * R_;
        T * dyg = dyg_.data() + (size_t)b * OC_;
        T * dxg = dxg_.data() + (size_t)b * C_;
        adapters::scatter_add_rows_backward(dyg, (T *)nullptr, dout, yg_.data() + (size_t)b * OC_, gate_.data(), perm_.data(),
                                            b, en, 1, OC_);
        std::fill(dmixA_.begin(), dmixA_.end(), T(0));
        std::fill(dmixB_.begin(), dmixB_.end(), T(0));
        if (dinp) std::fill(dxg, dxg + (size_t)n * C_, T(0));
        adapters::lora_backward(dinp ? dxg : (T *)nullptr, dmixA_.data(), dmixB_.data(), dh_.data() + (size_t)b * R_, dyg,
                                xg_.data() + (size_t)b * C_, h_.data() + (size_t)b * R_, A, B, scale_, n, C_, OC_, R_);
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
            poly_weights_backward(dphi_ + (size_t)t * QS, dpw_.data(), w, pz_.data() + (size_t)t * QS, phi_ + (size_t)t * QS,
                                  pu_.data() + (size_t)t * QS, q_, S, train_, static_cast<T>(rc_.temperature));
    }
}

template <typename T>
void MoeSite<T>::set_pooled_lbl(const double * f_eff, double value) {
    for (int e = 0; e < E_; ++e) f_[e] = static_cast<T>(f_eff[e]);
    SiteStats & st = stats_on_ ? stats_ : off_stats_;
    st.aux_lbl += value;
}

template <typename T>
double pool_lbl(const std::vector<MoeSite<T> *> & sites, const BalanceConfig & bc, bool train,
                std::vector<int64_t> & acc_counts, int64_t & acc_rows) {
    if (sites.empty() || bc.lbl == "none" || !sites[0]->lbl_pooled()) return 0.0;
    const LblConvention conv = parse_lbl(bc.lbl);
    const int E = sites[0]->experts();
    // scratch kept across calls: after the first step this allocates nothing
    thread_local std::vector<int64_t> counts;
    thread_local std::vector<double> psum, f, feff;
    counts.assign(E, 0);
    psum.assign(E, 0.0);
    f.assign(E, 0.0);
    feff.assign(E, 0.0);
    int64_t rows = 0;
    for (auto * s : sites) {
        MOE_ASSERT(s->experts() == E);
        for (int e = 0; e < E; ++e) { counts[e] += s->lbl_counts()[e]; psum[e] += s->prob_sums()[e]; }
        rows += s->rows();
    }
    if (rows == 0) return 0.0;
    const int K = conv == LblConvention::switch_ ? 1 : std::max(1, sites[0]->lbl_slots());
    if (bc.lbl_scope == "global" && train && conv != LblConvention::switch_) {
        if ((int)acc_counts.size() != E) acc_counts.assign(E, 0);
        for (int e = 0; e < E; ++e) acc_counts[e] += counts[e];
        acc_rows += rows;
        lbl_frequencies(f.data(), acc_counts.data(), acc_rows, E, K, conv);
    } else {
        lbl_frequencies(f.data(), counts.data(), rows, E, K, conv);
    }
    double value = 0;
    for (int e = 0; e < E; ++e) value += f[e] * psum[e] / rows;
    value *= E;
    for (auto * s : sites) {
        for (int e = 0; e < E; ++e) feff[e] = f[e] * s->rows() / double(rows);
        s->set_pooled_lbl(feff.data(), value);
    }
    return value;
}

template double pool_lbl<float>(const std::vector<MoeSite<float> *> &, const BalanceConfig &, bool,
                                std::vector<int64_t> &, int64_t &);
template double pool_lbl<double>(const std::vector<MoeSite<double> *> &, const BalanceConfig &, bool,
                                 std::vector<int64_t> &, int64_t &);

template <typename T>
void MoeSite<T>::after_step() {
    if (rc_.kind == "sigmoid_bias" && bias_) bias_update(bias_, step_load_.data(), E_, static_cast<T>(rc_.bias_update_rate));
    std::fill(step_load_.begin(), step_load_.end(), 0);
    std::fill(global_counts_.begin(), global_counts_.end(), 0);
    global_tokens_ = 0;
}

template <typename T>
void MoeSite<T>::reset_stats() {
    auto load = std::move(stats_.load), tl = std::move(stats_.task_load), cl = std::move(stats_.class_load);
    stats_ = SiteStats{};
    std::fill(load.begin(), load.end(), 0);
    std::fill(tl.begin(), tl.end(), 0);
    std::fill(cl.begin(), cl.end(), 0);
    stats_.load = std::move(load);
    stats_.task_load = std::move(tl);
    stats_.class_load = std::move(cl);
}

template <typename T>
double MoeSite<T>::flops_ratio() const {
    return stats_.tokens ? stats_.active_sum / (double(stats_.tokens) * E_) : 0.0;
}

template class MoeSite<float>;
template class MoeSite<double>;

} // namespace moe::routing
