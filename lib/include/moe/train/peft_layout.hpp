// moe/train/peft_layout.hpp — the names of a LoRA adapter directory as PEFT writes it
// (huggingface/peft@5d602fd: adapter_config.json, adapter_model.safetensors with tensors
// "base_model.model.<module>.lora_A.weight" (r, in) and ".lora_B.weight" (out, r), the adapter's
// name removed on save), and of what moe-eval export adds beside the experts of a mixture: a side
// file describing the routing (moe_lab_mixture.json) and the routers' tensors
// (router.safetensors, "base_model.model.<module>.router.<name>"). Shared by export and import.
#pragma once
#include <string>

namespace moe::train::peft {

inline constexpr const char * kConfig = "adapter_config.json";
inline constexpr const char * kWeights = "adapter_model.safetensors";
inline constexpr const char * kMixture = "moe_lab_mixture.json";
inline constexpr const char * kRouters = "router.safetensors";
inline constexpr const char * kPrefix = "base_model.model.";
inline constexpr int kMixtureVersion = 1;

inline std::string lora_a(const std::string & module) { return kPrefix + module + ".lora_A.weight"; }
inline std::string lora_b(const std::string & module) { return kPrefix + module + ".lora_B.weight"; }
// router.weight -> "base_model.model.<module>.router.weight"
inline std::string router(const std::string & module, const std::string & name) {
    return kPrefix + module + ".router." + name;
}
// "expert_0", "expert_1", ...: the adapter directory of each expert of an exported mixture
inline std::string expert_dir(int e) { return "expert_" + std::to_string(e); }

} // namespace moe::train::peft
