// moe/train/spec_check.hpp — --resume and moe-eval compare a stored spec with the one given.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace moe::train {

// Where two resolved specs differ, one "path: a vs b" line each, exp.threads ignored (a thread
// count is a property of the machine; results are bitwise equal only for the same count).
std::vector<std::string> spec_differences(const nlohmann::json & stored, const nlohmann::json & now);

// --resume: the spec stored in `file` (stored_json) must be `now` but for exp.threads; otherwise
// ErrorCode::spec listing the differences (ErrorCode::io when the stored spec is not JSON).
void check_same_spec(const std::string & stored_json, const nlohmann::json & now, const std::string & file,
                     const std::string & spec_name);

} // namespace moe::train
