// version.cpp — the --version flag (version.hpp).
#include "version.hpp"

#include <cstdlib>

#include "moe/blas/gemm.hpp"
#include "moe/simd/isa.hpp"

#ifndef MOE_VERSION
#define MOE_VERSION "0.0.0"
#endif
#ifndef MOE_GIT
#define MOE_GIT "unknown"
#endif

namespace moe::apps {

std::string version_text(const std::string & tool) {
    std::string blas = blas::blas_description(); // "OpenBLAS (pthreads, Haswell; ...), N threads"
    if (const auto p = blas.rfind(", "); p != std::string::npos && blas.find(" threads", p) != std::string::npos)
        blas.erase(p); // the thread count is the run's, not the build's
    std::string s =
        tool + " " + MOE_VERSION + " (git " + MOE_GIT + ")\nblas: " + blas + ", core " + blas::blas_core_name();
    if (const char * was = std::getenv("MOE_BLAS_REEXEC"))
        s += std::string(" (OPENBLAS_CORETYPE set by moe-lab; OpenBLAS chose ") + was + ")";
    s += "\nkernels: " + simd::isa() + " (this CPU runs:";
    for (const auto & n : simd::available_isas()) s += " " + n;
    s += "; --isa or MOE_ISA forces one)";
    return s;
}

void add_version_flag(CLI::App & app, const std::string & tool) {
    app.set_version_flag(
        "--version", [tool] { return version_text(tool); },
        "print the version, the git commit and the BLAS kernels, and exit");
}

} // namespace moe::apps
