// moe/train/export.hpp — `moe-eval export-metrics`: a run's series as CSV files, for pandas
// (pd.read_csv), a spreadsheet or any tool without HDF5.
#pragma once
#include <string>
#include <vector>

namespace moe::train {

// Writes one CSV file per group of series of the run under dir, one column per series, one row
// per record:
//   dir/metrics/train.csv          step, epoch, loss, ... (moe-train)
//   dir/metrics/eval/<split>.csv   step, epoch, loss, accuracy, tasks/<task>/loss, ...
//   dir/routing/<site>.csv         step, load_0 .. load_{E-1}, entropy, active, ...
//   dir/stream/accuracy_matrix.csv after_task, then one column per task (moe-expand)
// dir is created when missing (its parent must exist). Every file is built before the first is
// written, each is written atomically, and a failure (a full disk) removes the files and
// directories this call made. Returns the paths written, in that order.
// ErrorCode::io: a bad run file, series of one group with different lengths, nothing to export,
// a directory that cannot be made.
std::vector<std::string> export_metrics_csv(const std::string & run_path, const std::string & dir);

} // namespace moe::train
