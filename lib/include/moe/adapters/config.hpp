// moe/adapters/config.hpp — the "adapters" section of a spec: which sites get a mixture of adapter
// experts and what an expert is. Depends on nothing but the standard library.
#pragma once
#include <string>
#include <vector>

#include "moe/core/check.hpp"

namespace moe::adapters {

struct AdapterConfig {
    std::vector<std::string> sites; // glob patterns over site names, e.g. "blocks.*.mlp.fc1"
    std::string kind = "lora";      // an expert kind of the registry (adapters/registry.hpp)
    int experts = 1;                // E
    int rank = 8;                   // R (bottleneck width for kind = bottleneck)
    double alpha = 8.0;             // LoRA scale s = alpha / R (or alpha / sqrt(R) with rslora)
    bool rslora = false;
    double dropout = 0.0;         // dropout on the adapter input (training only)
    std::string init = "kaiming"; // kaiming (PEFT: A ~ U(±1/sqrt(C)), B = 0) | gaussian (A ~ N(0, 1/R))
    std::vector<std::string> peft; // PEFT LoRA adapter directories imported as the experts (train/peft_import.hpp)
};

std::vector<std::string> expert_kind_names(); // adapters/registry.cpp

template <typename V>
void visit(V & v, AdapterConfig & s) {
    v.field("sites", s.sites,
            "Glob patterns of the Linear sites that get an adapter mixture, e.g. \"blocks.*.mlp.fc1\" "
            "(empty = no adapters; the base itself trains).");
    v.field("kind", s.kind, "Expert type: LoRA (PEFT) or bottleneck (down, ReLU, up).", one_of(expert_kind_names()));
    v.field("experts", s.experts, "Experts per site E (1 = a single adapter).", range(1, 4096));
    v.field("rank", s.rank, "LoRA rank r / bottleneck width.", range(1, 1 << 16));
    v.field("alpha", s.alpha, "LoRA alpha: scale alpha/r (or alpha/sqrt(r) with rslora).", positive());
    v.field("rslora", s.rslora, "rsLoRA scaling alpha/sqrt(r).");
    v.field("dropout", s.dropout, "Dropout on the LoRA input (training only).", range(0, 0.95));
    v.field("init", s.init, "A initialisation: PEFT kaiming-uniform U(±1/sqrt(d_in)) or gaussian N(0, 1/r); B = 0.",
            one_of({"kaiming", "gaussian"}));
    v.field("peft", s.peft,
            "PEFT LoRA adapter directories (adapter_config.json + adapter_model.safetensors) imported as the "
            "experts, one per expert, or one directory `moe-eval export` wrote for a mixture (experts and routers); "
            "the sites, experts, rank and alpha come from them (docs/peft.md).");
}

} // namespace moe::adapters
