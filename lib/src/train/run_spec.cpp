// train: a run file's spec, read back (see moe/train/run_spec.hpp).
#include "moe/train/run_spec.hpp"

#include <nlohmann/json.hpp>

#include "moe/core/error.hpp"
#include "moe/spec/paths.hpp"

namespace moe::train {

RunSpec read_run_spec(const io::RunReader & run, const std::string & what) {
    const std::string & run_path = run.path();
    const std::string tool = run.attr_string("/", "tool");
    if (tool != "moe-train")
        throw Error(ErrorCode::spec,
                    run_path + " was written by " + tool + ", not moe-train (" + what + " takes moe-train runs)");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(run.spec_json());
    } catch (const nlohmann::json::exception & e) {
        throw Error(ErrorCode::io, run_path + ": /spec is not valid JSON (" + std::string(e.what()) + ")");
    }
    RunSpec r;
    r.base = spec::drop_weight_inputs(j); // every tensor is in the run file
    try {
        r.spec = spec::parse_spec(j, run_path + ":/spec");
    } catch (const SpecError & e) {
        throw Error(ErrorCode::io, std::string(e.what()),
                    {"the run file's /spec was changed or written by another tool"});
    }
    if (run.has("metrics")) try {
            r.steps = std::stoll(run.attr_string("metrics", "steps"));
        } catch (const std::exception &) {}
    return r;
}

} // namespace moe::train
