// moe-sweep: starting the other programs (moe-train, GNU parallel, sbatch, moe-eval) and the
// small file and path helpers the subcommands share.
#pragma once
#include <string>
#include <vector>

namespace moe::sweep_app {

// The directory of this executable (/proc/self/exe), where moe-train and moe-eval are built.
std::string self_dir();
// PROGRAM beside this executable if it is there, else the bare name (looked up in PATH).
std::string sibling(const std::string & program);
// The path of PROGRAM in PATH, or "" when it is not installed.
std::string which(const std::string & program);
// Single-quoted for sh: abc -> 'abc', it's -> 'it'\''s'.
std::string shell_quote(const std::string & s);
// Runs argv (no shell) and waits; returns its exit code (128 + signal when killed). With
// `captured`, its stdout is read into it; with `cwd`, it runs in that directory. Throws
// moe::Error io when it cannot start.
int run(const std::vector<std::string> & argv, std::string * captured = nullptr, const std::string & cwd = "");
// The path made absolute against the working directory (lexically normal).
std::string absolute(const std::string & path);

} // namespace moe::sweep_app
