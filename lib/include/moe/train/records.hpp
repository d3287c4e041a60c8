// moe/train/records.hpp — what a log record or an evaluation adds to a run's series.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "moe/core/params.hpp"
#include "moe/routing/telemetry.hpp"
#include "moe/train/network.hpp"
#include "moe/train/observer.hpp"
#include "moe/train/series.hpp"

namespace moe::train {

// metrics/eval/<split>/{step, epoch, loss, accuracy, tasks/<task>/{loss, accuracy}}; for text also
// {bpb, bpb_mean, ppl, nats, bytes, tokens} and tasks/<task>/{bpb, ppl, nats, bytes, tokens}
void write_eval(SeriesLog & log, const EvalInfo & ev);
// The run's final/<split>/... metrics of its last evaluation (accuracy, loss; text: bpb,
// bpb_mean, ppl and <domain>/bpb).
void final_metrics(std::map<std::string, double> & m, const EvalInfo & ev);
// One routing record per adapted site whose window saw tokens: /routing/<site>/{step, load (n_log,E),
// entropy, active, dropped, flops_ratio, and each loss (routing/loss.hpp) per forward}; then every
// window restarts. windows[i] is site i's.
void write_routing(SeriesLog & log, const Network & net, const std::vector<routing::RoutingStats *> & windows,
                   int64_t step);
// "; first non-finite gradient: layers.0.experts.lora_b[17] (adapter site layers.0)", or the
// first non-finite parameter value, or "" when every gradient and value is finite.
std::string first_non_finite(ParamStore<float> & store);
// The series written as HDF5 64-bit integers (the rest are float64, or float32 rows): the step
// counts metrics/train/step, metrics/eval/<split>/step and routing/<site>/step, and the whole
// epochs of metrics/eval/<split>/epoch (metrics/train/epoch is fractional). Decided by the name,
// so a checkpoint written before these were integers resumes into the same file.
bool is_integer_series(const std::string & name);

} // namespace moe::train
