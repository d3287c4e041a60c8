// moe/train/run_setup.hpp — what every run does before its first step: take the lock on its
// output and refuse outputs it must not replace, refuse outputs that are its inputs, fail early
// on an output that cannot be written, load the frozen base.
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "moe/core/params.hpp"
#include "moe/io/outputs.hpp"

namespace moe::train {

// What a run may do with outputs that exist already.
struct OutputPolicy {
    bool force = false;  // --force: replace an existing output; start over from an unfinished run's checkpoint
    bool resume = false; // --resume: the output and its checkpoint are the run's own (continued, or finished)
    std::string option = "-o";
};

// For the binaries, before the library call that writes `out`: takes the output's lock
// (io::OutputLock, held until the returned object goes; a second writer of `out` fails at once,
// exit 2). Then, unless policy.resume (the output and checkpoint are the run's own, and the
// library checks that they are), refuses (ErrorCode::spec) an output that is one of the inputs
// ((what, path) pairs; its message comes first, and --force does not lift it) and, unless
// policy.force, an existing output ("the output OUT exists; --force replaces it") and an existing
// checkpoint (non-empty path: the checkpoint of an unfinished run, which --resume continues and
// --force replaces).
io::OutputLock claim_outputs(const std::string & out, const std::string & checkpoint,
                             const std::vector<std::pair<std::string, std::string>> & inputs,
                             const OutputPolicy & policy);
// Refuses (ErrorCode::spec) any output that is one of the inputs ((what, path) pairs), then opens
// and drops a writer for each output, so a missing directory, a FIFO or a link there fails now,
// not after training (the writer's temporary file is removed again).
void prepare_outputs(const std::vector<std::string> & outputs,
                     const std::vector<std::pair<std::string, std::string>> & inputs, const std::string & tool);
// Copies the base run's tensors into every parameter of store whose name satisfies from_base
// (missing tensors and shape mismatches reported by name, ErrorCode::io) and logs how many. A
// Hugging Face model directory as the base fills them from its checkpoint (moe/io/hf_load.hpp);
// a vocabulary other than the data's is a SpecError at data.tokenizer.
void load_base(ParamStore<float> & store, const std::string & base_path,
               const std::function<bool(const std::string &)> & from_base);

} // namespace moe::train
