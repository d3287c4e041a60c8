// moe/spec/effect.hpp — settings that have no effect: a routing.* key the chosen router does not
// read, a loss.* key of a loss the router does not bring (null_coef without null experts),
// loss.lbl_coef without loss.lbl, routing.keep_top_k beyond the experts. A key the user set to a
// value other than its default where it has no effect is an error (the run would not be the one
// asked for); named at its default, it is a warning (harmless). Run on the spec as the user gave
// it (load_spec), not on a run file's resolved /spec, which names every key.
#pragma once
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/core/error.hpp"
#include "moe/spec/spec.hpp"

namespace moe::spec {

// given: the spec JSON as given (after --set), to tell the keys the user named; router_from_set:
// routing.router came from --set (the message says so: the spec's other keys are then the ones
// to drop).
void check_effect(const Spec & s, const nlohmann::json & given, bool router_from_set, std::vector<SpecProblem> & errs,
                  std::vector<SpecProblem> & warns);

} // namespace moe::spec
