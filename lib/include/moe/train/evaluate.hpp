// moe/train/evaluate.hpp — loss and accuracy of a network on a data set, overall and per task.
#pragma once
#include <string>
#include <vector>

#include "moe/data/dataset.hpp"
#include "moe/train/network.hpp"
#include "moe/train/observer.hpp"

namespace moe::train {

// The network in evaluation mode, at its current step (net.step(): schedules such as
// random_fixed's growing k route as training last did), in batches of `batch` samples (the
// network must be planned for them) in a fixed shuffled order, so capacity-based routers see
// batches that mix the tasks as training does. Site telemetry is collected only when
// collect_stats (moe-eval); the trainer keeps it for the training windows.
EvalInfo evaluate_dataset(Network & net, const data::Dataset & ds, const std::vector<std::string> & task_names,
                          int batch, const std::string & split, bool collect_stats);

} // namespace moe::train
