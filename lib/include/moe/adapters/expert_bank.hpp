// moe/adapters/expert_bank.hpp — a bank of E adapter experts of one kind at one site, behind one
// interface shared by the MoE site (experts on their routed rows) and SEMA's site (one expert on
// every row of a batch). The kernels are in adapters.hpp; a bank owns its parameters' views, its
// planned buffers and the choice between kernel paths.
//
// Lifecycle: declare -> (store.allocate) -> bind -> plan_routed / plan_dense -> forward / backward.
// Contract (as every module): backward ADDS into parameter gradients, dx and dgate; null
// pointers skip a gradient; frozen tensors have no gradient buffer. Nothing allocates after plan.
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "moe/adapters/config.hpp"
#include "moe/core/parallel.hpp"
#include "moe/core/params.hpp"
#include "moe/nn/modules.hpp"

namespace moe::adapters {

// Where a bank's tensors live. stacked: one tensor per kind of weight for all experts,
// "<prefix><weight>" of shape (E, ...) (a MoE site: "<site>.experts.lora_a" (E,R,C)); per expert:
// "<prefix><e><suffix><weight>" of shape (...) each, expert by expert (SEMA's adapter slots:
// "<site>.sema.adapter3.down_w" (R,C)).
struct BankLayout {
    bool stacked = true;
    std::string prefix;       // "<site>.experts." | "<site>.sema.adapter"
    std::string suffix = "."; // per expert: after the expert's index
    std::string name(int e, const std::string & weight) const {
        return stacked ? prefix + weight : prefix + std::to_string(e) + suffix + weight;
    }
};

// One forward's routing, grouped by expert (dispatch_plan): the experts' routed (token, slot)
// pairs perm[offsets[e] .. offsets[e+1]), flat positions token * K + slot into idx and gate.
template <typename T>
struct Dispatch {
    const int32_t * idx = nullptr;     // (N,K) expert of each slot, -1 = none
    const T * gate = nullptr;          // (N,K)
    const int32_t * perm = nullptr;    // (routed) grouped by expert, token order within an expert
    const int32_t * offsets = nullptr; // (E+1)
    int N = 0, K = 1, routed = 0;
};

template <typename T>
class ExpertBank {
  public:
    virtual ~ExpertBank() = default;
    // Declares the tensors of E experts mapping C -> OC (tr decides trainability by name).
    virtual void declare(ParamStore<T> & s, const BankLayout & at, int E, int C, int OC, const AdapterConfig & cfg,
                         const nn::TrainablePred & tr) = 0;
    virtual void bind(ParamStore<T> & s) = 0;
    // Names of expert e's tensors (for parameter counts and phase optimizers).
    virtual std::vector<std::string> param_names(int e) const = 0;

    // ---- routed: each expert on its routed rows (the MoE site) -----------------------------------
    // Buffers for up to N rows with K slots each.
    virtual void plan_routed(int N, int K) = 0;
    // out (N,OC) += Σ over routed (n,j): gate[n,j] * Δ_{idx[n,j]}(x[n])     x (N,C)
    virtual void forward_routed(T * out, const T * x, const Dispatch<T> & d) = 0;
    // dx (N,C) += ; dgate (N,K) += ; expert gradients += ; dout (N,OC). Reads what the last
    // forward_routed cached, with the same x and d.
    virtual void backward_routed(T * dx, T * dgate, const T * dout, const T * x, const Dispatch<T> & d) = 0;

    // ---- dense: one expert on every row (SEMA's slots) ---------------------------------------------
    virtual void plan_dense(int N) = 0;
    // y (N,OC) = Δ_e(x) (overwritten); caches what backward_dense(e) reads
    virtual void forward_dense(int e, T * y, const T * x, int N) = 0;
    // dx (N,C) += (null: skipped); expert e's gradients += when param_grads; dy (N,OC)
    virtual void backward_dense(int e, T * dx, const T * dy, const T * x, int N, bool param_grads) = 0;

    int experts() const { return E_; }
    int rank() const { return R_; }

  protected:
    int E_ = 0, C_ = 0, OC_ = 0, R_ = 1;
};

// body(e) for every expert with routed rows. The experts are split into par::threads()
// contiguous groups of about equal routed rows and the groups run in parallel: an expert touches
// only its own rows of the dispatch buffers and its own parameter gradients, and its GEMMs run
// single-threaded inside the task, so no result depends on the grouping. work: multiply-adds of
// the whole call (below 2^15 it runs on the calling thread).
template <typename F>
void for_each_expert(const int32_t * offsets, int E, int64_t work, F && body) {
    const int T = par::threads();
    if (T <= 1 || work < (1 << 15) || par::in_task()) {
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

} // namespace moe::adapters
