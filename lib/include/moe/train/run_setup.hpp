// moe/train/run_setup.hpp — what every run does before its first step: refuse outputs that are
// its inputs, fail early on an output that cannot be written, load the frozen base.
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "moe/core/params.hpp"

namespace moe::train {

// Refuses (ErrorCode::spec) any output that is one of the inputs ((what, path) pairs), then opens
// and drops a writer for each output, so a missing directory, a FIFO or a link there fails now,
// not after training (the writer's temporary file is removed again).
void prepare_outputs(const std::vector<std::string> & outputs,
                     const std::vector<std::pair<std::string, std::string>> & inputs, const std::string & tool);
// Copies the base run's tensors into every parameter of store whose name satisfies from_base
// (missing tensors and shape mismatches reported by name, ErrorCode::io) and logs how many.
void load_base(ParamStore<float> & store, const std::string & base_path,
               const std::function<bool(const std::string &)> & from_base);

} // namespace moe::train
