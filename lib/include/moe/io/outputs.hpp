// moe/io/outputs.hpp — checks on output paths and the atomic text-file writer: an output must
// not be one of the inputs, and a text output appears whole or not at all.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace moe::io {

// Refuses (ErrorCode::spec) an output path that is one of the inputs (the same file through any
// path or hard link; inputs: (what, path), empty paths skipped): writing the output would
// replace the input. Names both.
void check_output_not_input(const std::string & out, const std::vector<std::pair<std::string, std::string>> & inputs,
                            const std::string & option = "-o");

// Writes a text file atomically (temporary file created exclusively, fsync, rename); on any
// failure nothing is left behind and Error(ErrorCode::io) names the path and the reason (e.g. a
// full disk).
void write_text_atomic(const std::string & path, const std::string & text);

} // namespace moe::io
