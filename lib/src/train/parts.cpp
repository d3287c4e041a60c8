// train: the registered parts as lists and tables (see moe/train/parts.hpp).
#include "moe/train/parts.hpp"

#include "moe/adapters/registry.hpp"
#include "moe/core/error.hpp"
#include "moe/models/registry.hpp"
#include "moe/routing/loss.hpp"
#include "moe/routing/registry.hpp"

namespace moe::train {

namespace {

std::string keys(const std::vector<std::string> & ks, const std::string & section) {
    std::string out;
    for (const auto & k : ks) out += (out.empty() ? "" : ", ") + ("`" + section + "." + k + "`");
    return out.empty() ? "-" : out;
}

std::string link(const std::string & name) { return "[`" + name + "`](" + name + ".md)"; }

} // namespace

const std::vector<std::string> & part_kinds() {
    static const std::vector<std::string> kinds = {"routers", "experts", "losses", "models"};
    return kinds;
}

std::vector<std::string> part_names(const std::string & kind) {
    if (kind == "routers") return routing::router_names();
    if (kind == "experts") return adapters::expert_kind_names();
    if (kind == "models") return models::model_family_names();
    if (kind == "losses") {
        std::vector<std::string> out;
        for (const auto & l : routing::losses()) out.push_back(l.name);
        return out;
    }
    throw Error(ErrorCode::spec, "--list: unknown kind '" + kind + "' (expected routers, experts, losses or models)");
}

std::string parts_table(const std::string & kind) {
    std::string t;
    if (kind == "routers") {
        t = "| router | what it is | keys | fixed k | renormalises | drops tokens |\n| --- | --- | --- | --- | --- | "
            "--- |\n";
        for (const auto & r : routing::routers()) {
            std::vector<std::string> ks = r.keys;
            if (r.traits.weights) ks.insert(ks.begin(), {"init_std", "jitter"});
            t += "| " + link(r.name) + " | " + r.doc + " | " + keys(ks, "routing") + " | " +
                 (r.traits.fixed_k ? "yes" : "no") + " | " + r.traits.renormalizes + " | " +
                 (r.traits.drops ? "yes" : "no") + " |\n";
        }
    } else if (kind == "experts") {
        t = "| expert kind | what it computes | keys |\n| --- | --- | --- |\n";
        for (const auto & k : adapters::expert_kinds())
            t += "| " + link(k.name) + " | " + k.doc + " | " + keys(k.keys, "adapters") + " |\n";
    } else if (kind == "losses") {
        t = "| loss | what it is | keys | pooled over sites |\n| --- | --- | --- | --- |\n";
        for (const auto & l : routing::losses())
            t += "| " + link(l.name) + " | " + l.doc + " | " + keys(l.keys, "loss") + " | " +
                 (l.poolable ? "with `loss.lbl_pool`" : "no") + " |\n";
    } else if (kind == "models") {
        t = "| model family | what it is |\n| --- | --- |\n";
        for (const auto & m : models::model_families()) t += "| `" + std::string(m.name) + "` | " + m.doc + " |\n";
    } else {
        part_names(kind); // throws
    }
    return t;
}

} // namespace moe::train
