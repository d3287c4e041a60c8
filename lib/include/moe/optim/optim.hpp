// moe/optim/optim.hpp — SGD (momentum, Nesterov, weight decay) and AdamW over the flat
// trainable block of a ParamStore, parameter groups by name pattern, learning-rate schedules
// and global gradient-norm clipping. Semantics follow torch.optim.SGD / torch.optim.AdamW.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "moe/core/huge_alloc.hpp"

#include "moe/core/params.hpp"

namespace moe::optim {

struct OptimConfig {
    std::string kind = "adamw"; // adamw | sgd
    double lr = 1e-3;
    double momentum = 0.9;
    bool nesterov = false;
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    double weight_decay = 0.0;
};

// A group: parameters whose name matches `pattern` (first matching group wins).
struct GroupConfig {
    std::string pattern;
    double lr = 0.0; // absolute peak lr (0 = base lr * lr_scale)
    double lr_scale = 1.0;
    double weight_decay = -1; // -1 = the optimizer's
};

struct ScheduleConfig {
    std::string kind = "cosine"; // constant | cosine | step
    int64_t warmup_steps = 0;
    double min_lr_ratio = 0.0; // cosine floor as a fraction of the peak
    int64_t step_size = 1000;
    double gamma = 0.1;
};

// Multiplier of the peak learning rate at optimizer step `step` (0-based) of `total`.
double schedule_factor(const ScheduleConfig & s, int64_t step, int64_t total);

// Global L2 norm of the gradients; if max_norm > 0 and the norm exceeds it, scale them down.
// Returns the norm before clipping (computed in double).
template <typename T>
double clip_grad_norm(std::span<T> grads, double max_norm);

template <typename T>
class Optimizer {
  public:
    // Resolves the groups once, into contiguous ranges of the trainable block.
    Optimizer(const OptimConfig & cfg, ParamStore<T> & store, const std::vector<GroupConfig> & groups);
    // One update with lr = group peak * lr_factor. Gradients must be fully accumulated.
    // zero_grads: also set every trainable gradient to 0 (what ParamStore::zero_grad does), in
    // the same pass for AdamW, which saves a pass over the gradient block.
    void step(double lr_factor, bool zero_grads = false);
    int64_t steps() const { return t_; }
    void set_steps(int64_t t) { t_ = t; }
    HugeVector<T> & state_m() { return m_; } // adamw m / sgd momentum buffer
    HugeVector<T> & state_v() { return v_; } // adamw v
    double base_lr() const { return cfg_.lr; }
    struct Range {
        size_t begin, end;
        double lr, weight_decay;
    };
    const std::vector<Range> & ranges() const { return ranges_; }

  private:
    OptimConfig cfg_;
    ParamStore<T> * store_;
    std::vector<Range> ranges_;
    bool covers_all_ = false; // the ranges tile the whole trainable block
    HugeVector<T> m_, v_;     // on huge pages, as the parameters
    int64_t t_ = 0;
};

extern template class Optimizer<float>;
extern template class Optimizer<double>;

} // namespace moe::optim
