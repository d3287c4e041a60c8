// error.cpp — the typed errors of moe/core/error.hpp: the message of a SpecError (every problem
// of a spec, one per line, by path) and throw_internal behind MOE_ASSERT.
#include "moe/core/error.hpp"

#include <string>
#include <vector>

namespace moe {

static std::string spec_error_message(const std::string & source, const std::vector<SpecProblem> & ps) {
    std::string m = source.empty() ? std::string("invalid spec") : "invalid spec " + source;
    m += ": " + std::to_string(ps.size()) + (ps.size() == 1 ? " problem" : " problems");
    for (const auto & p : ps) m += "\n  " + (p.path.empty() ? std::string("(root)") : p.path) + ": " + p.message;
    return m;
}

SpecError::SpecError(std::string source, std::vector<SpecProblem> problems)
    : Error(ErrorCode::spec, spec_error_message(source, problems)), source_(std::move(source)),
      problems_(std::move(problems)) {}

void throw_internal(const char * file, int line, const std::string & what) {
    throw Error(ErrorCode::internal,
                std::string("internal error: ") + what + " (" + file + ":" + std::to_string(line) + ")");
}

} // namespace moe
