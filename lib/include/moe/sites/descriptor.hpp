// moe/sites/descriptor.hpp — SEMA's representation descriptors (Wang et al. 2024, "Self-Expansion
// of Pre-trained Models with Mixture of Adapters for Continual Learning", arXiv 2403.18886;
// huizhang0812/SEMA backbone/sema_components.py): a linear autoencoder on the token mean u of a
// site's input, per-sample loss l(u) = (1/C) |dec(enc(u)) - u|^2, a FIFO of recent training losses
// and the z-score |l - mu| / sigma, and the expansion rule over a site's descriptors.
#pragma once
#include <cstdint>
#include <vector>

namespace moe::sites {

// ---- kernels ------------------------------------------------------------------------------------
// pooled (B,C) = mean over the T rows of each sample of inp (B*T, C)
template <typename T>
void pool_tokens(T * pooled, const T * inp, int B, int Tn, int C);

// Linear autoencoder on u (B,C): z (B,D) = u enc_w^T + enc_b ; r (B,C) = z dec_w^T + dec_b ;
// loss[b] = (1/C)·‖r_b − u_b‖²  (per sample)
template <typename T>
void rd_forward(T * loss, T * z, T * r, const T * u, const T * enc_w, const T * enc_b, const T * dec_w, const T * dec_b,
                int B, int C, int D);
// Backward of Σ_b dloss[b]·loss[b]: parameter grads and du (B,C) accumulate; null ones are
// skipped. scratch (B, C + D).
template <typename T>
void rd_backward(T * du, T * denc_w, T * denc_b, T * ddec_w, T * ddec_b, T * scratch, const T * dloss, const T * u,
                 const T * z, const T * r, const T * enc_w, const T * dec_w, int B, int C, int D);

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
    double std() const; // unbiased (N-1); 0 when len < 2
    // |loss - mean| / std; 0 while len <= 2 (and when std == 0)
    double z(double loss) const;
};

// The expansion rule of one site for one detection batch: z (K,B) row-major; expands when the
// site has not expanded in this task and min_k mean_b z[k,b] > threshold. Returns the score
// min_k mean_b z[k,b] through *score (0 when K or B is 0).
bool expansion_rule(const double * z, int K, int B, double threshold, bool already_expanded, double * score);

} // namespace moe::sites
