// moe/io/hf_load.hpp — a Hugging Face causal-LM checkpoint (GPT-2 or LLaMA family) read from a
// directory (config.json + model.safetensors, or its shards behind model.safetensors.index.json)
// and its tensors copied into the gpt model's parameters through the plan of
// moe/models/hf_checkpoint.hpp (Conv1D weights transposed on the way in).
#pragma once
#include <functional>
#include <string>

#include "moe/core/params.hpp"
#include "moe/io/safetensors.hpp"
#include "moe/models/hf_checkpoint.hpp"

namespace moe::io {

struct HfCheckpoint {
    models::HfModel model; // what config.json describes
    SafetensorsCheckpoint checkpoint;
};

// true when path is a directory holding a config.json (a Hugging Face model directory)
bool is_hf_dir(const std::string & path);

// Reads dir/config.json (hf_model_from_config) and opens the checkpoint in dir. Error(io) names
// the file.
HfCheckpoint open_hf_checkpoint(const std::string & dir);

// Plans the import against the parameters of st for which fill(name) holds (default: all) and
// copies every tensor in (F32, F16 or BF16, converted to T; Conv1D weights transposed). A non-finite
// value is an error naming the tensor. Returns the plan.
template <typename T>
models::HfPlan load_hf_checkpoint(const HfCheckpoint & hf, ParamStore<T> & st,
                                  const std::function<bool(const std::string &)> & fill = {});

} // namespace moe::io
