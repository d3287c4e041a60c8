// moe/train/parts.hpp — every registered part, listed from the registries: routers, expert kinds,
// losses and model families. `moe-train --list` prints these; the sweep scripts, the method docs'
// index table (docs/methods/README.md) and the completeness test read them.
#pragma once
#include <string>
#include <vector>

namespace moe::train {

// "routers" | "experts" | "losses" | "models"
const std::vector<std::string> & part_kinds();
// The names of one kind, in registry order. Throws ErrorCode::spec for an unknown kind.
std::vector<std::string> part_names(const std::string & kind);
// A Markdown table of one kind (name linked to docs/methods/<name>.md, what it is, its keys, and
// for routers their traits).
std::string parts_table(const std::string & kind);

} // namespace moe::train
