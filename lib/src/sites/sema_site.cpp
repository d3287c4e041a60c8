// sites: SEMA's self-expanding mixture of adapters at one site (see moe/sites/sema_site.hpp).
#include "moe/sites/sema_site.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "moe/adapters/registry.hpp"
#include "moe/core/error.hpp"
#include "moe/nn/kernels.hpp"

namespace moe::sites {

// ---- the site -----------------------------------------------------------------------------------
template <typename T>
void SemaSite<T>::declare(ParamStore<T> & s, const std::string & site, int C, int OC, const SemaSiteConfig & cfg,
                          int slots, bool expandable, bool descriptors) {
    MOE_CHECK(slots >= 1, ErrorCode::spec, "expand: a site needs at least one adapter slot");
    site_ = site;
    cfg_ = cfg;
    C_ = C;
    OC_ = OC;
    D_ = cfg.rd_dim;
    S_ = slots;
    expandable_ = expandable;
    rd_ = expandable && descriptors;
    slot_.assign(S_, Slot{});
    const Init kC = Init::KaimingUniform(C);
    // the adapter slots: a new adapter outputs exactly 0 (LoRA: A kaiming-uniform, B = 0; SEMA's
    // bottleneck "lora" init: down kaiming-uniform, up and biases 0)
    adapters::AdapterConfig ac;
    ac.kind = cfg.adapter;
    ac.experts = S_;
    ac.rank = cfg.rank;
    ac.alpha = cfg.lora_alpha;
    bank_ = adapters::make_bank<T>(cfg.adapter, "expand.adapter");
    bank_->declare(s, adapters::BankLayout{false, site + ".sema.adapter", "."}, S_, C, OC, ac,
                   [](const std::string &) { return true; });
    if (expandable_) {
        // a new router column: PyTorch nn.Linear(C, 1) default init, W and b ~ U(±1/sqrt(C))
        for (int k = 0; k < S_; ++k) {
            const std::string p = site + ".sema.router" + std::to_string(k) + ".";
            slot_[k].id_rw = s.declare(p + "weight", {C}, true, kC);
            slot_[k].id_rb = s.declare(p + "bias", {1}, true, kC);
        }
    }
    if (rd_) {
        const Init kD = Init::KaimingUniform(D_);
        for (int k = 0; k < S_; ++k) {
            const std::string p = site + ".sema.rd" + std::to_string(k) + ".";
            slot_[k].id_ew = s.declare(p + "enc_w", {D_, C}, true, kC);
            slot_[k].id_eb = s.declare(p + "enc_b", {D_}, true, Init::Zeros());
            slot_[k].id_cw = s.declare(p + "dec_w", {C, D_}, true, kD);
            slot_[k].id_cb = s.declare(p + "dec_b", {C}, true, Init::Zeros());
        }
    }
    rec_.assign(S_, LossRecords{});
    for (auto & r : rec_) r.init(cfg.buffer_size);
    train_ad_.assign(S_, false);
    train_rc_.assign(S_, false);
    updating_.assign(S_, false);
    K_ = 1;
}

template <typename T>
void SemaSite<T>::bind(ParamStore<T> & s) {
    auto v = [&](int id) { return id >= 0 ? s.value(id) : nullptr; };
    auto g = [&](int id) { return id >= 0 ? s.grad(id) : nullptr; };
    bank_->bind(s);
    for (auto & sl : slot_) {
        sl.rw = v(sl.id_rw), sl.rb = v(sl.id_rb);
        sl.ew = v(sl.id_ew), sl.eb = v(sl.id_eb), sl.cw = v(sl.id_cw), sl.cb = v(sl.id_cb);
        sl.g_rw = g(sl.id_rw), sl.g_rb = g(sl.id_rb);
        sl.g_ew = g(sl.id_ew), sl.g_eb = g(sl.id_eb), sl.g_cw = g(sl.id_cw), sl.g_cb = g(sl.id_cb);
    }
}

template <typename T>
void SemaSite<T>::plan(int N, int tokens) {
    MOE_CHECK(tokens >= 1 && N % tokens == 0, ErrorCode::internal, "SemaSite::plan: rows not a multiple of tokens");
    Nmax_ = N;
    Tn_ = tokens;
    Bmax_ = N / tokens;
    const size_t S = S_, n = N, b = Bmax_;
    u_.assign(b * C_, T(0));
    du_.assign(b * C_, T(0));
    logits_.assign(b * S, T(0));
    w_.assign(b * S, T(0));
    dw_.assign(b * S, T(0));
    dlog_.assign(b * S, T(0));
    y_.assign(S * n * OC_, T(0));
    dy_.assign(n * OC_, T(0));
    bank_->plan_dense(N);
    if (rd_) {
        rd_z_.assign(S * b * D_, T(0));
        rd_r_.assign(S * b * C_, T(0));
        rd_loss_.assign(S * b, T(0));
        rd_scratch_.assign(b * (C_ + D_), T(0));
        rd_dloss_.assign(b, T(0));
        z_.assign(S * b, 0.0);
        held_.assign(S * b, 0.0);
    }
    held_n_.assign(S, 0);
}

template <typename T>
void SemaSite<T>::set_adapters(int K) {
    MOE_CHECK(K >= 0 && K <= S_ && (expandable_ || K <= 1), ErrorCode::internal,
              "SemaSite " + site_ + ": adapter count out of range");
    K_ = K;
}

template <typename T>
void SemaSite<T>::set_training(std::vector<bool> adapters, std::vector<bool> router_cols) {
    adapters.resize(S_, false);
    router_cols.resize(S_, false);
    train_ad_ = std::move(adapters);
    train_rc_ = std::move(router_cols);
}

template <typename T>
std::vector<std::string> SemaSite<T>::adapter_params(int k) const {
    return bank_->param_names(k);
}
template <typename T>
std::vector<std::string> SemaSite<T>::router_params(int k) const {
    if (!expandable_) return {};
    const std::string p = site_ + ".sema.router" + std::to_string(k) + ".";
    return {p + "weight", p + "bias"};
}
template <typename T>
std::vector<std::string> SemaSite<T>::rd_params(int k) const {
    if (!rd_) return {};
    const std::string p = site_ + ".sema.rd" + std::to_string(k) + ".";
    return {p + "enc_w", p + "enc_b", p + "dec_w", p + "dec_b"};
}

template <typename T>
void SemaSite<T>::forward(T * out, const T * inp, int N, bool train) {
    MOE_ASSERT(N <= Nmax_ && N % Tn_ == 0);
    N_ = N;
    B_ = N / Tn_;
    train_ = train;
    const int B = B_;
    if (K_ == 0) return;
    const bool mix = expandable_ && K_ > 1;
    const bool need_rd = rd_ && (train || detect_);
    if (mix || need_rd) pool_tokens(u_.data(), inp, B, Tn_, C_);
    // router: w (B,K) = softmax over the K columns of the pooled input
    if (mix) {
        for (int b = 0; b < B; ++b)
            for (int k = 0; k < K_; ++k) {
                const T * ub = u_.data() + (int64_t)b * C_;
                const T * wk = slot_[k].rw;
                double s = double(slot_[k].rb[0]);
                for (int c = 0; c < C_; ++c) s += double(ub[c]) * double(wk[c]);
                logits_[(size_t)b * K_ + k] = T(s);
            }
        nn::softmax_forward(w_.data(), logits_.data(), B, K_);
    } else {
        for (int b = 0; b < B; ++b) w_[b * K_] = T(1);
    }
    // adapters: y_k (N,OC) for every k; out += w[b,k] * y_k[b,t]
    for (int k = 0; k < K_; ++k) {
        T * y = y_.data() + (size_t)k * Nmax_ * OC_;
        bank_->forward_dense(k, y, inp, N);
        for (int b = 0; b < B; ++b) {
            const T g = w_[(size_t)b * K_ + k];
            for (int t = 0; t < Tn_; ++t) {
                const int64_t row = (int64_t)b * Tn_ + t;
                T * o = out + row * OC_;
                const T * yr = y + row * OC_;
                for (int c = 0; c < OC_; ++c) o[c] += g * yr[c];
            }
        }
    }
    // descriptors: per-sample reconstruction losses; FIFO updates (training) or z (detection)
    if (need_rd) {
        for (int k = 0; k < K_; ++k) {
            const Slot & sl = slot_[k];
            T * l = rd_loss_.data() + (size_t)k * Bmax_;
            rd_forward(l, rd_z_.data() + (size_t)k * Bmax_ * D_, rd_r_.data() + (size_t)k * Bmax_ * C_, u_.data(),
                       sl.ew, sl.eb, sl.cw, sl.cb, B, C_, D_);
            if (train && updating_[k] && hold_) {
                MOE_CHECK(held_n_[k] + B <= Bmax_, ErrorCode::internal,
                          "SemaSite " + site_ + ": more held records than a planned batch");
                for (int b = 0; b < B; ++b) held_[(size_t)k * Bmax_ + held_n_[k]++] = double(l[b]);
            } else if (train && updating_[k]) {
                for (int b = 0; b < B; ++b) rec_[k].push(double(l[b]));
            }
            if (!train && detect_)
                for (int b = 0; b < B; ++b) z_[(size_t)k * B + b] = rec_[k].z(double(l[b]));
        }
    }
}

template <typename T>
void SemaSite<T>::backward(T * dinp, const T * dout, const T * inp, int N) {
    MOE_ASSERT(N == N_);
    if (K_ == 0) return;
    const int B = B_;
    const bool mix = expandable_ && K_ > 1;
    bool any_rc = false;
    for (int k = 0; k < K_; ++k) any_rc |= train_rc_[k] && slot_[k].g_rw;
    const bool router_grad = mix && (any_rc || dinp);
    for (int k = 0; k < K_; ++k) {
        const bool tr = train_ad_[k];
        // dL/dw[b,k] = Σ_t <dout[b,t], y_k[b,t]>
        const T * y = y_.data() + (size_t)k * Nmax_ * OC_;
        if (router_grad)
            for (int b = 0; b < B; ++b) {
                double s = 0;
                for (int t = 0; t < Tn_; ++t) {
                    const int64_t row = (int64_t)b * Tn_ + t;
                    for (int c = 0; c < OC_; ++c) s += double(dout[row * OC_ + c]) * double(y[row * OC_ + c]);
                }
                dw_[(size_t)b * K_ + k] = T(s);
            }
        if (!tr && !dinp) continue;
        // dy_k = w[b,k] * dout
        for (int b = 0; b < B; ++b) {
            const T g = w_[(size_t)b * K_ + k];
            for (int t = 0; t < Tn_; ++t) {
                const int64_t row = (int64_t)b * Tn_ + t;
                for (int c = 0; c < OC_; ++c) dy_[row * OC_ + c] = g * dout[row * OC_ + c];
            }
        }
        bank_->backward_dense(k, dinp, dy_.data(), inp, N, tr);
    }
    if (!router_grad) return;
    // softmax backward -> dlogits (B,K)
    std::fill(dlog_.begin(), dlog_.begin() + (size_t)B * K_, T(0));
    nn::softmax_backward(dlog_.data(), w_.data(), dw_.data(), B, K_);
    for (int k = 0; k < K_; ++k) {
        const Slot & sl = slot_[k];
        if (!train_rc_[k] || !sl.g_rw) continue;
        for (int b = 0; b < B; ++b) {
            const T d = dlog_[(size_t)b * K_ + k];
            const T * ub = u_.data() + (int64_t)b * C_;
            for (int c = 0; c < C_; ++c) sl.g_rw[c] += d * ub[c];
            sl.g_rb[0] += d;
        }
    }
    if (!dinp) return;
    // du (B,C) = Σ_k dlogits[b,k] W_k ; pooling backward spreads du / T over the sample's rows
    const T inv = T(1) / T(Tn_);
    for (int b = 0; b < B; ++b) {
        T * du = du_.data() + (int64_t)b * C_;
        std::fill(du, du + C_, T(0));
        for (int k = 0; k < K_; ++k) {
            const T d = dlog_[(size_t)b * K_ + k];
            const T * wk = slot_[k].rw;
            for (int c = 0; c < C_; ++c) du[c] += d * wk[c];
        }
        for (int t = 0; t < Tn_; ++t) {
            T * di = dinp + ((int64_t)b * Tn_ + t) * C_;
            for (int c = 0; c < C_; ++c) di[c] += du[c] * inv;
        }
    }
}

template <typename T>
double SemaSite<T>::rd_loss_backward(const std::vector<bool> & train_rd) {
    if (!rd_) return 0.0;
    const int B = B_;
    double total = 0;
    for (int k = 0; k < K_ && k < (int)train_rd.size(); ++k) {
        if (!train_rd[k]) continue;
        const Slot & sl = slot_[k];
        const T * l = rd_loss_.data() + (size_t)k * Bmax_;
        double s = 0;
        for (int b = 0; b < B; ++b) s += double(l[b]);
        total += B ? s / B : 0.0;
        std::fill(rd_dloss_.begin(), rd_dloss_.begin() + B, T(objective_scale_) / T(std::max(1, B)));
        rd_backward<T>(nullptr, sl.g_ew, sl.g_eb, sl.g_cw, sl.g_cb, rd_scratch_.data(), rd_dloss_.data(), u_.data(),
                       rd_z_.data() + (size_t)k * Bmax_ * D_, rd_r_.data() + (size_t)k * Bmax_ * C_, sl.ew, sl.cw, B,
                       C_, D_);
    }
    return total * objective_scale_;
}

template class SemaSite<float>;
template class SemaSite<double>;

} // namespace moe::sites
