// moe/core/closest.hpp — "did you mean" hints: the candidates closest to a mistyped word by edit
// distance (Levenshtein).
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace moe {

size_t edit_distance(const std::string & a, const std::string & b);

// Up to n candidates, closest first (ties in the given order), duplicates dropped.
std::vector<std::string> closest(const std::string & word, const std::vector<std::string> & candidates, size_t n);

} // namespace moe
