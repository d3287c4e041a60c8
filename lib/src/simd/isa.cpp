// simd: which Highway target the kernels dispatch to, and forcing one (moe/simd/isa.hpp).
#include "moe/simd/isa.hpp"

#include <hwy/targets.h>

#include "moe/simd/row_kernels.hpp"

namespace moe::simd {
namespace {

// The Highway targets behind each name. AVX3_DL (Ice Lake's extensions) is not compiled: the
// kernels use none of them.
int64_t targets_of(std::string_view name) {
    if (name == "avx512") return HWY_AVX3 | HWY_AVX3_DL;
    if (name == "avx2") return HWY_AVX2;
    if (name == "sse4") return HWY_SSE4;
    if (name == "scalar") return HWY_SCALAR | HWY_EMU128;
    return 0;
}

int64_t g_forced = 0; // the mask force_isa set (0: none)

// What the CPU runs and the kernels were compiled for, without any forcing (which stays as it is).
// HWY_TARGETS here is this file's, compiled with the kernels' flags (see CMakeLists.txt).
int64_t real_targets() {
    hwy::SetSupportedTargetsForTest(0);
    const int64_t have = hwy::SupportedTargets() & HWY_TARGETS;
    if (g_forced) hwy::SetSupportedTargetsForTest(g_forced);
    return have;
}

} // namespace

std::vector<std::string> available_isas() {
    const int64_t have = real_targets();
    std::vector<std::string> out;
    for (std::string_view n : kIsaNames)
        if ((targets_of(n) & have) || n == "scalar") out.emplace_back(n); // scalar: always the fallback
    return out;
}

bool force_isa(std::string_view name, std::string * why) {
    if (name == "auto" || name.empty()) {
        g_forced = 0;
        hwy::SetSupportedTargetsForTest(0);
        return true;
    }
    const int64_t want = targets_of(name);
    if (want == 0) {
        if (why)
            *why = "unknown instruction set '" + std::string(name) + "' (expected auto, avx512, avx2, sse4 or scalar)";
        return false;
    }
    const int64_t have = real_targets();
    if (name != "scalar" && (want & have) == 0) {
        if (why) {
            std::string list;
            for (std::string_view n : kIsaNames)
                if ((targets_of(n) & have) || n == "scalar") list += (list.empty() ? "" : ", ") + std::string(n);
            *why = "this CPU (or this build) has no " + std::string(name) + " path; it runs " + list;
        }
        return false;
    }
    // scalar: no SIMD target is supported, so the dispatch falls back to the scalar one
    g_forced = name == "scalar" ? HWY_SCALAR : (want & have);
    hwy::SetSupportedTargetsForTest(g_forced);
    return true;
}

std::string isa() {
    const int64_t t = row_kernels_target();
    for (std::string_view n : kIsaNames)
        if (targets_of(n) & t) return std::string(n);
    return hwy::TargetName(t);
}

} // namespace moe::simd
