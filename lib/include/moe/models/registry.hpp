// moe/models/registry.hpp — the model families a spec can name (model.kind): one file per family
// in lib/src/models/ and one line in the table of lib/src/models/registry.cpp.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "moe/models/model.hpp"

namespace moe::models {

template <typename T>
using ModelFactory = std::unique_ptr<Model<T>> (*)(const ModelConfig &, const InputShape &, int n_outputs,
                                                   ParamStore<T> &, const nn::TrainablePred &);

struct ModelFamily {
    const char * name; // model.kind
    const char * doc;
    ModelFactory<float> make_float;
    ModelFactory<double> make_double;
};

const std::vector<ModelFamily> & model_families();
std::vector<std::string> model_family_names();

// Declares the model's parameters in `store` (trainable per `tr`). Call store.allocate(seed)
// and then model->bind(store) before use. Throws ErrorCode::spec on an unknown family or
// impossible shapes.
template <typename T>
std::unique_ptr<Model<T>> make_model(const ModelConfig & cfg, const InputShape & in, int n_outputs,
                                     ParamStore<T> & store, const nn::TrainablePred & tr);

} // namespace moe::models
