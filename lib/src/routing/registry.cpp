// routing: the table of routers. To add one: write lib/src/routing/routers/<name>.cpp (a Router
// and its RouterEntry router_<name>()) and add its name to MOE_ROUTERS below; docs/extending.md
// walks through it.
#include "moe/routing/registry.hpp"

#include "moe/core/error.hpp"

namespace moe::routing {

#define MOE_ROUTERS(X)                                                                                                 \
    X(none)                                                                                                            \
    X(soft)                                                                                                            \
    X(topk)                                                                                                            \
    X(switch)                                                                                                          \
    X(topp)                                                                                                            \
    X(dynmole)                                                                                                         \
    X(expert_choice)                                                                                                   \
    X(null_experts)                                                                                                    \
    X(sigmoid_bias)                                                                                                    \
    X(random_fixed)                                                                                                    \
    X(task)

#define MOE_DECLARE_ROUTER(id) RouterEntry router_##id();
MOE_ROUTERS(MOE_DECLARE_ROUTER)

const std::vector<RouterEntry> & routers() {
#define MOE_ROUTER_ENTRY(id) router_##id(),
    static const std::vector<RouterEntry> all = {MOE_ROUTERS(MOE_ROUTER_ENTRY)};
    return all;
}

std::vector<std::string> router_names() {
    std::vector<std::string> out;
    for (const auto & r : routers()) out.push_back(r.name);
    return out;
}

const RouterEntry * find_router(const std::string & name) {
    for (const auto & r : routers())
        if (name == r.name) return &r;
    return nullptr;
}

const RouterEntry & router_entry(const std::string & name) {
    if (const RouterEntry * r = find_router(name)) return *r;
    std::string list;
    for (const auto & n : router_names()) list += " " + n;
    throw Error(ErrorCode::spec, "routing.router: unknown router '" + name + "' (expected one of:" + list + ")");
}

template <typename T>
std::unique_ptr<Router<T>> make_router(const RouterConfig & cfg) {
    const RouterEntry & r = router_entry(cfg.kind);
    MOE_ASSERT(r.make_float && r.make_double);
    if constexpr (std::is_same_v<T, float>)
        return r.make_float(cfg);
    else
        return r.make_double(cfg);
}
template std::unique_ptr<Router<float>> make_router<float>(const RouterConfig &);
template std::unique_ptr<Router<double>> make_router<double>(const RouterConfig &);

} // namespace moe::routing
