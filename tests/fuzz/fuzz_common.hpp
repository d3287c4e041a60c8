// fuzz_common.hpp — what both libFuzzer targets share: a finding aborts with its stage, and
// guarded() runs a library call for which moe::Error is an expected outcome.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include <nlohmann/json.hpp>

#include "moe/core/error.hpp"

namespace fuzz {

// The target's name, for the FINDING line (each target defines it).
extern const char * const kTarget;

[[noreturn]] inline void finding(const char * stage, const std::string & what) {
    std::fprintf(stderr, "%s: FINDING in %s: %s\n", kTarget, stage, what.c_str());
    std::fflush(stderr);
    std::abort();
}

// Run f; moe::Error is an expected outcome (returns false), anything else a finding (a json
// exception escaping the library would reach the user as "internal error", exit 1).
template <typename F>
bool guarded(const char * stage, F && f) {
    try {
        f();
        return true;
    } catch (const moe::Error &) { return false; } catch (const nlohmann::json::exception & e) {
        finding(stage, std::string("json exception escaped the library: ") + e.what());
    } catch (const std::exception & e) {
        finding(stage, std::string("unexpected exception: ") + e.what());
    } catch (...) { finding(stage, "unexpected non-std exception"); }
}

} // namespace fuzz
