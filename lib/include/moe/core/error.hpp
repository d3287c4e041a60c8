// moe/core/error.hpp — typed errors. The library reports every failure by throwing one of
// these; apps map ErrorCode to the process exit code (DESIGN.md: 1 internal, 2 spec/usage,
// 3 I/O or bad data, 4 numeric, 130 interrupted). The library never prints and never exits.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

namespace moe {

enum class ErrorCode : int { internal = 1, spec = 2, io = 3, numeric = 4, interrupted = 130 };

class Error : public std::runtime_error {
  public:
    Error(ErrorCode code, const std::string & msg, std::vector<std::string> hints = {})
        : std::runtime_error(msg), code_(code), hints_(std::move(hints)) {}
    ErrorCode code() const { return code_; }
    const std::vector<std::string> & hints() const { return hints_; }

  private:
    ErrorCode code_;
    std::vector<std::string> hints_;
};

// One problem in a spec, at a JSON path such as "train.lr" or "data.tasks[2].transform".
struct SpecProblem {
    std::string path;
    std::string message;
};

// All problems of a spec at once (mamba's aggregated error).
class SpecError : public Error {
  public:
    SpecError(std::string source, std::vector<SpecProblem> problems);
    const std::vector<SpecProblem> & problems() const { return problems_; }
    const std::string & source() const { return source_; }

  private:
    std::string source_;
    std::vector<SpecProblem> problems_;
};

// Thrown when a stop was requested (SIGINT/SIGTERM); carries the resume hint.
class Interrupted : public Error {
  public:
    explicit Interrupted(const std::string & msg) : Error(ErrorCode::interrupted, msg) {}
};

[[noreturn]] void throw_internal(const char * file, int line, const std::string & what);

} // namespace moe

// MOE_CHECK: argument/shape checks at API boundaries (never per element).
#define MOE_CHECK(cond, code, msg)                                                                                     \
    do {                                                                                                               \
        if (!(cond)) throw ::moe::Error((code), (msg));                                                                \
    } while (0)
// MOE_ASSERT: always-on internal invariant (ggml's GGML_ASSERT); throws ErrorCode::internal.
#define MOE_ASSERT(cond)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) ::moe::throw_internal(__FILE__, __LINE__, #cond);                                                 \
    } while (0)
