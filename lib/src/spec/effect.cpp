// spec: settings that have no effect (moe/spec/effect.hpp). Which router reads which routing.*
// key, and which losses a router brings, come from the router and loss registries; nothing here
// names a router.
#include "moe/spec/effect.hpp"

#include <algorithm>

#include "moe/routing/loss.hpp"
#include "moe/routing/registry.hpp"

namespace moe::spec {

using json = nlohmann::json;

namespace {

bool contains(const std::vector<std::string> & v, const std::string & s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

bool given(const json & j, const char * section, const std::string & key) {
    return j.is_object() && j.contains(section) && j[section].is_object() && j[section].contains(key);
}

struct Report {
    const json & given_j;
    const json & now;  // the resolved spec
    const json & dflt; // the defaults
    std::vector<SpecProblem> & errs;
    std::vector<SpecProblem> & warns;
    bool router_from_set;
    // A key set where it has no effect: an error when it differs from its default, a warning when
    // the spec names it at its default (harmless, but a sign of a misunderstanding).
    void key(const char * section, const std::string & k, const std::string & why) {
        if (!given(given_j, section, k)) return;
        const std::string path = std::string(section) + "." + k;
        const json & v = now[section][k];
        if (v != dflt[section][k])
            errs.push_back({path, "set to " + v.dump() + ", which has no effect: " + why + "; drop " + path +
                                      (router_from_set ? " from the spec (it was written for another router), or --set " +
                                                             path + "=" + dflt[section][k].dump() + " (its default)"
                                                       : std::string())});
        else
            warns.push_back({path, "has no effect (" + why + "); it can be dropped"});
    }
};

std::string readers_of(const std::string & key) {
    std::string out;
    for (const auto & r : routing::routers())
        if (contains(r.keys, key)) out += std::string(out.empty() ? "" : ", ") + r.name;
    return out;
}

} // namespace

void check_effect(const Spec & s, const json & given_j, bool router_from_set, std::vector<SpecProblem> & errs,
                  std::vector<SpecProblem> & warns) {
    if (s.adapters.sites.empty()) return; // no mixture: the routing sections are not read at all
    const routing::RouterEntry * re = routing::find_router(s.routing.kind);
    if (!re) return; // an unknown router is reported already
    const json now = to_json(s);
    const json dflt = to_json(Spec{});
    Report rep{given_j, now, dflt, errs, warns, router_from_set};
    const std::string router = "router '" + s.routing.kind + "'" + (router_from_set ? " (from --set)" : "");

    // routing.* keys another router reads
    for (const auto & [k, v] : now["routing"].items()) {
        const std::string readers = readers_of(k);
        if (readers.empty() || contains(re->keys, k)) continue; // read by every router, or by this one
        rep.key("routing", k, router + " does not read it (read by " + readers + ")");
    }
    // loss.* keys of losses that only some routers bring
    for (const auto & l : routing::losses()) {
        bool brought_by_some = false;
        for (const auto & r : routing::routers()) brought_by_some = brought_by_some || contains(r.losses, l.name);
        if (!brought_by_some || contains(re->losses, l.name)) continue;
        for (const auto & k : l.keys) rep.key("loss", k, router + " has no " + l.name);
    }
    // a router without a router Linear: no logits to jitter, initialise or z-regularise
    if (!re->traits.weights) {
        for (const char * k : {"jitter", "init_std"}) rep.key("routing", k, router + " has no router weights");
        rep.key("loss", "z_coef", router + " has no router logits");
    }
    // the load-balancing loss
    if (s.loss.lbl == "none") {
        for (const char * k : {"lbl_coef", "lbl_scope"}) rep.key("loss", k, "loss.lbl is 'none'");
    } else if (!re->traits.chooses) {
        rep.key("loss", "lbl", router + " does not choose among experts, so there is no load to balance");
    } // (lbl with lbl_coef 0 is logged, not trained: the telemetry is its effect)
    // dynmole's minimum experts per token beyond the experts there are
    if (contains(re->keys, "keep_top_k") && s.routing.keep_top_k > s.adapters.experts) {
        const std::string why = "keep_top_k = " + std::to_string(s.routing.keep_top_k) + " exceeds the " +
                                std::to_string(s.adapters.experts) + " experts of adapters.experts";
        if (s.routing.keep_top_k != routing::RouterConfig{}.keep_top_k)
            errs.push_back({"routing.keep_top_k", why});
        else
            warns.push_back({"routing.keep_top_k", why + " (every expert is kept)"});
    }
}

} // namespace moe::spec
