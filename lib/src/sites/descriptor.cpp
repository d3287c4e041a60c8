// sites: SEMA's representation descriptors, loss records and expansion rule
// (see moe/sites/descriptor.hpp).
#include "moe/sites/descriptor.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "moe/nn/kernels.hpp"

namespace moe::sites {

// ---- kernels ------------------------------------------------------------------------------------
template <typename T>
void pool_tokens(T * pooled, const T * inp, int B, int Tn, int C) {
    const T inv = T(1) / T(Tn);
    for (int b = 0; b < B; ++b) {
        T * p = pooled + (int64_t)b * C;
        std::memcpy(p, inp + (int64_t)b * Tn * C, sizeof(T) * C);
        for (int t = 1; t < Tn; ++t) {
            const T * x = inp + ((int64_t)b * Tn + t) * C;
            for (int c = 0; c < C; ++c) p[c] += x[c];
        }
        if (Tn > 1)
            for (int c = 0; c < C; ++c) p[c] *= inv;
    }
}

template <typename T>
void rd_forward(T * loss, T * z, T * r, const T * u, const T * enc_w, const T * enc_b, const T * dec_w, const T * dec_b,
                int B, int C, int D) {
    if (B == 0) return;
    nn::linear_forward(z, u, enc_w, enc_b, B, C, D); // z (B,D)
    nn::linear_forward(r, z, dec_w, dec_b, B, D, C); // r (B,C)
    for (int b = 0; b < B; ++b) {
        const T * rb = r + (int64_t)b * C;
        const T * ub = u + (int64_t)b * C;
        double s = 0;
        for (int c = 0; c < C; ++c) {
            const double e = double(rb[c]) - double(ub[c]);
            s += e * e;
        }
        loss[b] = T(s / C);
    }
}

template <typename T>
void rd_backward(T * du, T * denc_w, T * denc_b, T * ddec_w, T * ddec_b, T * scratch, const T * dloss, const T * u,
                 const T * z, const T * r, const T * enc_w, const T * dec_w, int B, int C, int D) {
    if (B == 0) return;
    T * dr = scratch;                  // (B,C)
    T * dz = scratch + (int64_t)B * C; // (B,D)
    for (int b = 0; b < B; ++b) {
        const T g = dloss[b] * T(2) / T(C);
        for (int c = 0; c < C; ++c) dr[(int64_t)b * C + c] = g * (r[(int64_t)b * C + c] - u[(int64_t)b * C + c]);
    }
    // r = z dec_w^T + dec_b
    std::fill(dz, dz + (int64_t)B * D, T(0));
    nn::linear_backward(dz, ddec_w, ddec_b, dr, z, dec_w, B, D, C);
    // z = u enc_w^T + enc_b ; and loss depends on u directly through -(r - u)
    nn::linear_backward(du, denc_w, denc_b, dz, u, enc_w, B, C, D);
    if (du)
        for (int64_t i = 0; i < (int64_t)B * C; ++i) du[i] -= dr[i];
}

void LossRecords::init(int cap) {
    capacity = cap;
    buf.assign(cap, 0.0);
    head = len = 0;
}

void LossRecords::push(double loss) {
    buf[head] = loss;
    head = (head + 1) % capacity;
    if (len < capacity) ++len;
}

std::vector<double> LossRecords::values() const {
    std::vector<double> v;
    v.reserve(len);
    const int64_t start = len < capacity ? 0 : head;
    for (int64_t i = 0; i < len; ++i) v.push_back(buf[(start + i) % capacity]);
    return v;
}

double LossRecords::mean() const {
    if (len == 0) return 0.0;
    double s = 0;
    for (double x : values()) s += x; // oldest first: a fixed summation order
    return s / double(len);
}

double LossRecords::std() const {
    if (len < 2) return 0.0;
    const double m = mean();
    double s = 0;
    for (double x : values()) s += (x - m) * (x - m);
    return std::sqrt(s / double(len - 1));
}

double LossRecords::z(double loss) const {
    if (len <= 2) return 0.0;
    const double sd = std();
    if (!(sd > 0)) return 0.0;
    return std::fabs(loss - mean()) / sd;
}

bool expansion_rule(const double * z, int K, int B, double threshold, bool already_expanded, double * score) {
    double best = 0.0;
    if (K > 0 && B > 0) {
        best = INFINITY;
        for (int k = 0; k < K; ++k) {
            double s = 0;
            for (int b = 0; b < B; ++b) s += z[(int64_t)k * B + b];
            best = std::min(best, s / B);
        }
    }
    if (score) *score = best;
    return !already_expanded && K > 0 && B > 0 && best > threshold;
}

#define MOE_DESCRIPTOR_INSTANTIATE(T)                                                                                  \
    template void pool_tokens<T>(T *, const T *, int, int, int);                                                       \
    template void rd_forward<T>(T *, T *, T *, const T *, const T *, const T *, const T *, const T *, int, int, int);  \
    template void rd_backward<T>(T *, T *, T *, T *, T *, T *, const T *, const T *, const T *, const T *, const T *,  \
                                 const T *, int, int, int);

MOE_DESCRIPTOR_INSTANTIATE(float)
MOE_DESCRIPTOR_INSTANTIATE(double)

} // namespace moe::sites
