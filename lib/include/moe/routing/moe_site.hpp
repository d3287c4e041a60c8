// moe/routing/moe_site.hpp — a mixture of adapter experts at one Linear site:
//
//     y = W x + b + Σ_{e ∈ S(x)} g_e(x) · Δ_e(x)        Δ_e = s · B_e A_e dropout(x)  (LoRA)
//                                                         or up_e(ReLU(down_e(x)))   (bottleneck)
//
// The router (by name, with the reference defaults of ../shared/reference/routing.md) selects
// S(x) and computes the gates g; experts run on contiguous token blocks through sparse dispatch;
// auxiliary losses report their un-scaled value and add their gradient in backward. A single
// LoRA is the E = 1 case (router "none"). Parameters (stacked per site):
//   <site>.experts.lora_a (E,R,C)   <site>.experts.lora_b (E,OC,R)
//   <site>.experts.down_w (E,R,C) down_b (E,R) up_w (E,OC,R) up_b (E,OC)      (bottleneck)
//   <site>.router.weight (E+M, C)   <site>.router.expert_bias (E, frozen; sigmoid_bias)
//   <site>.router.module_logits (n_tasks, q*S)   (task / Poly)
//   <site>.experts.poly_a (q,S,C/q,R) <site>.experts.poly_b (q,S,R,OC/q)         (task / Poly)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "moe/core/params.hpp"
#include "moe/core/rng.hpp"
#include "moe/nn/modules.hpp"
#include "moe/routing/routing.hpp"

namespace moe::routing {

struct AdapterConfig {
    std::vector<std::string> sites;   // glob patterns over site names, e.g. "blocks.*.mlp.fc1"
    std::string kind = "lora";        // lora | bottleneck
    int experts = 1;                  // E
    int rank = 8;                     // R (bottleneck width for kind = bottleneck)
    double alpha = 8.0;               // LoRA scale s = alpha / R (or alpha / sqrt(R) with rslora)
    bool rslora = false;
    double dropout = 0.0;             // dropout on the LoRA input (training only)
    std::string init = "kaiming";     // kaiming (PEFT: A ~ U(±1/sqrt(C)), B = 0) | gaussian (A ~ N(0, 1/R))
};

struct RouterConfig {
    std::string kind = "topk";  // none | soft | topk | switch | topp | dynmole | expert_choice |
                                // null_experts | sigmoid_bias | random_fixed | task
    int k = 2;                  // experts per token (topk, null_experts, sigmoid_bias, random_fixed final k)
    bool renormalize = true;    // topk: renormalise the selected probabilities (Mixtral); false = MoLA-style raw
    double jitter = 0.0;        // multiplicative input jitter U(1-eps, 1+eps) on the router input (training)
    double capacity_factor = 1.0; // switch: capacity = ceil(cf * N / E); expert_choice: k_c = cf * N / E
    double top_p = 0.8;         // topp (MixLoRA-dynamic 0.8); dynmole uses its own default 0.75 below
    double dynmole_top_p = 0.75;
    int keep_top_k = 2;         // dynmole
    double entropy_threshold = 0.9; // dynmole
    double entropy_q = 1.1;     // dynmole Tsallis index
    double entropy_eps = 1e-5;  // dynmole
    int null_experts = 0;       // null_experts: M
    double bias_update_rate = 1e-3; // sigmoid_bias: u
    double route_scale = 1.0;   // sigmoid_bias: gates multiplied after renormalisation
    double init_std = 0.02;     // router weight init N(0, init_std^2) (MixLoRA router_init_range)
    int k_start = 1;            // random_fixed: active experts at step 0
    int64_t k_grow_steps = 0;   // random_fixed: steps over which k grows linearly to k
    int n_splits = 1;           // task: heads q (MHR when > 1)
    int n_tasks = 0;            // task: number of task ids (0 = the number of tasks in the data)
    double temperature = 1.0;   // task: relaxed-Bernoulli temperature
};

struct BalanceConfig {
    std::string lbl = "none";   // none | mixtral | megatron | switch   (named convention, no rescaling)
    double lbl_coef = 0.0;
    std::string lbl_scope = "micro"; // micro | global (f accumulated over the step's micro-batches)
    std::string lbl_pool = "auto";   // layers: f and P pooled over all adapted sites (HF Mixtral /
                                     // Switch concatenate every layer's router logits); site: one
                                     // loss per site, summed (Megatron); auto: layers for mixtral
                                     // and switch, site for megatron
    double z_coef = 0.0;        // router z-loss
    double dynmole_beta = 0.01; // dynmole: Tsallis entropy term
    double dynmole_alpha = 0.001; // dynmole: its soft load-balancing term
    double null_coef = 0.0;     // null_experts: AdaMoE pooled-null LBL
};

// Routing telemetry of one site, accumulated over forwards until reset_stats().
struct SiteStats {
    std::vector<int64_t> load;  // (E) (token, expert) assignments
    int64_t tokens = 0, dropped = 0;
    double entropy_sum = 0;     // Σ_tokens H(p) (natural log, over the router's distribution)
    double active_sum = 0;      // Σ_tokens #true experts used
    double aux_lbl = 0, aux_z = 0, aux_dyn = 0, aux_null = 0; // Σ over forwards of un-scaled values
    int64_t forwards = 0;
    // (token, expert) assignments by task (n_tasks, E) and by label (n_classes, E) — the
    // specialisation analysis of moe-eval; sized by set_analysis(), empty otherwise
    std::vector<int64_t> task_load, class_load;
};

template <typename T>
class MoeSite final : public nn::SiteHook<T> {
  public:
    void declare(ParamStore<T> & s, const std::string & site, int C, int OC, const AdapterConfig & a,
                 const RouterConfig & r, const BalanceConfig & b, const nn::TrainablePred & tr);
    void bind(ParamStore<T> & s);
    void plan(int N);
    // Per-forward context: task id of each of the n_samples samples of the batch (row n of the
    // site belongs to sample n * n_samples / N), the optimizer step (schedules), and the stream
    // that seeds jitter and dropout (same stream => same noise).
    void set_context(const int32_t * task, int n_samples, int64_t step, uint64_t stream);
    // Multiplies every auxiliary-loss gradient (1 / grad_accum when micro-batches are averaged).
    void set_aux_scale(double s) { aux_scale_ = s; }
    // Telemetry is collected only while enabled (the trainer disables it during evaluation).
    void set_stats_enabled(bool on) { stats_on_ = on; }
    void forward(T * out, const T * inp, int N, bool train) override;
    void backward(T * dinp, const T * dout, const T * inp, int N) override;
    // After an optimizer step: DeepSeek bias update from the step's load; reset the step counts.
    void after_step();
    // Weighted sum of this site's auxiliary losses of the last forward (for the total loss);
    // in pooled LBL mode the load-balancing term is not included (pool_lbl returns it).
    double aux_loss() const { return last_aux_; }
    // Pooled load balancing (see pool_lbl): per-forward statistics and the pooled f.
    bool lbl_pooled() const { return pooled_; }
    void set_lbl_pooled(bool on) { pooled_ = on; }
    const std::vector<int64_t> & lbl_counts() const { return lbl_counts_; } // (E) this forward
    const std::vector<double> & prob_sums() const { return psum_; }          // (E) Σ_rows p[n,e]
    int rows() const { return N_; }
    int lbl_slots() const { return Kslots_; }
    // f_eff (E) used by backward: coef * E * f_eff[e] / N_site is added to dprobs[n,e]; value is
    // the pooled (un-scaled) loss, recorded in this site's telemetry.
    void set_pooled_lbl(const double * f_eff, double value);
    const SiteStats & stats() const { return stats_; }
    void reset_stats();
    // adapter multiply-adds spent in the last forward / those of running every expert densely
    double flops_ratio() const;
    const std::string & name() const { return site_; }
    int experts() const { return E_; }
    // Inference-time overrides (moe-eval); call before plan().
    //   k > 0: another top-k at evaluation (self-slimmable evaluation)
    //   force: "" (the router), "uniform" (every expert, gate 1/E), "oracle" (expert = task id mod E)
    //   disabled: experts removed from routing (their logits set to -inf before selection)
    void set_eval_k(int k) { eval_k_ = k; }
    void set_force(const std::string & mode) { force_ = mode; }
    void set_disabled(std::vector<int> experts) { disabled_ = std::move(experts); }
    // Collect task x expert and label x expert assignment counts (labels via set_labels).
    void set_analysis(int n_tasks, int n_classes);
    void set_labels(const int32_t * labels) { labels_ = labels; }

  private:
    int K_now(bool train) const;
    void route(const T * inp, int N, bool train);
    // task (Poly / MHR): per-task weights over skills, parameters mixed before the matmul
    void forward_task(T * out, const T * inp, int N, bool train);
    void backward_task(T * dinp, const T * dout, int N);
    int q_ = 1, n_tasks_ = 1;
    int id_phi_ = -1;
    T *phi_ = nullptr, *dphi_ = nullptr;
    std::vector<T> mixA_, mixB_, pw_, pz_, pu_, dmixA_, dmixB_, dpw_;
    std::vector<int32_t> toff_;

    std::string site_;
    AdapterConfig ac_;
    RouterConfig rc_;
    BalanceConfig bc_;
    int C_ = 0, OC_ = 0, E_ = 1, R_ = 1, M_ = 0, P_ = 1, K_ = 1, Nmax_ = 0;
    T scale_ = 1;
    bool has_router_ = false;
    bool rows_in_place_ = false; // LoRA experts multiply their token rows in place (no xg_ / yg_ blocks)
    int id_a_ = -1, id_b_ = -1, id_bd_ = -1, id_bu_ = -1, id_rw_ = -1, id_bias_ = -1;
    T *a_ = nullptr, *b_ = nullptr, *bd_ = nullptr, *bu_ = nullptr, *rw_ = nullptr, *bias_ = nullptr;
    T *da_ = nullptr, *db_ = nullptr, *dbd_ = nullptr, *dbu_ = nullptr, *drw_ = nullptr;
    // per-forward state (planned)
    std::vector<T> xr_, noise_, logits_, probs_, gate_, xd_, mask_, xg_, h_, hpre_, yg_;
    std::vector<T> dyg_, dxg_, dh_, dgate_, dprobs_, dlogits_, dxd_, ec_gate_, wdense_, ent_;
    std::vector<T> lse_; // (N) the router rows' logsumexp (z-loss, entropy telemetry)
    std::vector<T> hg_, gg_, dgg_; // LoRA: gate-scaled h (NK,R); gates and their grads in dispatch order (NK)
    std::vector<int32_t> idx_, perm_, pos_, offsets_, picks_; // pos_: the inverse of perm_
    std::vector<int64_t> step_load_, micro_counts_, global_counts_;
    int64_t global_tokens_ = 0;
    std::vector<T> f_;
    bool pooled_ = false;
    std::vector<int64_t> lbl_counts_;
    std::vector<double> psum_;
    int N_ = 0, Kslots_ = 1, routed_ = 0;
    bool train_ = false;
    double last_aux_ = 0;
    SiteStats stats_, off_stats_; // off_stats_ absorbs the counts while telemetry is disabled
    // context
    const int32_t * task_ = nullptr;
    int n_samples_ = 1;
    double aux_scale_ = 1.0;
    bool stats_on_ = true;
    int64_t step_ = 0;
    uint64_t seed_ = 0;
    Rng rng_;
    int eval_k_ = 0;
    std::string force_;
    std::vector<int> disabled_;
    const int32_t * labels_ = nullptr;
    int an_tasks_ = 0, an_classes_ = 0;
};

// Pooled load-balancing loss over sites (HF Mixtral / Switch pool every layer's router
// statistics): f from the summed counts over all rows of all sites (accumulated over the step's
// micro-batches when scope is global: pass the step's running counts in acc_counts / acc_rows,
// which this updates in training and the caller resets after each optimizer step), P from the
// summed probabilities; value = E * Σ_e f_e P_e. Gives every site its share of the gradient and
// returns the un-scaled value (0 when the sites are not in pooled mode).
template <typename T>
double pool_lbl(const std::vector<MoeSite<T> *> & sites, const BalanceConfig & bc, bool train,
                std::vector<int64_t> & acc_counts, int64_t & acc_rows);

extern template class MoeSite<float>;
extern template class MoeSite<double>;

} // namespace moe::routing
