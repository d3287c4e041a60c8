// moe/simd/isa.hpp — the instruction set moe-lab's own kernels run. They are compiled once per
// x86 target (scalar, SSE4, AVX2, AVX-512) with Highway's foreach_target and dispatched at run
// time to the best one this CPU has; force_isa restricts that choice (moe-bench --isa, MOE_ISA),
// so that both paths can be measured and tested on one machine. OpenBLAS chooses its own kernels.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace moe::simd {

// Every name force_isa accepts besides "auto", best first.
inline constexpr std::string_view kIsaNames[] = {"avx512", "avx2", "sse4", "scalar"};

// The targets of kIsaNames that are compiled in and that this CPU runs, best first.
std::vector<std::string> available_isas();

// Restricts dispatch to the target `name` ("auto": the best this CPU runs). False, with the
// reason in *why, when the name is unknown or this CPU lacks it. Call it before kernels run on
// other threads (it changes a process-wide choice).
bool force_isa(std::string_view name, std::string * why);

// The target the kernels dispatch to now: one of kIsaNames.
std::string isa();

} // namespace moe::simd
