// moe/routing/router.hpp — one router = one class behind this interface (one file each under
// lib/src/routing/routers/, one line in the table of lib/src/routing/registry.cpp).
//
// A router splits SELECTION from GATING. From the scores p (N,P) of a site's router Linear it
// writes, for each token n and slot j < K, an expert idx[n,j] (-1: none) and a gate; the
// selection has no gradient, the gate is differentiable given it (gate_backward), so every router
// is gradient-checked with the selection held fixed. The site around it (sites/moe_site.hpp)
// owns the router Linear (<site>.router.weight (P,C), no bias, N(0, init_std^2)), the input
// jitter, disabled experts, the scores (softmax, or σ when traits().sigmoid), the experts and
// the losses. Dimension letters as in routing.hpp: N tokens, E experts, P router outputs, K slots.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "moe/core/params.hpp"
#include "moe/routing/config.hpp"

namespace moe::routing {

// What a router is, for the spec checks, moe-eval's overrides, the docs and the tests.
struct RouterTraits {
    bool weights = true;              // has the router Linear (false: no router, every token to expert 0)
    bool frozen = false;              // its weights never train (SMoE-Dropout's fixed random router)
    bool sigmoid = false;             // scores σ(z) (DeepSeek-V3), else p = softmax(z)
    bool fixed_k = false;             // takes routing.k experts per token; moe-eval --k applies
    bool dense_slots = false;         // a variable number of experts per token, planned as E slots
    bool drops = false;               // may leave a token without an expert (capacity): "dropped" telemetry
    bool chooses = true;              // chooses among experts per token: --uniform, --oracle, --disable and
                                      // the load-balancing losses apply
    bool per_task = false;            // routes each sample by its task id (Poly / MHR): a site kind of its own
    const char * renormalizes = "no"; // "yes" | "no" | the key that decides
};

// The forward a router routes.
struct RouteContext {
    int N = 0;        // rows (tokens)
    int E = 1, P = 1; // experts, router outputs
    int64_t step = 0; // optimizer steps done (schedules)
    bool train = false;
    int eval_k = 0; // > 0: another k at inference (moe-eval --k; routers with a fixed k)
};

template <typename T>
class Router {
  public:
    virtual ~Router() = default;
    // Router tensors besides <site>.router.weight, declared right after it.
    virtual void declare(ParamStore<T> & s, const std::string & site, int E) {}
    virtual void bind(ParamStore<T> & s) {}
    // P: outputs of the router Linear (E, or E + M with null experts).
    virtual int columns(int E) const { return E; }
    // false: this configuration routes without weights (every token to expert 0 with gate 1).
    virtual bool has_weights(int E) const { return true; }
    // Slots per token to plan buffers for (before inference overrides).
    virtual int slots(int E, int P) const = 0;
    // Router buffers for up to N rows; called after slots() is known.
    virtual void plan(int N, int E) {}
    // Selection and gates of one forward from the scores p (N,P): writes idx (N,K) and gate (N,K)
    // for the K slots it returns; counts (P) += the (token, slot) assignments its losses count
    // (null experts included, before their slots are cleared).
    virtual int route(int32_t * idx, T * gate, int64_t * counts, const T * p, const RouteContext & c) = 0;
    // dp (N,P) += ∂/∂p of Σ_{n,j} dgate[n,j]·gate[n,j], the selection held fixed.
    virtual void gate_backward(T * dp, const T * dgate, const T * gate, const T * p, const int32_t * idx, int N, int P,
                               int K) const;
    // After every optimizer step: load (E) = the step's (token, expert) assignments.
    virtual void after_step(const int64_t * load, int E) {}
    // DynMoLE: the masked, un-renormalised weights w = p ⊙ m (N,E) of the last forward.
    virtual const T * dense_weights() const { return nullptr; }

  protected:
    bool renorm_ = false; // gate = p / Σ selected p
    T scale_ = T(1);      // every gate multiplied (DeepSeek route_scale)
};

// counts[idx[i]] += 1 for every slot i < n with idx >= 0.
void count_slots(int64_t * counts, const int32_t * idx, int64_t n);
// Every token to expert 0 with gate 1 (no router); returns K = 1.
template <typename T>
int route_to_first(int32_t * idx, T * gate, int N);

} // namespace moe::routing
