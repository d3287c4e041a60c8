// safetensors_internal.hpp — private to lib/src/io: what the safetensors reader, its index
// reader and the fuzz-facing entry points share: the header check and a JSON parse that
// notices duplicate keys (nlohmann keeps the last one silently).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/io/safetensors.hpp"

namespace moe::io::detail {

// The header cap of the reference implementation (N > 100,000,000 is HeaderTooLarge).
constexpr uint64_t kStMaxHeader = 100000000;

// Parses text as JSON; throws Error(io) "<file>: <what> is not valid JSON (...)" with the byte
// position, or "<file>: <what>: key 'k' appears twice in <where>" for a duplicate key at any
// depth (<where>: "the top-level object" or "the object under 'a'").
nlohmann::json parse_json_unique(std::string_view text, const std::string & file, const std::string & what);

// Checks a safetensors header (the JSON text of N bytes) against a data area of data_size
// bytes and fills tensors (sorted by name) and metadata. Throws Error(io) naming file and the
// tensor or field.
void parse_st_header(std::string_view header, uint64_t data_size, const std::string & file,
                     std::vector<StTensorInfo> & tensors, std::map<std::string, std::string> & metadata);

// "an array", "a negative integer", "null", ...: what a JSON value is, for messages.
std::string type_of(const nlohmann::json & j);

// "[2, 3]"
std::string st_shape_str(const std::vector<int64_t> & shape);

} // namespace moe::io::detail
