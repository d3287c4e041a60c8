// moe/train/peft_export.hpp — `moe-eval export`: the LoRA experts of a moe-train run on a GPT-2 or
// LLaMA-shaped model as adapter files other tools load (docs/peft.md).
//
//   format "peft": one expert: DIR/adapter_config.json + DIR/adapter_model.safetensors, PEFT's
//     LoRA adapter (PeftModel.from_pretrained loads it onto the Hugging Face model); E experts:
//     DIR/expert_e/ (one such adapter per expert), DIR/router.safetensors (every site's router
//     tensors) and DIR/moe_lab_mixture.json (the router, its settings and the sites). Routers
//     have no place in PEFT's LoRA schema: the side files say how to combine the experts.
//   format "moe-peft" (LLaMA only): MoE-PEFT's MoLA (top-k router) or LoRAMoE (soft router)
//     names (TUDB-Labs/MoE-PEFT@40f8cb7 moe_peft/model.py): "<method>.layers.N.<module>.moe_gate.
//     weight" (E, in) and "....experts.e.lora_{A,B}.weight", its adapter_config.json, and
//     DIR/to_moe_peft.py, which writes the adapter_model.bin MoE-PEFT reads (torch.save).
#pragma once
#include <string>
#include <vector>

namespace moe::train {

struct PeftExportOptions {
    std::string format = "peft"; // peft | moe-peft
    bool force = false;          // replace an existing DIR
};

// Writes the export into dir, built beside it and renamed into place (nothing is left at dir on
// failure; an existing dir is refused unless force). Returns the files written, relative to dir.
// ErrorCode::spec: a run that is not moe-train's on a gpt model of GPT-2 or LLaMA layout, experts
// that are not LoRA, a run that trained parameters outside its adapters (PEFT's adapter would not
// carry them), moe-peft on a GPT-2 model or with a router MoE-PEFT lacks; ErrorCode::io: a bad
// run file, a directory that cannot be written.
std::vector<std::string> export_peft(const std::string & run_path, const std::string & dir,
                                     const PeftExportOptions & opt);

} // namespace moe::train
