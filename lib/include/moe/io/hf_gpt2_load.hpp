// moe/io/hf_gpt2_load.hpp — a GPT-2 checkpoint in Hugging Face layout read from a directory
// (config.json + model.safetensors, or its shards behind model.safetensors.index.json) and its
// tensors copied into the gpt model's parameters through the plan of moe/models/hf_gpt2.hpp
// (Conv1D weights transposed on the way in). Not yet reachable from a spec.
#pragma once
#include <string>

#include "moe/core/params.hpp"
#include "moe/io/safetensors.hpp"
#include "moe/models/config.hpp"
#include "moe/models/hf_gpt2.hpp"

namespace moe::io {

struct HfGpt2 {
    models::GptConfig cfg; // what config.json describes
    int vocab = 0;
    SafetensorsCheckpoint checkpoint;
};

// Reads dir/config.json (gpt2_config_from_hf) and opens the checkpoint in dir. Error(io) names
// the file.
HfGpt2 open_hf_gpt2(const std::string & dir);

// Plans the import against the parameters declared in st (plan_gpt2_import) and copies every
// tensor in (F32, F16 or BF16, converted to T; Conv1D weights transposed). Returns the plan.
template <typename T>
models::Gpt2Plan load_hf_gpt2(const HfGpt2 & hf, ParamStore<T> & st);

} // namespace moe::io
