// apps/common/version.hpp — the --version flag of every binary.
#pragma once
#include <string>

#include <CLI/CLI.hpp>

namespace moe::apps {

// "moe-train 0.1.0 (git 1a2b3c4)" and a line naming the BLAS library and the kernels (core) it
// runs; the commit is the one the build directory was configured at.
std::string version_text(const std::string & tool);
// Adds --version (prints version_text to stdout, exit 0).
void add_version_flag(CLI::App & app, const std::string & tool);

} // namespace moe::apps
