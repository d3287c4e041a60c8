// optim: SGD, AdamW, schedules, clipping (see moe/optim/optim.hpp).
#include "moe/optim/optim.hpp"

#include <algorithm>
#include <cmath>

#include "adamw_kernel.hpp"
#include "moe/core/error.hpp"
#include "moe/core/glob.hpp"
#include "moe/core/parallel.hpp"

namespace moe::optim {

double schedule_factor(const ScheduleConfig & s, int64_t step, int64_t total) {
    if (s.warmup_steps > 0 && step < s.warmup_steps) return double(step + 1) / double(s.warmup_steps);
    const int64_t after = step - s.warmup_steps;
    if (s.kind == "constant") return 1.0;
    if (s.kind == "step") return std::pow(s.gamma, double(after / std::max<int64_t>(1, s.step_size)));
    // cosine from 1 down to min_lr_ratio over the steps after warmup
    const int64_t span = std::max<int64_t>(1, total - s.warmup_steps);
    const double p = std::min(1.0, double(after) / double(span));
    return s.min_lr_ratio + (1.0 - s.min_lr_ratio) * 0.5 * (1.0 + std::cos(M_PI * p));
}

// Sum of squares in double over 64 chunks whose bounds depend only on the length, each summed in
// 8 interleaved lanes (a fixed order gcc can vectorise), the chunks split over the threads and
// their sums added in chunk order: the same bits at any thread count, no allocation.
template <typename T>
static double sum_squares(const T * g, int64_t n) {
    constexpr int kChunks = 64, L = 8;
    double part[kChunks] = {};
    const int64_t per = (n + kChunks - 1) / kChunks;
    par::parallel_for(kChunks, n >= (1 << 16) ? 2 : kChunks + 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
            const int64_t b = std::min(n, c * per), e = std::min(n, b + per);
            double acc[L] = {}, tail = 0;
            int64_t i = b;
            for (; i + L <= e; i += L)
                for (int j = 0; j < L; ++j) acc[j] += double(g[i + j]) * double(g[i + j]);
            for (; i < e; ++i) tail += double(g[i]) * double(g[i]);
            for (int w = L / 2; w > 0; w /= 2)
                for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
            part[c] = acc[0] + tail;
        }
    });
    double ss = 0;
    for (double x : part) ss += x;
    return ss;
}

template <typename T>
double clip_grad_norm(std::span<T> g, double max_norm) {
    const double norm = std::sqrt(sum_squares(g.data(), (int64_t)g.size()));
    if (max_norm > 0 && norm > max_norm && std::isfinite(norm)) {
        const T s = static_cast<T>(max_norm / (norm + 1e-6));
        T * x = g.data();
        par::parallel_for((int64_t)g.size(), 1 << 14,
                          [&](int64_t i0, int64_t i1) {
                              for (int64_t i = i0; i < i1; ++i) x[i] *= s;
                          },
                          16);
    }
    return norm;
}

template <typename T>
Optimizer<T>::Optimizer(const OptimConfig & cfg, ParamStore<T> & store, const std::vector<GroupConfig> & groups)
    : cfg_(cfg), store_(&store) {
    MOE_CHECK(cfg.kind == "adamw" || cfg.kind == "sgd", ErrorCode::spec, "unknown optimizer '" + cfg.kind + "'");
    for (int id = 0; id < store.size(); ++id) {
        const auto & pi = store.info(id);
        if (!pi.trainable) continue;
        double lr = cfg.lr, wd = cfg.weight_decay;
        for (const auto & g : groups) {
            if (!glob_match(g.pattern, pi.name)) continue;
            lr = g.lr > 0 ? g.lr : cfg.lr * g.lr_scale;
            if (g.weight_decay >= 0) wd = g.weight_decay;
            break;
        }
        // ranges cover the padded extent so the whole block is updated by one flat loop
        const size_t begin = pi.offset, end = pi.offset + pi.size;
        if (!ranges_.empty() && ranges_.back().lr == lr && ranges_.back().weight_decay == wd)
            ranges_.back().end = end;
        else
            ranges_.push_back({begin, end, lr, wd});
    }
    m_.assign(store.n_trainable(), T(0));
    if (cfg.kind == "adamw") v_.assign(store.n_trainable(), T(0));
    // do the ranges tile the whole gradient block? (then step(.., true) clears every gradient)
    size_t at = 0;
    covers_all_ = true;
    for (const auto & r : ranges_) {
        covers_all_ = covers_all_ && r.begin == at;
        at = r.end;
    }
    covers_all_ = covers_all_ && at == store.n_trainable();
}

template <typename T>
void Optimizer<T>::step(double lr_factor, bool zero_grads) {
    ++t_;
    T * p = store_->trainable_values().data();
    T * g = store_->trainable_grads().data();
    if (cfg_.kind == "adamw") {
        const double b1 = cfg_.beta1, b2 = cfg_.beta2;
        const double bc1 = 1.0 - std::pow(b1, double(t_)), bc2 = 1.0 - std::pow(b2, double(t_));
        for (const auto & r : ranges_) {
            if (r.lr == 0) { // a group with learning rate 0 is frozen: no update, no state
                if (zero_grads) std::fill(g + r.begin, g + r.end, T(0));
                continue;
            }
            const T lr = static_cast<T>(r.lr * lr_factor);
            const T decay = static_cast<T>(1.0 - r.lr * lr_factor * r.weight_decay);
            const T step_size = static_cast<T>(lr / bc1);
            const T inv_sqrt_bc2 = static_cast<T>(1.0 / std::sqrt(bc2));
            const T eps = static_cast<T>(cfg_.eps), tb1 = T(b1), tb2 = T(b2);
            // one flat pass, split over the threads (elementwise: no result depends on it)
            par::parallel_for(
                int64_t(r.end - r.begin), 1 << 14,
                [&](int64_t i0, int64_t i1) {
                    adamw_update(p + r.begin + i0, m_.data() + r.begin + i0, v_.data() + r.begin + i0, g + r.begin + i0,
                                 i1 - i0, tb1, tb2, decay, step_size, inv_sqrt_bc2, eps, zero_grads);
                },
                16);
        }
    } else {
        const T mom = static_cast<T>(cfg_.momentum);
        for (const auto & r : ranges_) {
            if (r.lr == 0) continue; // a group with learning rate 0 is frozen: no update, no state
            const T lr = static_cast<T>(r.lr * lr_factor), wd = static_cast<T>(r.weight_decay);
            for (size_t i = r.begin; i < r.end; ++i) {
                T gi = g[i] + wd * p[i];
                if (cfg_.momentum > 0) {
                    m_[i] = t_ == 1 ? gi : mom * m_[i] + gi;
                    gi = cfg_.nesterov ? gi + mom * m_[i] : m_[i];
                }
                p[i] -= lr * gi;
            }
        }
        if (zero_grads) store_->zero_grad();
    }
    if (zero_grads && !covers_all_) store_->zero_grad(); // gradients outside the ranges (none today)
}

template class Optimizer<float>;
template class Optimizer<double>;
template double clip_grad_norm<float>(std::span<float>, double);
template double clip_grad_norm<double>(std::span<double>, double);

} // namespace moe::optim
