// moe/expand/sema_site.hpp — self-expanding mixture of adapters at one Linear site (SEMA,
// ../shared/reference/sema.md). With the site's input inp (N = B*T rows: T tokens per sample)
// and u_b = mean_t inp[b,t] the pooled input of sample b:
//
//     out += Σ_{k<K} w[b,k] · f_k(inp[b,t])        w[b,:] = softmax(W_r u_b + b_r)   (K > 1)
//     f_k = up_k(ReLU(down_k(x)))  (bottleneck, SEMA)   or   s · B_k A_k x  (LoRA)
//
// Each adapter of an expandable site has a representation descriptor (RD): a linear
// autoencoder on u, per-sample loss ℓ_k(u) = (1/C)·‖dec_k(enc_k(u)) − u‖², whose recent
// training losses (a FIFO of buffer_size) give μ_k and the unbiased σ_k, and the shift score
// z_k(u) = |ℓ_k(u) − μ_k| / σ_k (0 while the FIFO holds ≤ 2 losses).
//
// Parameters are declared for max_adapters slots up front (the arena allocates once); K of them
// are in use. Names:  <site>.sema.adapter<k>.{down_w (R,C), down_b (R), up_w (OC,R), up_b (OC)}
//                     or <site>.sema.adapter<k>.{lora_a (R,C), lora_b (OC,R)}
//                     <site>.sema.router<k>.{weight (C), bias (1)}      (expandable sites)
//                     <site>.sema.rd<k>.{enc_w (D,C), enc_b (D), dec_w (C,D), dec_b (C)}
// Which slots receive gradients is set per training phase (set_training); frozen slots only
// pass the input gradient, so "only the new router column trains" holds by construction.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "moe/core/params.hpp"
#include "moe/expand/config.hpp"
#include "moe/nn/modules.hpp"

namespace moe::expand {

// ---- kernels ------------------------------------------------------------------------------------
// pooled (B,C) = mean over the T rows of each sample of inp (B*T, C)
template <typename T>
void pool_tokens(T * pooled, const T * inp, int B, int Tn, int C);

// Linear autoencoder on u (B,C): z (B,D) = u enc_w^T + enc_b ; r (B,C) = z dec_w^T + dec_b ;
// loss[b] = (1/C)·‖r_b − u_b‖²  (per sample)
template <typename T>
void rd_forward(T * loss, T * z, T * r, const T * u, const T * enc_w, const T * enc_b, const T * dec_w,
                const T * dec_b, int B, int C, int D);
// Backward of Σ_b dloss[b]·loss[b]: parameter grads and du (B,C) accumulate; null ones are
// skipped. scratch (B, C + D).
template <typename T>
void rd_backward(T * du, T * denc_w, T * denc_b, T * ddec_w, T * ddec_b, T * scratch, const T * dloss,
                 const T * u, const T * z, const T * r, const T * enc_w, const T * dec_w, int B, int C, int D);

// The FIFO of a descriptor's recent losses and its statistics (double precision).
struct LossRecords {
    int capacity = 500;
    std::vector<double> buf; // FIFO, oldest first once read through values()
    int64_t head = 0;        // next write position
    int64_t len = 0;
    void init(int cap);
    void push(double loss);
    std::vector<double> values() const; // oldest first
    double mean() const;
    double std() const;                  // unbiased (N-1); 0 when len < 2
    // |loss - mean| / std; 0 while len <= 2 (and when std == 0)
    double z(double loss) const;
};

// The expansion rule of one site for one detection batch: z (K,B) row-major; expands when the
// site has not expanded in this task and min_k mean_b z[k,b] > threshold. Returns the score
// min_k mean_b z[k,b] through *score (0 when K or B is 0).
bool expansion_rule(const double * z, int K, int B, double threshold, bool already_expanded, double * score);

// ---- the site -----------------------------------------------------------------------------------
template <typename T>
class SemaSite final : public nn::SiteHook<T> {
  public:
    // slots: adapters the site can hold; expandable: router + descriptors.
    void declare(ParamStore<T> & s, const std::string & site, int C, int OC, const ExpandConfig & cfg,
                 int slots, bool expandable, bool descriptors);
    void bind(ParamStore<T> & s);
    // Buffers for up to N rows (B = N / tokens samples).
    void plan(int N, int tokens);

    void forward(T * out, const T * inp, int N, bool train) override;
    void backward(T * dinp, const T * dout, const T * inp, int N) override;

    // ---- state
    const std::string & name() const { return site_; }
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

    // ---- descriptor phase
    // After a forward: Σ over training descriptors k of mean_b ℓ_k (the descriptor loss), and
    // its gradient into those descriptors' parameters (not into the input).
    double rd_loss_backward(const std::vector<bool> & train_rd);
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
    void adapter_forward(int k, T * y, const T * inp, int N);
    std::string site_;
    ExpandConfig cfg_;
    int C_ = 0, OC_ = 0, R_ = 1, D_ = 1, S_ = 1, K_ = 0, Tn_ = 1, Nmax_ = 0, Bmax_ = 0, N_ = 0, B_ = 0;
    bool expandable_ = false, rd_ = false, lora_ = false, detect_ = false, train_ = false;
    T lscale_ = 1;
    struct Slot {
        int id_dw = -1, id_db = -1, id_uw = -1, id_ub = -1, id_rw = -1, id_rb = -1;
        int id_ew = -1, id_eb = -1, id_cw = -1, id_cb = -1;
        T *dw = nullptr, *db = nullptr, *uw = nullptr, *ub = nullptr, *rw = nullptr, *rb = nullptr;
        T *ew = nullptr, *eb = nullptr, *cw = nullptr, *cb = nullptr;
        T *g_dw = nullptr, *g_db = nullptr, *g_uw = nullptr, *g_ub = nullptr, *g_rw = nullptr, *g_rb = nullptr;
        T *g_ew = nullptr, *g_eb = nullptr, *g_cw = nullptr, *g_cb = nullptr;
    };
    std::vector<Slot> slot_;
    std::vector<bool> train_ad_, train_rc_, updating_;
    std::vector<LossRecords> rec_;
    // planned buffers
    std::vector<T> u_, logits_, w_, y_, hpre_, h_, dh_, dy_, dw_, dlog_, du_;
    std::vector<T> rd_z_, rd_r_, rd_loss_, rd_scratch_, rd_dloss_;
    std::vector<double> z_;
};

extern template class SemaSite<float>;
extern template class SemaSite<double>;

} // namespace moe::expand
