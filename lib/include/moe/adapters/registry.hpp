// moe/adapters/registry.hpp — the expert kinds a spec can name (adapters.kind, expand.adapter):
// one file per kind (lib/src/adapters/banks/<kind>.cpp) and one line in the table of
// lib/src/adapters/registry.cpp. Everything that lists the kinds reads this table.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "moe/adapters/expert_bank.hpp"

namespace moe::adapters {

struct ExpertKind {
    const char * name;             // adapters.kind
    const char * doc;              // one line: what an expert computes
    std::vector<std::string> keys; // the adapters.* keys it reads besides sites, kind, experts
    std::unique_ptr<ExpertBank<float>> (*make_float)();
    std::unique_ptr<ExpertBank<double>> (*make_double)();
};

const std::vector<ExpertKind> & expert_kinds();
std::vector<std::string> expert_kind_names();
const ExpertKind * find_expert_kind(const std::string & name); // null when unknown
// Throws ErrorCode::spec naming `key` and the kinds when `name` is not one.
template <typename T>
std::unique_ptr<ExpertBank<T>> make_bank(const std::string & name, const std::string & key = "adapters.kind");

} // namespace moe::adapters
