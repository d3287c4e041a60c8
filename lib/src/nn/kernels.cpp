// nn kernels (see moe/nn/kernels.hpp for the conventions).
#include "moe/nn/kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "moe/blas/gemm.hpp"
#include "moe/core/parallel.hpp"
#include "moe/nn/fast_math.hpp"

namespace moe::nn {

using blas::gemm;
using par::parallel_for;

// Threading (moe/core/parallel.hpp): a kernel splits its rows (or elements) over the pool when
// there are at least kParElems elements to touch; row reductions that sum over n (bias and
// LayerNorm weight gradients) split their columns instead, so every output is summed in the
// serial order (elementwise work needs no order at all).
constexpr int64_t kParElems = 1 << 14;
inline int64_t min_rows(int64_t C) { return std::max<int64_t>(1, kParElems / std::max<int64_t>(C, 1)); }

// ------------------------------------------------------------------------------------- Linear
template <typename T>
void linear_forward(T * out, const T * inp, const T * w, const T * b, int N, int C, int OC) {
    // out (N,OC) = inp (N,C) @ w^T (C,OC)
    if (b) {
        parallel_for(N, min_rows(OC), [&](int64_t n0, int64_t n1) {
            for (int64_t n = n0; n < n1; ++n) std::memcpy(out + n * OC, b, sizeof(T) * OC);
        });
        gemm<T>(false, true, N, OC, C, T(1), inp, C, w, C, T(1), out, OC);
    } else {
        gemm<T>(false, true, N, OC, C, T(1), inp, C, w, C, T(0), out, OC);
    }
}

template <typename T>
void linear_backward(T * dinp, T * dw, T * db, const T * dout, const T * inp, const T * w, int N, int C, int OC) {
    // forward was: out[n,o] = b[o] + sum_c inp[n,c] * w[o,c]
    if (dinp) gemm<T>(false, false, N, C, OC, T(1), dout, OC, w, C, T(1), dinp, C); // dinp += dout @ w
    if (dw) gemm<T>(true, false, OC, C, N, T(1), dout, OC, inp, C, T(1), dw, C);    // dw += dout^T @ inp
    if (db) { // columns split: db[o] sums n = 0..N-1 in order on every thread count
        parallel_for(
            OC, 16 * min_rows(N),
            [&](int64_t o0, int64_t o1) {
                for (int n = 0; n < N; ++n) {
                    const T * d = dout + (int64_t)n * OC;
                    for (int64_t o = o0; o < o1; ++o) db[o] += d[o];
                }
            },
            16);
    }
}

// ------------------------------------------------------------------------------------- LayerNorm
// Row sums in 16 interleaved partial sums (lane j takes c = j mod 16), folded pairwise: a fixed
// order that gcc can vectorise (a plain running sum is a serial chain it may not reorder).
template <typename T>
static inline T fold16(T * acc) {
    for (int w = 8; w > 0; w /= 2)
        for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
    return acc[0];
}
// sum_c x[c]
template <typename T>
static inline T sum16(const T * x, int C) {
    T acc[16] = {}, tail = 0;
    int c = 0;
    for (; c + 16 <= C; c += 16)
        for (int j = 0; j < 16; ++j) acc[j] += x[c + j];
    for (; c < C; ++c) tail += x[c];
    return fold16(acc) + tail;
}
// sum_c (x[c] - m)^2
template <typename T>
static inline T sqdev16(const T * x, T m, int C) {
    T acc[16] = {}, tail = 0;
    int c = 0;
    for (; c + 16 <= C; c += 16)
        for (int j = 0; j < 16; ++j) {
            const T d = x[c + j] - m;
            acc[j] += d * d;
        }
    for (; c < C; ++c) {
        const T d = x[c] - m;
        tail += d * d;
    }
    return fold16(acc) + tail;
}

template <typename T>
void layernorm_forward(T * out, T * mean, T * rstd, const T * inp, const T * w, const T * b, int N, int C, T eps) {
    parallel_for(N, min_rows(C), [&](int64_t n0, int64_t n1) {
        for (int64_t n = n0; n < n1; ++n) {
            const T * x = inp + n * C;
            const T m = sum16(x, C) / C;
            const T v = sqdev16(x, m, C) / C;
            const T s = T(1) / std::sqrt(v + eps);
            T * o = out + n * C;
            for (int c = 0; c < C; ++c) o[c] = (x[c] - m) * s * w[c] + b[c];
            mean[n] = m;
            rstd[n] = s;
        }
    });
}

template <typename T>
void layernorm_backward(T * dinp, T * dw, T * db, const T * dout, const T * inp, const T * w, const T * mean,
                        const T * rstd, int N, int C) {
    // forward was: xhat = (x - mean) * rstd ; out = xhat * w + b
    // Two passes: the input gradient row by row (rows split over the threads), then dw and db
    // column by column (columns split), each column summed over n in order.
    // (one fused scalar pass for the two row means measured faster than 16-lane sums at C = 192)
    if (dinp) {
        parallel_for(N, min_rows(C), [&](int64_t n0, int64_t n1) {
            for (int64_t n = n0; n < n1; ++n) {
                const T * x = inp + n * C;
                const T * d = dout + n * C;
                const T m = mean[n], s = rstd[n];
                T dnorm_mean = 0, dnorm_norm_mean = 0;
                for (int c = 0; c < C; ++c) {
                    const T xhat = (x[c] - m) * s;
                    const T dn = w[c] * d[c];
                    dnorm_mean += dn;
                    dnorm_norm_mean += dn * xhat;
                }
                dnorm_mean /= C;
                dnorm_norm_mean /= C;
                T * di = dinp + n * C;
                for (int c = 0; c < C; ++c) {
                    const T xhat = (x[c] - m) * s;
                    di[c] += (w[c] * d[c] - dnorm_mean - xhat * dnorm_norm_mean) * s;
                }
            }
        });
    }
    if (dw || db) {
        parallel_for(
            C, 16 * min_rows(N),
            [&](int64_t c0, int64_t c1) {
                for (int n = 0; n < N; ++n) {
                    const T * x = inp + (int64_t)n * C;
                    const T * d = dout + (int64_t)n * C;
                    const T m = mean[n], s = rstd[n];
                    if (db)
                        for (int64_t c = c0; c < c1; ++c) db[c] += d[c];
                    if (dw)
                        for (int64_t c = c0; c < c1; ++c) dw[c] += (x[c] - m) * s * d[c];
                }
            },
            16);
    }
}

// ------------------------------------------------------------------------------------- activations
// erf and exp: float uses the vectorisable erf_f32 / exp_f32 (fast_math.hpp, < 1 ulp); double
// keeps libm, so the gradient checks test the exact maths.
static inline float erf_t(float x) { return erf_f32(x); }
static inline double erf_t(double x) { return std::erf(x); }
static inline float exp_t(float x) { return exp_f32(x); }
static inline double exp_t(double x) { return std::exp(x); }

template <typename T>
static inline T gelu1(T x) {
    return T(0.5) * x * (T(1) + erf_t(x * T(0.70710678118654752440)));
}
template <typename T>
static inline T gelu1_grad(T x) {
    // d/dx x Phi(x) = Phi(x) + x phi(x)
    const T cdf = T(0.5) * (T(1) + erf_t(x * T(0.70710678118654752440)));
    const T pdf = exp_t(T(-0.5) * x * x) * T(0.39894228040143267794);
    return std::fma(x, pdf, cdf);
}

template <typename T>
void gelu_forward(T * out, const T * inp, int64_t n) {
    parallel_for(
        n, kParElems,
        [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) out[i] = gelu1(inp[i]);
        },
        16);
}
template <typename T>
void gelu_backward(T * dinp, const T * inp, const T * dout, int64_t n) {
    // forward was: out = x * Phi(x)
    parallel_for(
        n, kParElems,
        [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) dinp[i] += dout[i] * gelu1_grad(inp[i]);
        },
        16);
}
template <typename T>
void bias_gelu_forward(T * out, T * x, const T * b, int N, int C) {
    parallel_for(N, min_rows(C), [&](int64_t n0, int64_t n1) {
        for (int64_t n = n0; n < n1; ++n) {
            T * xr = x + n * C;
            T * o = out + n * C;
            if (b) {
                for (int c = 0; c < C; ++c) {
                    const T v = xr[c] + b[c];
                    xr[c] = v;
                    o[c] = gelu1(v);
                }
            } else {
                for (int c = 0; c < C; ++c) o[c] = gelu1(xr[c]);
            }
        }
    });
}
template <typename T>
void relu_forward(T * out, const T * inp, int64_t n) {
    parallel_for(
        n, kParElems,
        [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) out[i] = inp[i] > T(0) ? inp[i] : T(0);
        },
        16);
}
template <typename T>
void relu_backward(T * dinp, const T * inp, const T * dout, int64_t n) {
    parallel_for(
        n, kParElems,
        [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) dinp[i] += inp[i] > T(0) ? dout[i] : T(0);
        },
        16);
}

template <typename T>
void residual_forward(T * out, const T * a, const T * b, int64_t n) {
    parallel_for(
        n, kParElems,
        [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) out[i] = a[i] + b[i];
        },
        16);
}
template <typename T>
void add_inplace(T * dst, const T * src, int64_t n) {
    parallel_for(
        n, kParElems,
        [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) dst[i] += src[i];
        },
        16);
}

template <typename T>
void zero(T * dst, int64_t n) {
    parallel_for(
        n, 4 * kParElems, [&](int64_t i0, int64_t i1) { std::memset(dst + i0, 0, sizeof(T) * (i1 - i0)); }, 16);
}

// ------------------------------------------------------------------------------------- patches, tokens
template <typename T>
void patchify_forward(T * patches, const T * img, int B, int Cin, int H, int W, int ps) {
    const int GH = H / ps, GW = W / ps, P = GH * GW, D = Cin * ps * ps;
    for (int b = 0; b < B; ++b)
        for (int gy = 0; gy < GH; ++gy)
            for (int gx = 0; gx < GW; ++gx) {
                T * dst = patches + ((int64_t)b * P + gy * GW + gx) * D;
                for (int c = 0; c < Cin; ++c)
                    for (int py = 0; py < ps; ++py) {
                        const T * src = img + (((int64_t)b * Cin + c) * H + gy * ps + py) * W + gx * ps;
                        std::memcpy(dst + (c * ps + py) * ps, src, sizeof(T) * ps);
                    }
            }
}

template <typename T>
void tokens_forward(T * out, const T * emb, const T * cls, const T * pos, int B, int P, int C) {
    const int Tn = P + 1;
    for (int b = 0; b < B; ++b) {
        T * o = out + (int64_t)b * Tn * C;
        for (int c = 0; c < C; ++c) o[c] = cls[c] + pos[c];
        for (int p = 0; p < P; ++p) {
            const T * e = emb + ((int64_t)b * P + p) * C;
            const T * ps = pos + (int64_t)(p + 1) * C;
            T * op = o + (int64_t)(p + 1) * C;
            for (int c = 0; c < C; ++c) op[c] = e[c] + ps[c];
        }
    }
}

template <typename T>
void tokens_backward(T * demb, T * dcls, T * dpos, const T * dout, int B, int P, int C) {
    const int Tn = P + 1;
    for (int b = 0; b < B; ++b) {
        const T * d = dout + (int64_t)b * Tn * C;
        if (dcls)
            for (int c = 0; c < C; ++c) dcls[c] += d[c];
        if (dpos)
            for (int64_t i = 0; i < (int64_t)Tn * C; ++i) dpos[i] += d[i];
        if (demb) {
            T * de = demb + (int64_t)b * P * C;
            for (int64_t i = 0; i < (int64_t)P * C; ++i) de[i] += d[C + i];
        }
    }
}

// ------------------------------------------------------------------------------------- attention
template <typename T>
void attention_forward(T * out, T * att, const T * qkv, int B, int Tn, int C, int NH, bool causal) {
    const int hs = C / NH, C3 = 3 * C;
    const T scale = T(1) / std::sqrt(T(hs));
    // one (sample, head) pair per iteration, the pairs split over the threads
    parallel_for((int64_t)B * NH, std::max<int64_t>(1, kParElems / ((int64_t)Tn * Tn)), [&](int64_t p0, int64_t p1) {
        for (int64_t bh = p0; bh < p1; ++bh) {
            const int b = int(bh / NH), h = int(bh % NH);
            const T * q = qkv + (int64_t)b * Tn * C3 + h * hs;
            const T * k = q + C;
            const T * v = q + 2 * C;
            T * a = att + bh * Tn * Tn;
            // preatt (T,T) = scale * q (T,hs) @ k^T (hs,T)
            gemm<T>(false, true, Tn, Tn, hs, scale, q, C3, k, C3, T(0), a, Tn);
            for (int t = 0; t < Tn; ++t) {
                T * row = a + (int64_t)t * Tn;
                const int valid = causal ? t + 1 : Tn;
                T mx = row[0];
                for (int j = 1; j < valid; ++j) mx = std::max(mx, row[j]);
                for (int j = 0; j < valid; ++j) row[j] = exp_t(row[j] - mx); // vectorised exp, then the sum
                const T inv = T(1) / sum16(row, valid);
                for (int j = 0; j < valid; ++j) row[j] *= inv;
                for (int j = valid; j < Tn; ++j) row[j] = T(0);
            }
            // out_h (T,hs) = att (T,T) @ v (T,hs)
            gemm<T>(false, false, Tn, hs, Tn, T(1), a, Tn, v, C3, T(0), out + (int64_t)b * Tn * C + h * hs, C);
        }
    });
}

template <typename T>
void attention_backward(T * dqkv, T * datt_all, const T * dout, const T * qkv, const T * att, int B, int Tn, int C,
                        int NH) {
    const int hs = C / NH, C3 = 3 * C;
    const T scale = T(1) / std::sqrt(T(hs));
    parallel_for((int64_t)B * NH, std::max<int64_t>(1, kParElems / ((int64_t)Tn * Tn)), [&](int64_t p0, int64_t p1) {
        for (int64_t bh = p0; bh < p1; ++bh) {
            const int b = int(bh / NH), h = int(bh % NH);
            const T * q = qkv + (int64_t)b * Tn * C3 + h * hs;
            const T * k = q + C;
            const T * v = q + 2 * C;
            T * datt = datt_all + bh * Tn * Tn;
            T * dq = dqkv + (int64_t)b * Tn * C3 + h * hs;
            T * dk = dq + C;
            T * dv = dq + 2 * C;
            const T * a = att + bh * Tn * Tn;
            const T * dout_h = dout + (int64_t)b * Tn * C + h * hs;
            // forward was: out_h = att @ v   so   dv += att^T @ dout_h ; datt = dout_h @ v^T
            gemm<T>(true, false, Tn, hs, Tn, T(1), a, Tn, dout_h, C, T(1), dv, C3);
            gemm<T>(false, true, Tn, Tn, hs, T(1), dout_h, C, v, C3, T(0), datt, Tn);
            // forward was: att = softmax(preatt) row-wise   so   dpre = att * (datt - sum(datt * att))
            // (masked entries have att = 0, so they get dpre = 0)
            for (int t = 0; t < Tn; ++t) {
                const T * ar = a + (int64_t)t * Tn;
                T * dr = datt + (int64_t)t * Tn;
                const T dot = dot16(ar, dr, Tn);
                for (int j = 0; j < Tn; ++j) dr[j] = ar[j] * (dr[j] - dot);
            }
            // forward was: preatt = scale * q @ k^T   so   dq += scale * dpre @ k ; dk += scale * dpre^T @ q
            gemm<T>(false, false, Tn, hs, Tn, scale, datt, Tn, k, C3, T(1), dq, C3);
            gemm<T>(true, false, Tn, hs, Tn, scale, datt, Tn, q, C3, T(1), dk, C3);
        }
    });
}

// ------------------------------------------------------------------------------------- losses
template <typename T>
T cross_entropy_forward(T * losses, T * probs, const T * logits, const int32_t * targets, int N, int V, int v_lo,
                        int v_hi) {
    T total = 0;
    for (int n = 0; n < N; ++n) {
        const T * z = logits + (int64_t)n * V;
        T * p = probs + (int64_t)n * V;
        T mx = -std::numeric_limits<T>::infinity();
        for (int v = v_lo; v < v_hi; ++v) mx = std::max(mx, z[v]);
        T sum = 0;
        for (int v = 0; v < V; ++v) {
            if (v < v_lo || v >= v_hi) {
                p[v] = 0;
                continue;
            }
            p[v] = std::exp(z[v] - mx);
            sum += p[v];
        }
        const T inv = T(1) / sum;
        for (int v = v_lo; v < v_hi; ++v) p[v] *= inv;
        const int y = targets[n];
        // -log p[y] computed from the logits for accuracy: logsumexp - z[y]
        T l = (y >= v_lo && y < v_hi) ? (mx + std::log(sum) - z[y]) : std::numeric_limits<T>::infinity();
        losses[n] = l;
        total += l;
    }
    return N > 0 ? total / N : T(0);
}

template <typename T>
void cross_entropy_backward(T * dlogits, const T * probs, const int32_t * targets, T dloss, int N, int V) {
    // forward was: loss = -log softmax(z)[y]   so   dz = p - onehot(y)
    for (int n = 0; n < N; ++n) {
        const T * p = probs + (int64_t)n * V;
        T * d = dlogits + (int64_t)n * V;
        for (int v = 0; v < V; ++v) d[v] += dloss * p[v];
        d[targets[n]] -= dloss;
    }
}

template <typename T>
void softmax_forward(T * probs, const T * logits, int N, int V) {
    parallel_for(N, min_rows(V), [&](int64_t n0, int64_t n1) { // rows are independent
        for (int64_t n = n0; n < n1; ++n) {
            const T * z = logits + n * V;
            T * p = probs + n * V;
            T mx = z[0];
            for (int v = 1; v < V; ++v) mx = std::max(mx, z[v]);
            T sum = 0;
            for (int v = 0; v < V; ++v) {
                p[v] = std::exp(z[v] - mx);
                sum += p[v];
            }
            const T inv = T(1) / sum;
            for (int v = 0; v < V; ++v) p[v] *= inv;
        }
    });
}

template <typename T>
void softmax_backward(T * dlogits, const T * probs, const T * dprobs, int N, int V) {
    parallel_for(N, min_rows(V), [&](int64_t n0, int64_t n1) {
        for (int64_t n = n0; n < n1; ++n) {
            const T * p = probs + n * V;
            const T * dp = dprobs + n * V;
            T * dz = dlogits + n * V;
            T dot = 0;
            for (int v = 0; v < V; ++v) dot += p[v] * dp[v];
            for (int v = 0; v < V; ++v) dz[v] += p[v] * (dp[v] - dot);
        }
    });
}

// ------------------------------------------------------------------------------------- instantiation
#define MOE_NN_INSTANTIATE(T)                                                                                          \
    template void linear_forward<T>(T *, const T *, const T *, const T *, int, int, int);                              \
    template void linear_backward<T>(T *, T *, T *, const T *, const T *, const T *, int, int, int);                   \
    template void layernorm_forward<T>(T *, T *, T *, const T *, const T *, const T *, int, int, T);                   \
    template void layernorm_backward<T>(T *, T *, T *, const T *, const T *, const T *, const T *, const T *, int,     \
                                        int);                                                                          \
    template void gelu_forward<T>(T *, const T *, int64_t);                                                            \
    template void gelu_backward<T>(T *, const T *, const T *, int64_t);                                                \
    template void bias_gelu_forward<T>(T *, T *, const T *, int, int);                                                 \
    template void relu_forward<T>(T *, const T *, int64_t);                                                            \
    template void relu_backward<T>(T *, const T *, const T *, int64_t);                                                \
    template void residual_forward<T>(T *, const T *, const T *, int64_t);                                             \
    template void add_inplace<T>(T *, const T *, int64_t);                                                             \
    template void zero<T>(T *, int64_t);                                                                               \
    template void patchify_forward<T>(T *, const T *, int, int, int, int, int);                                        \
    template void tokens_forward<T>(T *, const T *, const T *, const T *, int, int, int);                              \
    template void tokens_backward<T>(T *, T *, T *, const T *, int, int, int);                                         \
    template void attention_forward<T>(T *, T *, const T *, int, int, int, int, bool);                                 \
    template void attention_backward<T>(T *, T *, const T *, const T *, const T *, int, int, int, int);                \
    template T cross_entropy_forward<T>(T *, T *, const T *, const int32_t *, int, int, int, int);                     \
    template void cross_entropy_backward<T>(T *, const T *, const int32_t *, T, int, int);                             \
    template void softmax_forward<T>(T *, const T *, int, int);                                                        \
    template void softmax_backward<T>(T *, const T *, const T *, int, int);

MOE_NN_INSTANTIATE(float)
MOE_NN_INSTANTIATE(double)

} // namespace moe::nn
