// moe/train/hf_export.hpp — `moe-eval export RUN DIR --format hf`: the model of a moe-train run on a
// gpt model of GPT-2 or LLaMA layout as a Hugging Face checkpoint directory (config.json +
// model.safetensors, the names of moe/models/hf_checkpoint.hpp, GPT-2's Conv1D weights stored
// (in, out) again), which transformers' AutoModelForCausalLM and moe-lab's "base" load. A single
// LoRA expert without a router is merged into its weight (PEFT's merge: W + scaling B A); the
// tokenizer files the run read (vocab.json, merges.txt, tokenizer.json, tokenizer.model) are
// copied beside them. See docs/peft.md.
#pragma once
#include <string>
#include <vector>

namespace moe::train {

// Writes dir all or nothing (io::write_directory_atomic; force replaces it). Returns the files
// written, relative to dir. ErrorCode::spec: a run that is not moe-train's on a GPT-2 or
// LLaMA-shaped gpt model, a mixture (E > 1 or a routed expert: it cannot be merged into one
// model; --format peft exports it); ErrorCode::io: a bad run file, a directory not writable.
std::vector<std::string> export_hf_model(const std::string & run_path, const std::string & dir, bool force);

} // namespace moe::train
