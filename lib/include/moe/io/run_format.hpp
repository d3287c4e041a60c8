// moe/io/run_format.hpp — the HDF5 run file's layout and its format constants, shared by
// RunWriter and RunReader (the full layout: docs/run-file.md).
#pragma once

// The layout:
//   /                  attrs: format="moe-lab-run", format_version, tool, version, git, created
//   /spec              resolved spec (JSON string)
//   /params/<name>     every parameter, float32, attr trainable (0/1)
//   /metrics/train/... 1-D unlimited series (step, loss, lr, grad_norm, ms_per_step, ...)
//   /metrics/eval/...  per evaluation (step, epoch, <split>/<task>/loss|accuracy, ...)
//
// Paths are '/'-separated group paths; parameter names may contain dots ("layers.0.weight") and
// are used as dataset names verbatim. Every HDF5 failure throws moe::Error(ErrorCode::io) naming
// the file and the object.

namespace moe::io {

inline constexpr const char * kRunFormat = "moe-lab-run";
// 2: a 512-byte integrity header (size + CRC-32) in HDF5's user block, checked before reading.
inline constexpr int kRunFormatVersion = 2;

} // namespace moe::io
