// moe/train/param_patterns.hpp — the spec keys that select parameters by glob pattern
// (train.freeze, train.unfreeze, train.groups[].pattern) must each match a parameter of the built
// model: a typo would otherwise silently train (or freeze) everything else.
#pragma once
#include <string>
#include <vector>

#include "moe/core/error.hpp"
#include "moe/spec/spec.hpp"

namespace moe::train {

// One problem per pattern that matches none of `names` (the parameters of the built network):
// "train.freeze[0]: pattern 'layer.0.*' matches no parameter (did you mean 'layers.0.*'?)"; and
// train.router_lr / train.adapter_lr set when no parameter matches their fixed patterns.
std::vector<SpecProblem> unmatched_param_patterns(const spec::Spec & spec, const std::vector<std::string> & names);

} // namespace moe::train
