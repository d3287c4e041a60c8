// Shared by the unit tests of the SIMD dispatch (test_simd.cpp, test_isa_kernels.cpp): run a body
// once per instruction set this CPU has, each forced in turn, automatic dispatch restored after.
#pragma once
#include <doctest/doctest.h>

#include <string>

#include "moe/simd/isa.hpp"

namespace moe::test {

// Restores automatic dispatch when a scope ends, whatever it forced.
struct AutoIsa {
    ~AutoIsa() { simd::force_isa("auto", nullptr); }
};

// Runs body(isa) once per instruction set this machine has, forced.
template <typename F>
void each_isa(F && body) {
    AutoIsa restore;
    for (const std::string & isa : simd::available_isas()) {
        std::string why;
        REQUIRE_MESSAGE(simd::force_isa(isa, &why), why);
        REQUIRE(simd::isa() == isa);
        INFO("isa " << isa);
        body(isa);
    }
}

} // namespace moe::test
