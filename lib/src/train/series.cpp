// train: metric series in memory (see moe/train/series.hpp).
#include "moe/train/series.hpp"

#include "moe/core/error.hpp"

namespace moe::train {

void SeriesLog::append(const std::string & name, double value) {
    auto it = s1_.find(name);
    if (it == s1_.end()) {
        MOE_CHECK(!s2_.count(name), ErrorCode::internal, name + ": is a row series");
        names_.push_back(name);
        it = s1_.emplace(name, std::vector<double>{}).first;
    }
    it->second.push_back(value);
}

void SeriesLog::append_row(const std::string & name, std::span<const float> row) {
    auto it = s2_.find(name);
    if (it == s2_.end()) {
        MOE_CHECK(!s1_.count(name) && !row.empty(), ErrorCode::internal, name + ": bad row series");
        names_.push_back(name);
        it = s2_.emplace(name, std::pair<int64_t, std::vector<float>>{(int64_t)row.size(), {}}).first;
    }
    MOE_CHECK((int64_t)row.size() == it->second.first, ErrorCode::internal, name + ": row width changed");
    it->second.second.insert(it->second.second.end(), row.begin(), row.end());
}

const std::vector<double> & SeriesLog::values(const std::string & name) const { return s1_.at(name); }
const std::vector<float> & SeriesLog::rows(const std::string & name) const { return s2_.at(name).second; }
int64_t SeriesLog::width(const std::string & name) const {
    auto it = s2_.find(name);
    return it == s2_.end() ? 0 : it->second.first;
}

} // namespace moe::train
