// moe/routing/telemetry.hpp — what a site records about its routing, summed over forwards: the
// same struct counts one optimizer step in a site, the open log window in the trainer (and its
// checkpoint), and a whole evaluation in moe-eval. summarize() turns it into what a record shows.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "moe/routing/loss.hpp"

namespace moe::routing {

struct RoutingStats {
    std::vector<int64_t> load; // (E) (token, expert) assignments
    int64_t tokens = 0, dropped = 0, forwards = 0;
    double entropy_sum = 0;               // Σ_tokens H(p) (natural log, over the router's distribution)
    double active_sum = 0;                // Σ_tokens experts used (adapter work, in expert-rows)
    std::array<double, kLossKinds> aux{}; // Σ over forwards of each loss's un-scaled value
    // (token, expert) assignments by task (n_tasks, E) and by label (n_classes, E): moe-eval's
    // specialisation analysis; sized by the site's set_analysis(), empty otherwise
    std::vector<int64_t> task_load, class_load;

    // Sizes the counts (zeroed).
    void init(int E, int n_tasks = 0, int n_classes = 0);
    // Adds o's counts and sums (load, tokens, dropped, forwards, entropy, active, aux).
    void add(const RoutingStats & o);
    // Zeroes every count and sum, keeping the sizes.
    void clear();
    // The checkpoint form: tokens, dropped, forwards, entropy_sum, active_sum, aux[...] (5 + kLossKinds).
    std::vector<double> sums() const;
    void set_sums(const std::vector<double> & v);
    static constexpr int kSums = 5 + kLossKinds;
    bool operator==(const RoutingStats &) const = default;
};

// A record of routing statistics: shares and per-token means.
struct RoutingRecord {
    std::vector<double> load;             // (E) share of the assignments per expert
    double entropy = 0;                   // mean router entropy per token (nats)
    double active = 0;                    // experts per token
    double dropped = 0;                   // share of tokens without an expert
    double flops_ratio = 0;               // adapter work relative to running every expert densely
    std::array<double, kLossKinds> aux{}; // each loss's mean value per forward
};
RoutingRecord summarize(const RoutingStats & s, int E);

} // namespace moe::routing
