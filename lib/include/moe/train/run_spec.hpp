// moe/train/run_spec.hpp — a moe-train run file's spec as the readers that rebuild its network from
// the file alone take it: parsed again, its base cleared (every tensor is in the file), and the
// training step the run ended at.
#pragma once
#include <cstdint>
#include <string>

#include "moe/io/run_reader.hpp"
#include "moe/spec/spec.hpp"

namespace moe::train {

struct RunSpec {
    spec::Spec spec;  // base cleared
    std::string base; // the base the run was trained on, as its spec stored it
    int64_t steps = 0;
};

// The spec of an open run file (read once; the caller goes on to read its tensors).
// ErrorCode::spec: a file another tool wrote (what names the reader: "export", "generate");
// ErrorCode::io: a /spec that does not parse.
RunSpec read_run_spec(const io::RunReader & run, const std::string & what);

} // namespace moe::train
