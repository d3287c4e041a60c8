// moe/core/glob.hpp — name patterns for sites, parameter groups and freezing.
// '*' matches any run of characters (dots included), '?' one character.
// "blocks.*.mlp.fc1" matches "blocks.3.mlp.fc1"; "*" matches everything.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace moe {

bool glob_match(std::string_view pattern, std::string_view name);
bool glob_any(const std::vector<std::string> & patterns, std::string_view name);

} // namespace moe
