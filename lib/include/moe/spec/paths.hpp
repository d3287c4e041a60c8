// moe/spec/paths.hpp — the file paths of a spec (the base run, the data) made absolute when a run
// is trained, so the run file names its inputs wherever it is read from (moe-eval RUN.h5 from
// another working directory), and the hint for old runs whose stored paths are relative.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/spec/spec.hpp"

namespace moe::spec {

// The spec with every relative path (base, data.dir, data.train_path, data.test_path,
// data.text.domains[].paths, data.text.cache_dir) made absolute against the current working
// directory (lexically normalised; empty paths stay empty, so defaults keep their meaning).
Spec absolute_paths(const Spec & s);
// The same on a resolved spec as JSON (a stored /spec): --resume compares an older checkpoint,
// whose paths may still be relative, with the spec of today.
nlohmann::json absolute_paths(const nlohmann::json & spec);

// The JSON paths ("data.dir", ...) of a resolved spec (JSON) whose file paths are relative.
std::vector<std::string> relative_paths(const nlohmann::json & spec);

// The hint for a run whose stored paths are relative and whose inputs cannot be found from here
// (empty when none is relative).
std::vector<std::string> relative_paths_hint(const nlohmann::json & spec);
// A run file's spec as readers rebuild its network from the file alone: the base, whose tensors the
// run file holds, cleared so it need not be at hand (adapters.peft is kept: only training reads
// it). Returns the base.
std::string drop_weight_inputs(nlohmann::json & spec);

} // namespace moe::spec
