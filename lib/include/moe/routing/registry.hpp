// moe/routing/registry.hpp — the routers a spec can name (routing.router). Each is one file in
// lib/src/routing/routers/ and one line of the table in lib/src/routing/registry.cpp; the spec's
// choices, its checks of keys that have no effect, moe-eval's override checks, `moe-train --list`,
// the gradient checks, the sweep scripts and the docs table all read this table.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "moe/routing/router.hpp"

namespace moe::routing {

struct RouterEntry {
    const char * name; // routing.router
    const char * doc;  // one line: the method and where it comes from
    RouterTraits traits;
    std::vector<std::string> keys;   // the routing.* keys it reads
    std::vector<std::string> losses; // losses it brings (loss registry names), e.g. dynmole_loss
    // null for a router that is a site kind of its own (traits.per_task: sites/poly_site.hpp)
    std::unique_ptr<Router<float>> (*make_float)(const RouterConfig &);
    std::unique_ptr<Router<double>> (*make_double)(const RouterConfig &);
    // The smallest configuration that exercises what is particular to this router (the tests
    // and the shipped specs start from it); null: the defaults do.
    void (*example)(RouterConfig &) = nullptr;
};

// The factory a router file puts in its entry: &construct<MyRouter, float>, &construct<MyRouter, double>.
template <template <typename> class R, typename T>
std::unique_ptr<Router<T>> construct(const RouterConfig & cfg) {
    return std::make_unique<R<T>>(cfg);
}

const std::vector<RouterEntry> & routers();
std::vector<std::string> router_names();
const RouterEntry * find_router(const std::string & name); // null when unknown
// Throws ErrorCode::spec naming routing.router when the name is unknown.
const RouterEntry & router_entry(const std::string & name);
template <typename T>
std::unique_ptr<Router<T>> make_router(const RouterConfig & cfg);

} // namespace moe::routing
