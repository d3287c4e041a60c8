// moe/routing/loss.hpp — balancing and router losses as parts: one class per loss (one file each
// under lib/src/routing/losses/), one line in the table of lib/src/routing/loss_registry.cpp.
//
// A site holds one SiteLoss per active loss. After the site's forward, forward() returns the
// loss's un-scaled value on that site (its telemetry records it; the site's aux_loss() adds
// coef * value). A POOLED loss is computed once over the rows of every adapted site, as HF
// Mixtral / Switch and MoE-PEFT concatenate every layer's router outputs: forward() only gathers
// the site's statistics, and the network calls the entry's pool() over the parts of all sites,
// which returns the value and leaves in each part what its backward needs. backward_probs adds
// coef * scale * ∂L/∂p into the scores' gradient; backward_logits (the z-loss) adds into the
// logits' gradient after the scores' backward. Gradients flow through p only: counts and
// selections are held fixed.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "moe/routing/config.hpp"

namespace moe::routing {

// The losses, in the order of their telemetry series (routing/<site>/<name>) and checkpoint sums.
inline constexpr int kLossKinds = 4;
inline constexpr std::array<const char *, kLossKinds> kLossNames = {"lbl", "z_loss", "dynmole_loss", "null_loss"};
enum LossKind : int { kLbl = 0, kZLoss = 1, kDynmoleLoss = 2, kNullLoss = 3 };

// What a site's router produced in its last forward.
template <typename T>
struct RouterOutputs {
    const T * logits = nullptr;       // (N,P)
    const T * probs = nullptr;        // (N,P) scores (softmax or sigmoid)
    T * lse = nullptr;                // (N) each row's logsumexp, written by the z-loss (entropy reuses it)
    const int32_t * idx = nullptr;    // (N,K) selection (-1: none)
    const int64_t * counts = nullptr; // (P) (token, slot) assignments, null experts included
    const T * w_dense = nullptr;      // (N,E) DynMoLE's masked weights, or null
    int N = 0, P = 1, E = 1, K = 1;
    bool train = false;
};

template <typename T>
class SiteLoss {
  public:
    virtual ~SiteLoss() = default;
    virtual void plan(int N, int E, int P) {}
    // Site-local: the un-scaled value of the last forward. Pooled: gathers this site's statistics
    // for the entry's pool() and returns 0.
    virtual double forward(const RouterOutputs<T> & r) = 0;
    virtual void backward_probs(T * dprobs, const RouterOutputs<T> & r, T scale) {}
    virtual void backward_logits(T * dlogits, const RouterOutputs<T> & r, T scale) {}
    // After every optimizer step (running statistics of a global-batch scope restart).
    virtual void after_step() {}
    int kind = 0;    // LossKind
    double coef = 0; // weight in the total loss (losses whose coefficients are inside: 1)
    bool pooled = false;
};

// Running statistics of a pooled loss over the micro-batches of one optimizer step.
struct PoolState {
    std::vector<int64_t> counts;    // running counts of the step (global scope)
    int64_t rows = 0;               // and the rows they cover
    std::vector<int64_t> scratch_i; // per call, kept so that a step allocates nothing
    std::vector<double> scratch_a, scratch_b, scratch_c;
    void reset() {
        std::fill(counts.begin(), counts.end(), 0);
        rows = 0;
    }
};

struct LossEntry {
    const char * name; // telemetry name (kLossNames[kind])
    int kind;
    const char * doc;
    std::vector<std::string> keys; // the loss.* keys it reads
    bool poolable;                 // pooled over sites (loss.lbl_pool)
    // The parts a site gets for this loss (null: not active for this configuration).
    std::unique_ptr<SiteLoss<float>> (*make_float)(const BalanceConfig &, const RouterConfig &, bool pooled);
    std::unique_ptr<SiteLoss<double>> (*make_double)(const BalanceConfig &, const RouterConfig &, bool pooled);
    // Pooled value over the parts of every site (same kind, same E); leaves each part's backward
    // coefficients. Null when not poolable.
    double (*pool_float)(std::span<SiteLoss<float> * const> parts, bool train, PoolState & st);
    double (*pool_double)(std::span<SiteLoss<double> * const> parts, bool train, PoolState & st);
};

const std::vector<LossEntry> & losses();
const LossEntry & loss_entry(int kind);
const LossEntry * find_loss(const std::string & name);

// Whether the losses of kind `kind` are pooled over sites under bc.lbl_pool (auto: as the loss's
// reference computes it).
bool loss_pooled(int kind, const BalanceConfig & bc);
// The parts of every active loss of a site, in kind order: the load-balancing loss (loss.lbl),
// the z-loss (z_coef > 0, or whenever an LBL is on: its logsumexps feed the entropy telemetry),
// and the losses the router brings (its registry entry).
template <typename T>
std::vector<std::unique_ptr<SiteLoss<T>>> make_site_losses(const BalanceConfig & bc, const RouterConfig & rc);
template <typename T>
double pool_losses(int kind, std::span<SiteLoss<T> * const> parts, bool train, PoolState & st);

} // namespace moe::routing
