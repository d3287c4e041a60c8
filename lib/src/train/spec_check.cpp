// train: comparing a stored spec with the one given (see moe/train/spec_check.hpp).
#include "moe/train/spec_check.hpp"

#include "moe/core/error.hpp"
#include "moe/spec/paths.hpp"

namespace moe::train {

namespace {

std::string json_path(const std::string & pointer) { // "/data/tasks/0/weight" -> "data.tasks.0.weight"
    std::string out;
    for (size_t i = 0; i < pointer.size(); ++i) {
        if (pointer[i] == '/') {
            if (i) out += '.';
        } else if (pointer[i] == '~' && i + 1 < pointer.size()) {
            out += pointer[i + 1] == '1' ? '/' : '~';
            ++i;
        } else
            out += pointer[i];
    }
    return out;
}

} // namespace

std::vector<std::string> spec_differences(const nlohmann::json & stored, const nlohmann::json & now) {
    std::vector<std::string> out;
    for (const auto & op : nlohmann::json::diff(stored, now)) {
        const std::string ptr = op.at("path").get<std::string>();
        if (ptr == "/exp/threads") continue;
        const std::string kind = op.at("op").get<std::string>();
        const nlohmann::json::json_pointer jp(ptr);
        const std::string path = ptr.empty() ? std::string("(root)") : json_path(ptr);
        if (kind == "replace")
            out.push_back(path + ": stored " + stored.at(jp).dump() + ", now " + now.at(jp).dump());
        else if (kind == "add")
            out.push_back(path + ": not stored, now " + now.at(jp).dump());
        else if (kind == "remove")
            out.push_back(path + ": stored " + stored.at(jp).dump() + ", now absent");
        else
            out.push_back(path + ": differs");
    }
    return out;
}

void check_same_spec(const std::string & stored_json, const nlohmann::json & now, const std::string & file,
                     const std::string & spec_name) {
    nlohmann::json stored;
    try {
        stored = nlohmann::json::parse(stored_json);
    } catch (const std::exception &) { throw Error(ErrorCode::io, file + ": the stored /spec is not valid JSON"); }
    // runs store their paths absolute; an older file's relative ones are resolved here, as then
    stored = spec::absolute_paths(stored);
    const auto diff = spec_differences(stored, now);
    if (diff.empty()) return;
    std::string msg = "cannot resume: " + file + " was written by another spec than " + spec_name +
                      " (with its --set overrides); " + std::to_string(diff.size()) +
                      (diff.size() == 1 ? " difference:" : " differences:");
    for (const auto & d : diff) msg += "\n  " + d;
    throw Error(ErrorCode::spec, msg,
                {"resume with the same spec and --set overrides, or start over without --resume"});
}

} // namespace moe::train
