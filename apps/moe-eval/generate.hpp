// moe-eval generate: text from a language-model run, streamed to stdout; --trace writes the
// experts every site chose for each generated token.
#pragma once
#include <string>

#include <CLI/CLI.hpp>

#include "moe/train/generate.hpp"

namespace moe::apps {

struct GenerateArgs {
    CLI::App * cmd = nullptr;
    std::string run, trace, domain;
    train::GenerateOptions opt;
    bool no_stop = false, force = false;
};

void add_generate_command(CLI::App & app, GenerateArgs & a);
int run_generate(GenerateArgs & a, int threads);

} // namespace moe::apps
