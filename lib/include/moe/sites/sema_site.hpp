// moe/sites/sema_site.hpp — self-expanding mixture of adapters at one site (SEMA, arXiv
// 2403.18886). With the site's input inp (N = B*T rows: T tokens per sample) and
// u_b = mean_t inp[b,t] the pooled input of sample b:
//
//     out += Σ_{k<K} w[b,k] · f_k(inp[b,t])        w[b,:] = softmax(W_r u_b + b_r)   (K > 1)
//
// f_k an expert of the bank (adapters/expert_bank.hpp): bottleneck (SEMA) or LoRA, one per slot.
// Each adapter of an expandable site has a representation descriptor (sites/descriptor.hpp),
// whose recent training losses give the shift score z_k(u). The site is a Linear site (its
// input and output those of the Linear) or a block site beside a ViT block's MLP (SEMA's
// placement: input the residual stream after attention, output added to the block's output).
//
// Parameters are declared for max_adapters slots up front (the arena allocates once); K of them
// are in use. Names:  <site>.sema.adapter<k>.{down_w (R,C), down_b (R), up_w (OC,R), up_b (OC)}
//                     or <site>.sema.adapter<k>.{lora_a (R,C), lora_b (OC,R)}
//                     <site>.sema.router<k>.{weight (C), bias (1)}      (expandable sites)
//                     <site>.sema.rd<k>.{enc_w (D,C), enc_b (D), dec_w (C,D), dec_b (C)}
// Which slots receive gradients is set per training phase (set_training); frozen slots only
// pass the input gradient, so "only the new router column trains" holds by construction.
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "moe/adapters/expert_bank.hpp"
#include "moe/core/params.hpp"
#include "moe/sites/descriptor.hpp"
#include "moe/sites/site.hpp"

namespace moe::sites {

// What a SEMA site is made of (the expand section's adapter and descriptor keys).
struct SemaSiteConfig {
    std::string adapter = "bottleneck"; // expert kind (adapters/registry.hpp)
    int rank = 16;                      // bottleneck width / LoRA rank
    double lora_alpha = 16.0;           // LoRA scale alpha / rank
    int rd_dim = 128;                   // descriptor width
    int buffer_size = 500;              // FIFO of descriptor losses
};

// ---- the site -----------------------------------------------------------------------------------
template <typename T>
class SemaSite final : public Site<T> {
  public:
    // slots: adapters the site can hold; expandable: router + descriptors.
    void declare(ParamStore<T> & s, const std::string & site, int C, int OC, const SemaSiteConfig & cfg, int slots,
                 bool expandable, bool descriptors);
    void bind(ParamStore<T> & s) override;
    // Buffers for up to N rows (B = N / tokens samples).
    void plan(int N, int tokens) override;

    void forward(T * out, const T * inp, int N, bool train) override;
    void backward(T * dinp, const T * dout, const T * inp, int N) override;

    // ---- state
    const std::string & name() const override { return site_; }
    bool expandable() const { return expandable_; }
    bool has_descriptors() const { return rd_; }
    int adapters() const { return K_; }
    int slots() const { return S_; }
    void set_adapters(int K); // use K slots (0..slots)
    // Which parameters receive gradients in backward: adapter slots, router columns.
    void set_training(std::vector<bool> adapters, std::vector<bool> router_cols);
    // Descriptors whose losses enter their FIFO on every training forward.
    void set_updating(std::vector<bool> rds) {
        rds.resize(S_, false);
        updating_ = std::move(rds);
    }
    const std::vector<bool> & updating() const { return updating_; }
    // Detection mode: evaluation forwards compute z (K,B) and the score of the batch.
    void set_detect(bool on) { detect_ = on; }
    const std::vector<double> & last_z() const { return z_; } // (K,B) of the last detect forward
    int last_batch() const { return B_; }
    LossRecords & records(int k) { return rec_.at(k); }
    const LossRecords & records(int k) const { return rec_.at(k); }
    // Data parallel (docs/distributed.md): with held records on, the losses of training forwards
    // are held here instead of entering the FIFOs (held(k): slot k's, in forward order, at most a
    // planned batch of them between clears), so that every process can enter the losses of every
    // shard of a step in shard order once the step is done.
    void set_hold_records(bool on) {
        hold_ = on;
        clear_held();
    }
    std::span<const double> held(int k) const { return {held_.data() + (size_t)k * Bmax_, (size_t)held_n_.at(k)}; }
    void clear_held() { std::fill(held_n_.begin(), held_n_.end(), 0); }

    // ---- descriptor phase
    // After a forward: Σ over training descriptors k of mean_b ℓ_k (the descriptor loss), and
    // its gradient into those descriptors' parameters (not into the input).
    double rd_loss_backward(const std::vector<bool> & train_rd);
    // The descriptors the site objective trains (objective_backward = rd_loss_backward of them).
    void set_descriptor_training(std::vector<bool> rds) { train_rd_ = std::move(rds); }
    // Multiplies the descriptor loss and its gradient (1 / micro-batches of a step, so that a step
    // of several micro-batches trains on their mean).
    void set_objective_scale(double s) { objective_scale_ = s; }
    double objective_backward() override { return rd_loss_backward(train_rd_); }
    // Per-sample ℓ_k of the last forward (B) — for tests.
    const T * rd_losses(int k) const { return rd_loss_.data() + (size_t)k * Bmax_; }

    // Parameter names of slot k (adapter, router column, descriptor) — for phase optimizers and
    // parameter counts.
    std::vector<std::string> adapter_params(int k) const;
    std::vector<std::string> router_params(int k) const;
    std::vector<std::string> rd_params(int k) const;
    // Router weights of the K adapters for the B samples of the last forward (B,K).
    const T * mixing_weights() const { return w_.data(); }

  private:
    std::string site_;
    SemaSiteConfig cfg_;
    int C_ = 0, OC_ = 0, D_ = 1, S_ = 1, K_ = 0, Tn_ = 1, Nmax_ = 0, Bmax_ = 0, N_ = 0, B_ = 0;
    bool expandable_ = false, rd_ = false, detect_ = false, train_ = false, hold_ = false;
    double objective_scale_ = 1.0;
    std::unique_ptr<adapters::ExpertBank<T>> bank_; // the S adapter slots
    // a slot's router column (weight (C), bias (1)) and descriptor (enc (D,C)+(D), dec (C,D)+(C));
    // g_*: their gradients
    struct Slot {
        int id_rw = -1, id_rb = -1, id_ew = -1, id_eb = -1, id_cw = -1, id_cb = -1;
        T *rw = nullptr, *rb = nullptr, *ew = nullptr, *eb = nullptr, *cw = nullptr, *cb = nullptr;
        T *g_rw = nullptr, *g_rb = nullptr, *g_ew = nullptr, *g_eb = nullptr, *g_cw = nullptr, *g_cb = nullptr;
    };
    std::vector<Slot> slot_;
    std::vector<bool> train_ad_, train_rc_, updating_, train_rd_;
    std::vector<LossRecords> rec_;
    // planned buffers
    std::vector<T> u_, logits_, w_, y_, dy_, dw_, dlog_, du_;
    std::vector<T> rd_z_, rd_r_, rd_loss_, rd_scratch_, rd_dloss_;
    std::vector<double> z_;
    std::vector<double> held_; // (slots, Bmax): the held losses (set_hold_records)
    std::vector<int> held_n_;
};

extern template class SemaSite<float>;
extern template class SemaSite<double>;

} // namespace moe::sites
