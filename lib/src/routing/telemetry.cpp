// routing: routing telemetry (see moe/routing/telemetry.hpp).
#include "moe/routing/telemetry.hpp"

#include <algorithm>

#include "moe/core/error.hpp"

namespace moe::routing {

void RoutingStats::init(int E, int n_tasks, int n_classes) {
    load.assign(E, 0);
    task_load.assign((size_t)n_tasks * E, 0);
    class_load.assign((size_t)n_classes * E, 0);
    clear();
}

void RoutingStats::add(const RoutingStats & o) {
    for (size_t e = 0; e < load.size() && e < o.load.size(); ++e) load[e] += o.load[e];
    tokens += o.tokens;
    dropped += o.dropped;
    forwards += o.forwards;
    entropy_sum += o.entropy_sum;
    active_sum += o.active_sum;
    for (int k = 0; k < kLossKinds; ++k) aux[k] += o.aux[k];
}

void RoutingStats::clear() {
    std::fill(load.begin(), load.end(), 0);
    std::fill(task_load.begin(), task_load.end(), 0);
    std::fill(class_load.begin(), class_load.end(), 0);
    tokens = dropped = forwards = 0;
    entropy_sum = active_sum = 0;
    aux.fill(0.0);
}

std::vector<double> RoutingStats::sums() const {
    std::vector<double> v = {double(tokens), double(dropped), double(forwards), entropy_sum, active_sum};
    for (double a : aux) v.push_back(a);
    return v;
}

void RoutingStats::set_sums(const std::vector<double> & v) {
    MOE_ASSERT((int)v.size() == kSums);
    tokens = (int64_t)v[0];
    dropped = (int64_t)v[1];
    forwards = (int64_t)v[2];
    entropy_sum = v[3];
    active_sum = v[4];
    for (int k = 0; k < kLossKinds; ++k) aux[k] = v[5 + k];
}

RoutingRecord summarize(const RoutingStats & s, int E) {
    RoutingRecord r;
    int64_t total = 0;
    for (auto c : s.load) total += c;
    for (auto c : s.load) r.load.push_back(total ? double(c) / double(total) : 0.0);
    if (s.tokens > 0) {
        r.entropy = s.entropy_sum / s.tokens;
        r.active = s.active_sum / s.tokens;
        r.dropped = double(s.dropped) / s.tokens;
        r.flops_ratio = s.active_sum / (double(s.tokens) * E);
    }
    const double fw = std::max<int64_t>(1, s.forwards);
    for (int k = 0; k < kLossKinds; ++k) r.aux[k] = s.aux[k] / fw;
    return r;
}

} // namespace moe::routing
