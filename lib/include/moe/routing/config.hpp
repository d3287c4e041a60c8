// moe/routing/config.hpp — the "routing" and "loss" sections of a spec: the router of every adapted
// site and its parameters, and the balancing and router losses. Depends on nothing but the
// standard library. Which router reads which key is declared in its registry entry.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "moe/core/check.hpp"

namespace moe::routing {

struct RouterConfig {
    std::string kind = "topk"; // a router of the registry (routing/registry.hpp)
    int k = 2;                 // experts per token (topk, null_experts, sigmoid_bias, random_fixed final k)
    bool renormalize =
        true; // topk: renormalise the selected probabilities (Mixtral, MoLA, MixLoRA); false = raw softmax weights
    double jitter = 0.0;          // multiplicative input jitter U(1-eps, 1+eps) on the router input (training)
    double capacity_factor = 1.0; // switch: capacity = ceil(cf * N / E); expert_choice: k_c = cf * N / E
    double top_p = 0.8;           // topp (MixLoRA-dynamic 0.8); dynmole uses its own default 0.75 below
    double dynmole_top_p = 0.75;
    int keep_top_k = 2;             // dynmole
    double entropy_threshold = 0.9; // dynmole
    double entropy_q = 1.1;         // dynmole Tsallis index
    double entropy_eps = 1e-5;      // dynmole
    int null_experts = 0;           // null_experts: M
    double bias_update_rate = 1e-3; // sigmoid_bias: u
    double route_scale = 1.0;       // sigmoid_bias: gates multiplied after renormalisation
    double init_std = 0.02;         // router weight init N(0, init_std^2) (MixLoRA router_init_range)
    int k_start = 1;                // random_fixed: active experts at step 0
    int64_t k_grow_steps = 0;       // random_fixed: steps over which k grows linearly to k
    int n_splits = 1;               // task: heads q (MHR when > 1)
    int n_tasks = 0;                // task: number of task ids (0 = the number of tasks in the data)
    double temperature = 1.0;       // task: relaxed-Bernoulli temperature
};

struct BalanceConfig {
    std::string lbl = "none"; // none | mixtral | megatron | switch   (named convention, no rescaling)
    double lbl_coef = 0.0;
    std::string lbl_scope = "micro"; // micro | global (f accumulated over the step's micro-batches)
    std::string lbl_pool = "auto";   // layers: a poolable loss (LBL, DynMoLE's) is computed once over
                                     // the rows of every adapted site (HF Mixtral / Switch and MoE-PEFT
                                     // concatenate every layer's router outputs); site: one loss per
                                     // site, summed (Megatron); auto: each loss as its reference does
                                     // (layers for mixtral, switch and dynmole; site for megatron)
    double z_coef = 0.0;             // router z-loss
    double dynmole_beta = 0.01;      // dynmole: Tsallis entropy term
    double dynmole_alpha = 0.001;    // dynmole: its soft load-balancing term
    double null_coef = 0.0;          // null_experts: AdaMoE pooled-null LBL
};

std::vector<std::string> router_names(); // routing/registry.cpp

// ---- field descriptions ----------------------------------------------------------------------

template <typename V>
void visit(V & v, RouterConfig & s) {
    v.field("router", s.kind, "Router of every adapted site (docs/methods/<router>.md; `moe-train --list routers`).",
            one_of(router_names()));
    v.field("k", s.k, "Experts per token (topk, null_experts incl. null slots, sigmoid_bias, random_fixed final k).",
            range(1, 4096));
    v.field("renormalize", s.renormalize,
            "topk: renormalise the selected probabilities (Mixtral) or not (raw softmax weights).");
    v.field("jitter", s.jitter, "Multiplicative router-input jitter U(1-eps, 1+eps) in training (Switch default 0.01).",
            range(0, 1));
    v.field("capacity_factor", s.capacity_factor,
            "switch: expert capacity ceil(cf*N/E); expert_choice: each expert takes cf*N/E tokens.", positive());
    v.field("top_p", s.top_p,
            "topp: keep the smallest prefix whose cumulative probability reaches top_p (MixLoRA 0.8).", range(0, 1));
    v.field("dynmole_top_p", s.dynmole_top_p,
            "dynmole: keep experts with cumulative probability <= top_p (DynMoLE 0.75).", range(0, 1));
    v.field("keep_top_k", s.keep_top_k, "dynmole: minimum experts per token.", range(1, 4096));
    v.field("entropy_threshold", s.entropy_threshold,
            "dynmole: above this normalised Tsallis entropy every expert is used.", range(0, 1));
    v.field("entropy_q", s.entropy_q, "dynmole: Tsallis index q (0 < q <= 2).", range(1e-6, 2));
    v.field("entropy_eps", s.entropy_eps, "dynmole: epsilon added to the probabilities.", at_least(0));
    v.field("null_experts", s.null_experts, "null_experts: number M of zero-compute experts in the softmax.",
            range(0, 4096));
    v.field("bias_update_rate", s.bias_update_rate,
            "sigmoid_bias: u in b_e += u*sign(mean load - load_e) after each step.", at_least(0));
    v.field("route_scale", s.route_scale,
            "sigmoid_bias: gates multiplied after renormalisation (DeepSeek-V3 uses 2.5).", positive());
    v.field("init_std", s.init_std, "Router weight initialisation N(0, init_std^2) (MixLoRA 0.02).", positive());
    v.field("k_start", s.k_start, "random_fixed: active experts at step 0.", range(1, 4096));
    v.field("k_grow_steps", s.k_grow_steps, "random_fixed: steps over which the active experts grow linearly to k.",
            at_least(0));
    v.field("n_splits", s.n_splits, "task: heads q (Poly = 1, MHR > 1; must divide the site widths).", range(1, 4096));
    v.field("n_tasks", s.n_tasks, "task: number of task ids (0 = the number of tasks in the data).", at_least(0));
    v.field("temperature", s.temperature,
            "task: relaxed-Bernoulli temperature in training (evaluation uses the sigmoid).", positive());
}

template <typename V>
void visit(V & v, BalanceConfig & s) {
    v.field("lbl", s.lbl,
            "Load-balancing convention (no silent rescaling): mixtral = E*sum f*P with f over k slots (balanced "
            "= k); megatron = f/k (balanced = 1); switch = top-1 f (balanced = 1).",
            one_of({"none", "mixtral", "megatron", "switch"}));
    v.field("lbl_coef", s.lbl_coef, "Coefficient of the load-balancing loss.", at_least(0));
    v.field("lbl_scope", s.lbl_scope,
            "micro = f per micro-batch; global = f accumulated over the step's micro-batches "
            "(Demons in the Detail; Megatron's running form).",
            one_of({"micro", "global"}));
    v.field("lbl_pool", s.lbl_pool,
            "layers = the load-balancing loss and DynMoLE's router loss are computed once over the "
            "rows of every adapted site (HF Mixtral / Switch and MoE-PEFT concatenate all layers' "
            "router outputs); site = one loss per site, summed (Megatron); auto = as each reference: "
            "layers for mixtral, switch and dynmole, site for megatron.",
            one_of({"auto", "layers", "site"}));
    v.field("z_coef", s.z_coef, "Router z-loss coefficient (ST-MoE 0.001).", at_least(0));
    v.field("dynmole_beta", s.dynmole_beta, "dynmole: Tsallis entropy loss coefficient.", at_least(0));
    v.field("dynmole_alpha", s.dynmole_alpha, "dynmole: its load-balancing coefficient.", at_least(0));
    v.field("null_coef", s.null_coef, "null_experts: AdaMoE pooled-null load-balancing coefficient.", at_least(0));
}

} // namespace moe::routing
