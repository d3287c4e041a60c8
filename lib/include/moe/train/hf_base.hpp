// moe/train/hf_base.hpp — a Hugging Face model directory as a run's "base": the gpt model that
// its config.json describes replaces the spec's model.gpt, with the context of the text data.
#pragma once
#include "moe/spec/spec.hpp"

namespace moe::train {

// With spec.base naming a Hugging Face model directory (config.json + safetensors), the spec
// with model.gpt taken from config.json (moe/models/hf_checkpoint.hpp): context = data.text.
// block_size (at most the checkpoint's positions), max_positions = the GPT-2 position table's rows.
// A model.gpt key the spec sets to a value other than its default and other than config.json's is
// a SpecError at that key, as is a block_size beyond the checkpoint's positions. Any other spec
// is returned as it is; applied to its own result it changes nothing. A bad config.json is
// Error(io) naming it.
spec::Spec with_hf_base(const spec::Spec & s);

} // namespace moe::train
