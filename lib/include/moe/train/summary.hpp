// moe/train/summary.hpp — `moe-eval summarize`: one row per run with the spec values that differ
// between the runs and the final metrics; grouped means and standard deviations (over seeds,
// or whatever else is not in the grouping keys) when grouping keys are given.
#pragma once
#include <string>
#include <vector>

namespace moe::train {

struct Table {
    std::vector<std::string> columns;
    std::vector<std::vector<std::string>> rows;
    std::string markdown() const;
    std::string csv() const;
};

struct SummaryResult {
    Table runs;   // one row per run
    Table groups; // one row per group (empty without grouping keys)
};

// by: dotted spec keys ("routing.router", "loss.lbl_coef"). Every run must be a moe-lab run file.
SummaryResult summarize_runs(const std::vector<std::string> & runs, const std::vector<std::string> & by);

} // namespace moe::train
