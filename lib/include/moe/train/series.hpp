// moe/train/series.hpp — the metric series of a run in memory (written to /metrics and /routing of
// the run file, and carried by checkpoints so that a resumed run writes the same file).
#pragma once
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace moe::train {

// Metric series in memory, in first-use order: 1-D series of doubles, 2-D series of float rows.
class SeriesLog {
  public:
    void append(const std::string & name, double value);
    void append_row(const std::string & name, std::span<const float> row); // width fixed by the first row
    const std::vector<std::string> & names() const { return names_; }
    const std::vector<double> & values(const std::string & name) const; // 1-D series
    const std::vector<float> & rows(const std::string & name) const;    // 2-D series, row-major
    int64_t width(const std::string & name) const;                      // 0 for a 1-D series
    bool operator==(const SeriesLog &) const = default;

  private:
    std::vector<std::string> names_;
    std::map<std::string, std::vector<double>> s1_;
    std::map<std::string, std::pair<int64_t, std::vector<float>>> s2_;
};

} // namespace moe::train
