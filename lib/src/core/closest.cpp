// closest.cpp — "did you mean" hints (moe/core/closest.hpp).
#include "moe/core/closest.hpp"

#include <algorithm>
#include <set>

namespace moe {

size_t edit_distance(const std::string & a, const std::string & b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (size_t j = 1; j <= b.size(); ++j)
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

std::vector<std::string> closest(const std::string & word, const std::vector<std::string> & candidates, size_t n) {
    std::vector<std::pair<size_t, size_t>> ranked; // (distance, index)
    std::set<std::string> seen;
    for (size_t i = 0; i < candidates.size(); ++i)
        if (seen.insert(candidates[i]).second) ranked.push_back({edit_distance(word, candidates[i]), i});
    // (distance, index) pairs are unique, so sorting them gives the stable order by distance
    std::sort(ranked.begin(), ranked.end());
    std::vector<std::string> out;
    for (size_t i = 0; i < ranked.size() && i < n; ++i) out.push_back(candidates[ranked[i].second]);
    return out;
}

} // namespace moe
