// train: parameter patterns that match nothing (moe/train/param_patterns.hpp).
#include "moe/train/param_patterns.hpp"

#include <tuple>

#include "moe/core/closest.hpp"
#include "moe/core/glob.hpp"

namespace moe::train {

namespace {

// Every name and every glob a user would write for a group of them: "layers.0.weight",
// "layers.0.*", "layers.*"; also "*.router.*" style globs for the last two parts.
std::vector<std::string> candidates(const std::vector<std::string> & names) {
    std::vector<std::string> out;
    for (const auto & n : names) {
        out.push_back(n);
        for (size_t dot = n.find('.'); dot != std::string::npos; dot = n.find('.', dot + 1))
            out.push_back(n.substr(0, dot) + ".*");
        const size_t last = n.rfind('.');
        if (last != std::string::npos && last > 0) {
            const size_t prev = n.rfind('.', last - 1);
            if (prev != std::string::npos) {
                std::string g = "*";
                g.append(n, prev, last - prev);
                g += ".*";
                out.push_back(g);
            }
        }
    }
    return out;
}

void check(const std::vector<std::string> & patterns, const std::vector<std::string> & keys,
           const std::vector<std::string> & names, const std::vector<std::string> & cands,
           std::vector<SpecProblem> & out) {
    for (size_t i = 0; i < patterns.size(); ++i) {
        bool any = false;
        for (const auto & n : names)
            if (glob_match(patterns[i], n)) {
                any = true;
                break;
            }
        if (any) continue;
        std::string hint;
        for (const auto & c : closest(patterns[i], cands, 3)) hint += std::string(hint.empty() ? "" : ", ") + "'" + c + "'";
        out.push_back({keys[i], "pattern '" + patterns[i] + "' matches no parameter of the model" +
                                    (hint.empty() ? std::string() : " (did you mean " + hint + "?)")});
    }
}

std::vector<std::string> indexed(const std::string & key, size_t n, const std::string & suffix = "") {
    std::vector<std::string> out;
    for (size_t i = 0; i < n; ++i) out.push_back(key + "[" + std::to_string(i) + "]" + suffix);
    return out;
}

} // namespace

std::vector<SpecProblem> unmatched_param_patterns(const spec::Spec & spec, const std::vector<std::string> & names) {
    std::vector<SpecProblem> out;
    const auto cands = candidates(names);
    const auto & t = spec.train;
    check(t.freeze, indexed("train.freeze", t.freeze.size()), names, cands, out);
    check(t.unfreeze, indexed("train.unfreeze", t.unfreeze.size()), names, cands, out);
    std::vector<std::string> groups;
    for (const auto & g : t.groups) groups.push_back(g.pattern);
    check(groups, indexed("train.groups", groups.size(), ".pattern"), names, cands, out);
    // router_lr and adapter_lr select their parameters by a fixed pattern
    for (auto [key, value, pattern] : {std::tuple{"train.router_lr", t.router_lr, "*.router.*"},
                                       std::tuple{"train.adapter_lr", t.adapter_lr, "*.experts.*"}}) {
        if (value <= 0) continue;
        bool any = false;
        for (const auto & n : names) any = any || glob_match(pattern, n);
        if (!any)
            out.push_back({key, std::string("is set, but no parameter of the model matches '") + pattern +
                                    "' (no adapters, or a router without weights): it has no effect; drop it"});
    }
    return out;
}

} // namespace moe::train
