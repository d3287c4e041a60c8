// spec: a spec's file paths made absolute (moe/spec/paths.hpp).
#include "moe/spec/paths.hpp"

#include <filesystem>
#include <functional>

namespace moe::spec {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string absolute(const std::string & p) {
    if (p.empty() || fs::path(p).is_absolute()) return p;
    std::error_code ec;
    const fs::path cwd = fs::current_path(ec);
    if (ec) return p; // no working directory to resolve against: keep the path as given
    return (cwd / p).lexically_normal().string();
}

// Calls fn(json path, value) for every file path of a resolved spec that is a string.
void for_each_path(json & j, const std::function<void(const std::string &, json &)> & fn) {
    if (!j.is_object()) return;
    auto one = [&](json & obj, const char * key, const std::string & where) {
        if (obj.is_object() && obj.contains(key) && obj[key].is_string()) fn(where, obj[key]);
    };
    one(j, "base", "base");
    if (j.contains("adapters") && j["adapters"].is_object() && j["adapters"].contains("peft") &&
        j["adapters"]["peft"].is_array())
        for (size_t i = 0; i < j["adapters"]["peft"].size(); ++i)
            if (j["adapters"]["peft"][i].is_string())
                fn("adapters.peft[" + std::to_string(i) + "]", j["adapters"]["peft"][i]);
    if (!j.contains("data") || !j["data"].is_object()) return;
    json & d = j["data"];
    for (const char * k : {"dir", "train_path", "test_path"}) one(d, k, std::string("data.") + k);
    if (!d.contains("text") || !d["text"].is_object()) return;
    json & t = d["text"];
    one(t, "cache_dir", "data.text.cache_dir");
    one(t, "tokenizer_path", "data.text.tokenizer_path");
    if (!t.contains("domains") || !t["domains"].is_array()) return;
    for (size_t i = 0; i < t["domains"].size(); ++i) {
        json & dom = t["domains"][i];
        if (!dom.is_object() || !dom.contains("paths") || !dom["paths"].is_array()) continue;
        for (size_t k = 0; k < dom["paths"].size(); ++k)
            if (dom["paths"][k].is_string())
                fn("data.text.domains[" + std::to_string(i) + "].paths[" + std::to_string(k) + "]", dom["paths"][k]);
    }
}

} // namespace

Spec absolute_paths(const Spec & s) {
    Spec out = s;
    out.base = absolute(out.base);
    for (auto & p : out.adapters.peft) p = absolute(p);
    out.data.dir = absolute(out.data.dir);
    out.data.train_path = absolute(out.data.train_path);
    out.data.test_path = absolute(out.data.test_path);
    out.data.text.cache_dir = absolute(out.data.text.cache_dir);
    out.data.text.tokenizer_path = absolute(out.data.text.tokenizer_path);
    for (auto & d : out.data.text.domains)
        for (auto & p : d.paths) p = absolute(p);
    return out;
}

json absolute_paths(const json & spec) {
    json out = spec;
    for_each_path(out, [](const std::string &, json & v) { v = absolute(v.get<std::string>()); });
    return out;
}

std::string drop_weight_inputs(json & spec) {
    if (!spec.is_object()) return "";
    std::string base;
    if (spec.contains("base")) {
        if (spec["base"].is_string()) base = spec["base"].get<std::string>();
        spec["base"] = "";
    }
    return base;
}

std::vector<std::string> relative_paths(const json & spec) {
    std::vector<std::string> out;
    json copy = spec;
    for_each_path(copy, [&](const std::string & where, json & v) {
        const std::string p = v.get<std::string>();
        if (!p.empty() && !fs::path(p).is_absolute()) out.push_back(where);
    });
    return out;
}

std::vector<std::string> relative_paths_hint(const json & spec) {
    const auto rel = relative_paths(spec);
    if (rel.empty()) return {};
    std::string keys;
    for (size_t i = 0; i < rel.size() && i < 4; ++i) keys += (i ? ", " : "") + rel[i];
    if (rel.size() > 4) keys += ", ...";
    return {"the run stores relative paths (" + keys +
            "): they are relative to the directory the run was trained in; run from there, or give them with "
            "--set (e.g. --set " +
            rel[0] + "=/absolute/path)"};
}

} // namespace moe::spec
