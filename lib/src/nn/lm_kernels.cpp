// nn: the kernels of causal language models (see moe/nn/lm_kernels.hpp), compiled once per SIMD
// target and dispatched at run time as those of kernels.cpp.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "nn/lm_kernels.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep
#include <hwy/highway.h>

#include "moe/nn/lm_kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernel_table.hpp"
#include "moe/blas/gemm.hpp"
#include "moe/core/parallel.hpp"
#include "moe/nn/fast_math.hpp"

// The kernels of this file, one slot each; every target's pass fills one table of them (TablesOf below).
#ifndef MOE_NN_LM_KERNELS_CPP_TABLE
#define MOE_NN_LM_KERNELS_CPP_TABLE
#define MOE_KERNELS_OF_FILE(X)                                                                                         \
    X(embedding_forward)                                                                                               \
    X(embedding_backward)                                                                                              \
    X(rmsnorm_forward)                                                                                                 \
    X(rmsnorm_backward)                                                                                                \
    X(rope_forward)                                                                                                    \
    X(rope_backward)                                                                                                   \
    X(gelu_tanh_forward)                                                                                               \
    X(gelu_tanh_backward)                                                                                              \
    X(swiglu_forward)                                                                                                  \
    X(swiglu_backward)                                                                                                 \
    X(gqa_attention_forward)                                                                                           \
    X(gqa_attention_backward)                                                                                          \
    X(gqa_attention_decode)
namespace moe::nn::detail {
template <typename T>
struct LmTable {
    MOE_KERNELS_OF_FILE(MOE_KERNEL_SLOT)
};
using LmTables = FloatDouble<LmTable>;
} // namespace moe::nn::detail
#endif

HWY_BEFORE_NAMESPACE();
namespace moe::nn::HWY_NAMESPACE {

using blas::gemm;
using par::parallel_for;

namespace {
constexpr int64_t kParElems = 1 << 14;
inline int64_t min_rows(int64_t C) { return std::max<int64_t>(1, kParElems / std::max<int64_t>(C, 1)); }
// the float kernels take the vectorisable exp and tanh of fast_math.hpp, the double ones (the
// gradient checker's) the library's
inline float exp_t(float x) { return exp_f32(x); }
inline double exp_t(double x) { return std::exp(x); }
inline float tanh_t(float x) { return tanh_f32(x); }
inline double tanh_t(double x) { return std::tanh(x); }
} // namespace

// ------------------------------------------------------------------------------------- embeddings
template <typename T>
void embedding_forward(T * out, const int32_t * tokens, const T * wte, const T * wpe, int N, int Tn, int C) {
    parallel_for(N, min_rows(C), [&](int64_t n0, int64_t n1) {
        for (int64_t n = n0; n < n1; ++n) {
            const T * e = wte + (int64_t)tokens[n] * C;
            T * o = out + n * C;
            if (wpe) {
                const T * p = wpe + (n % Tn) * C;
                for (int c = 0; c < C; ++c) o[c] = e[c] + p[c];
            } else {
                std::memcpy(o, e, sizeof(T) * C);
            }
        }
    });
}

template <typename T>
void embedding_backward(T * dwte, T * dwpe, const T * dout, const int32_t * tokens, int N, int Tn, int C, int V) {
    // forward was: out[n] = wte[tok[n]] + wpe[n % T]. Rows of one token land in one row of dwte,
    // so the columns are split over the threads and every column sums its rows in row order.
    parallel_for(C, std::max<int64_t>(1, kParElems / std::max(N, 1)), [&](int64_t c0, int64_t c1) {
        for (int64_t n = 0; n < N; ++n) {
            const T * d = dout + n * C;
            if (dwte) {
                T * w = dwte + (int64_t)tokens[n] * C;
                for (int64_t c = c0; c < c1; ++c) w[c] += d[c];
            }
            if (dwpe) {
                T * p = dwpe + (n % Tn) * C;
                for (int64_t c = c0; c < c1; ++c) p[c] += d[c];
            }
        }
    });
    (void)V;
}

// ------------------------------------------------------------------------------------- RMSNorm
template <typename T>
void rmsnorm_forward(T * out, T * rstd, const T * inp, const T * w, int N, int C, T eps) {
    parallel_for(N, min_rows(C), [&](int64_t n0, int64_t n1) {
        for (int64_t n = n0; n < n1; ++n) {
            const T * x = inp + n * C;
            const T ms = dot16(x, x, C) / C;
            const T r = T(1) / std::sqrt(ms + eps);
            T * o = out + n * C;
            for (int c = 0; c < C; ++c) o[c] = w[c] * (x[c] * r);
            rstd[n] = r;
        }
    });
}

template <typename T>
void rmsnorm_backward(T * dinp, T * dw, const T * dout, const T * inp, const T * w, const T * rstd, int N, int C) {
    // forward was: y_c = w_c x_c r, r = (mean(x^2) + eps)^(-1/2)
    //   so dx_c = r (w_c dy_c - x_c r^2 mean_k(w_k dy_k x_k)) ; dw_c += sum_n dy_c x_c r
    if (dinp)
        parallel_for(N, min_rows(C), [&](int64_t n0, int64_t n1) {
            for (int64_t n = n0; n < n1; ++n) {
                const T * x = inp + n * C;
                const T * dy = dout + n * C;
                const T r = rstd[n];
                T s = 0;
                for (int c = 0; c < C; ++c) s += w[c] * dy[c] * x[c];
                s /= C;
                T * dx = dinp + n * C;
                for (int c = 0; c < C; ++c) dx[c] += r * (w[c] * dy[c] - x[c] * r * r * s);
            }
        });
    if (dw)
        parallel_for(C, std::max<int64_t>(1, kParElems / std::max(N, 1)), [&](int64_t c0, int64_t c1) {
            for (int64_t c = c0; c < c1; ++c) {
                T s = 0;
                for (int64_t n = 0; n < N; ++n) s += dout[n * C + c] * inp[n * C + c] * rstd[n];
                dw[c] += s;
            }
        });
}

// ------------------------------------------------------------------------------------- RoPE

template <typename T>
static void rope_rotate(T * x, int64_t ld, const double * cos_sin, int N, int Tn, int pos0, int n_heads, int hd,
                        double sign) {
    const int h = hd / 2;
    parallel_for(N, min_rows((int64_t)n_heads * hd), [&](int64_t n0, int64_t n1) {
        for (int64_t n = n0; n < n1; ++n) {
            const double * cs = cos_sin + (int64_t)(pos0 + n % Tn) * h * 2;
            for (int head = 0; head < n_heads; ++head) {
                T * v = x + n * ld + (int64_t)head * hd;
                for (int i = 0; i < h; ++i) {
                    const T c = static_cast<T>(cs[2 * i]), s = static_cast<T>(sign * cs[2 * i + 1]);
                    const T a = v[i], b = v[i + h];
                    v[i] = a * c - b * s;
                    v[i + h] = b * c + a * s;
                }
            }
        }
    });
}

template <typename T>
void rope_forward(T * x, int64_t ld, const double * cos_sin, int N, int Tn, int pos0, int n_heads, int hd) {
    rope_rotate(x, ld, cos_sin, N, Tn, pos0, n_heads, hd, 1.0);
}

template <typename T>
void rope_backward(T * dx, int64_t ld, const double * cos_sin, int N, int Tn, int pos0, int n_heads, int hd) {
    // forward was: x' = R(a) x, a rotation: dx = R(a)^T dx' = R(-a) dx'
    rope_rotate(dx, ld, cos_sin, N, Tn, pos0, n_heads, hd, -1.0);
}

// ------------------------------------------------------------------------------------- activations
template <typename T>
static inline T gelu_tanh1(T x, T & th) {
    const T k = T(0.79788456080286535588); // sqrt(2/pi)
    th = tanh_t(k * (x + T(0.044715) * x * x * x));
    return T(0.5) * x * (T(1) + th);
}

template <typename T>
void gelu_tanh_forward(T * out, const T * inp, int64_t n) {
    parallel_for(n, kParElems, [&](int64_t i0, int64_t i1) {
        T th;
        for (int64_t i = i0; i < i1; ++i) out[i] = gelu_tanh1(inp[i], th);
    });
}

template <typename T>
void gelu_tanh_backward(T * dinp, const T * inp, const T * dout, int64_t n) {
    // llm.c gelu_backward: 0.5 (1 + tanh u) + x 0.5 sech^2(u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
    const T k = T(0.79788456080286535588);
    parallel_for(n, kParElems, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            const T x = inp[i];
            const T th = tanh_t(k * (x + T(0.044715) * x * x * x));
            const T g = T(0.5) * (T(1) + th) + x * T(0.5) * (T(1) - th * th) * k * (T(1) + T(3 * 0.044715) * x * x);
            dinp[i] += dout[i] * g;
        }
    });
}

template <typename T>
void swiglu_forward(T * out, const T * gate, const T * up, int64_t n) {
    parallel_for(n, kParElems, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            const T g = gate[i];
            out[i] = g / (T(1) + exp_t(-g)) * up[i];
        }
    });
}

template <typename T>
void swiglu_backward(T * dgate, T * dup, const T * dout, const T * gate, const T * up, int64_t n) {
    // forward was: out = silu(g) u, silu(g) = g s, s = sigmoid(g), silu'(g) = s (1 + g (1 - s))
    parallel_for(n, kParElems, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            const T g = gate[i], s = T(1) / (T(1) + exp_t(-g));
            if (dgate) dgate[i] += dout[i] * up[i] * s * (T(1) + g * (T(1) - s));
            if (dup) dup[i] += dout[i] * g * s;
        }
    });
}

// ------------------------------------------------------------------------------------- attention
template <typename T>
static void causal_softmax_rows(T * a, int Tn) {
    for (int t = 0; t < Tn; ++t) {
        T * row = a + (int64_t)t * Tn;
        T mx = row[0];
        for (int j = 1; j <= t; ++j) mx = std::max(mx, row[j]);
        for (int j = 0; j <= t; ++j) row[j] = exp_t(row[j] - mx); // (apart from the sum: vectorises)
        T sum = 0;
        for (int j = 0; j <= t; ++j) sum += row[j];
        const T inv = T(1) / sum;
        for (int j = 0; j <= t; ++j) row[j] *= inv;
        for (int j = t + 1; j < Tn; ++j) row[j] = T(0);
    }
}

template <typename T>
void gqa_attention_forward(T * out, T * att, const T * q, const T * k, const T * v, int64_t lq, int64_t lk, int64_t lv,
                           int B, int Tn, int NH, int NKV, int hd) {
    const int rep = NH / NKV;
    const int64_t lo = (int64_t)NH * hd;
    const T scale = T(1) / std::sqrt(T(hd));
    parallel_for((int64_t)B * NH, std::max<int64_t>(1, kParElems / ((int64_t)Tn * Tn)), [&](int64_t p0, int64_t p1) {
        for (int64_t bh = p0; bh < p1; ++bh) {
            const int b = int(bh / NH), h = int(bh % NH), g = h / rep;
            const T * qh = q + (int64_t)b * Tn * lq + (int64_t)h * hd;
            const T * kg = k + (int64_t)b * Tn * lk + (int64_t)g * hd;
            const T * vg = v + (int64_t)b * Tn * lv + (int64_t)g * hd;
            T * a = att + bh * Tn * Tn;
            // preatt (T,T) = scale * q_h (T,hd) @ k_g^T (hd,T), then the causal softmax per row
            gemm<T>(false, true, Tn, Tn, hd, scale, qh, lq, kg, lk, T(0), a, Tn);
            causal_softmax_rows(a, Tn);
            // out_h (T,hd) = att (T,T) @ v_g (T,hd)
            gemm<T>(false, false, Tn, hd, Tn, T(1), a, Tn, vg, lv, T(0), out + (int64_t)b * Tn * lo + (int64_t)h * hd,
                    lo);
        }
    });
}

template <typename T>
void gqa_attention_backward(T * dq, T * dk, T * dv, T * datt_all, const T * dout, const T * q, const T * k, const T * v,
                            const T * att, int64_t lq, int64_t lk, int64_t lv, int B, int Tn, int NH, int NKV, int hd) {
    const int rep = NH / NKV;
    const int64_t lo = (int64_t)NH * hd;
    const T scale = T(1) / std::sqrt(T(hd));
    // one (sequence, kv head) per iteration: its query heads in order add into its dk, dv
    parallel_for((int64_t)B * NKV, std::max<int64_t>(1, kParElems / ((int64_t)Tn * Tn * rep)),
                 [&](int64_t p0, int64_t p1) {
                     for (int64_t bg = p0; bg < p1; ++bg) {
                         const int b = int(bg / NKV), g = int(bg % NKV);
                         const T * kg = k + (int64_t)b * Tn * lk + (int64_t)g * hd;
                         const T * vg = v + (int64_t)b * Tn * lv + (int64_t)g * hd;
                         T * dkg = dk + (int64_t)b * Tn * lk + (int64_t)g * hd;
                         T * dvg = dv + (int64_t)b * Tn * lv + (int64_t)g * hd;
                         for (int h = g * rep; h < (g + 1) * rep; ++h) {
                             const int64_t bh = (int64_t)b * NH + h;
                             const T * qh = q + (int64_t)b * Tn * lq + (int64_t)h * hd;
                             T * dqh = dq + (int64_t)b * Tn * lq + (int64_t)h * hd;
                             const T * a = att + bh * Tn * Tn;
                             T * datt = datt_all + bh * Tn * Tn;
                             const T * doh = dout + (int64_t)b * Tn * lo + (int64_t)h * hd;
                             // forward was: out_h = att @ v_g   so   dv_g += att^T @ dout_h ; datt = dout_h @ v_g^T
                             gemm<T>(true, false, Tn, hd, Tn, T(1), a, Tn, doh, lo, T(1), dvg, lv);
                             gemm<T>(false, true, Tn, Tn, hd, T(1), doh, lo, vg, lv, T(0), datt, Tn);
                             // forward was: att = softmax(preatt) per row   so   dpre = att * (datt - <datt, att>)
                             for (int t = 0; t < Tn; ++t) {
                                 const T * ar = a + (int64_t)t * Tn;
                                 T * dr = datt + (int64_t)t * Tn;
                                 T dot = 0;
                                 for (int j = 0; j <= t; ++j) dot += ar[j] * dr[j];
                                 for (int j = 0; j < Tn; ++j) dr[j] = j <= t ? ar[j] * (dr[j] - dot) : T(0);
                             }
                             // forward was: preatt = scale * q_h @ k_g^T   so   dq_h += scale dpre @ k_g ; dk_g += scale dpre^T @ q_h
                             gemm<T>(false, false, Tn, hd, Tn, scale, datt, Tn, kg, lk, T(1), dqh, lq);
                             gemm<T>(true, false, Tn, hd, Tn, scale, datt, Tn, qh, lq, T(1), dkg, lk);
                         }
                     }
                 });
}

// One (sequence, head) pair of the decode: the scores of q against keys 0..t (vector dot products
// over hd, four keys at a time), their softmax, and the weighted sum of the values into o.
template <typename T>
void decode_head(T * o, T * s, const T * qh, const T * kg, const T * vg, int t, int hd, T scale) {
    namespace hn = hwy::HWY_NAMESPACE;
    const hn::ScalableTag<T> d;
    const int L = (int)hn::Lanes(d), hv = hd / L * L;
    auto dot = [&](const T * k) {
        auto acc = hn::Zero(d);
        for (int i = 0; i < hv; i += L) acc = hn::MulAdd(hn::LoadU(d, qh + i), hn::LoadU(d, k + i), acc);
        T r = hn::GetLane(hn::SumOfLanes(d, acc));
        for (int i = hv; i < hd; ++i) r += qh[i] * k[i];
        return r;
    };
    int j = 0;
    for (; j + 4 <= t + 1; j += 4) { // four independent chains
        const T *k0 = kg + (int64_t)j * hd, *k1 = k0 + hd, *k2 = k1 + hd, *k3 = k2 + hd;
        auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
        for (int i = 0; i < hv; i += L) {
            const auto q = hn::LoadU(d, qh + i);
            a0 = hn::MulAdd(q, hn::LoadU(d, k0 + i), a0);
            a1 = hn::MulAdd(q, hn::LoadU(d, k1 + i), a1);
            a2 = hn::MulAdd(q, hn::LoadU(d, k2 + i), a2);
            a3 = hn::MulAdd(q, hn::LoadU(d, k3 + i), a3);
        }
        T r[4] = {hn::GetLane(hn::SumOfLanes(d, a0)), hn::GetLane(hn::SumOfLanes(d, a1)),
                  hn::GetLane(hn::SumOfLanes(d, a2)), hn::GetLane(hn::SumOfLanes(d, a3))};
        for (int i = hv; i < hd; ++i) {
            r[0] += qh[i] * k0[i];
            r[1] += qh[i] * k1[i];
            r[2] += qh[i] * k2[i];
            r[3] += qh[i] * k3[i];
        }
        for (int u = 0; u < 4; ++u) s[j + u] = r[u] * scale;
    }
    for (; j <= t; ++j) s[j] = dot(kg + (int64_t)j * hd) * scale;
    T mx = -INFINITY;
    for (j = 0; j <= t; ++j) mx = std::max(mx, s[j]);
    T sum = 0;
    for (j = 0; j <= t; ++j) {
        s[j] = exp_t(s[j] - mx);
        sum += s[j];
    }
    for (int i = 0; i < hd; ++i) o[i] = 0;
    for (j = 0; j <= t; ++j) {
        const T a = s[j] / sum;
        const T * vj = vg + (int64_t)j * hd;
        const auto av = hn::Set(d, a);
        int i = 0;
        for (; i < hv; i += L) hn::StoreU(hn::MulAdd(av, hn::LoadU(d, vj + i), hn::LoadU(d, o + i)), d, o + i);
        for (; i < hd; ++i) o[i] += a * vj[i];
    }
}

template <typename T>
void gqa_attention_decode(T * out, T * scratch, const T * q, int64_t lq, const T * kc, const T * vc, int B, int t,
                          int Tmax, int NH, int NKV, int hd) {
    const int rep = NH / NKV;
    const T scale = T(1) / std::sqrt(T(hd));
    // the (sequence, head) pairs split over the pool once the cache is long enough to pay for it
    const int64_t pairs = (int64_t)B * NH, macs = 2 * (int64_t)(t + 1) * hd;
    parallel_for(pairs, macs * pairs >= kParElems ? 2 : pairs + 1, [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            const int b = int(p / NH), h = int(p % NH), g = h / rep;
            decode_head(out + (int64_t)b * NH * hd + (int64_t)h * hd, scratch + p * Tmax,
                        q + (int64_t)b * lq + (int64_t)h * hd, kc + ((int64_t)b * NKV + g) * Tmax * hd,
                        vc + ((int64_t)b * NKV + g) * Tmax * hd, t, hd, scale);
        }
    });
}

// this target's kernels
const detail::LmTables * LmTablesOf() {
    static const detail::LmTables t{{MOE_KERNELS_OF_FILE(MOE_KERNEL_FLOAT)}, {MOE_KERNELS_OF_FILE(MOE_KERNEL_DOUBLE)}};
    return &t;
}

} // namespace moe::nn::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace moe::nn {
HWY_EXPORT(LmTablesOf);

namespace {
// the kernels of the target chosen at run time (moe/simd/isa.hpp)
template <typename T>
const detail::LmTable<T> & table() {
    return detail::pick<T>(*HWY_DYNAMIC_DISPATCH(LmTablesOf)());
}
} // namespace

void rope_table(double * cos_sin, int Tmax, int hd, double theta) {
    const int h = hd / 2;
    for (int t = 0; t < Tmax; ++t)
        for (int i = 0; i < h; ++i) {
            const double a = t * std::pow(theta, -2.0 * i / hd);
            cos_sin[((int64_t)t * h + i) * 2] = std::cos(a);
            cos_sin[((int64_t)t * h + i) * 2 + 1] = std::sin(a);
        }
}

template <typename T>
void embedding_forward(T * out, const int32_t * tokens, const T * wte, const T * wpe, int N, int Tn, int C) {
    return table<T>().embedding_forward(out, tokens, wte, wpe, N, Tn, C);
}
template <typename T>
void embedding_backward(T * dwte, T * dwpe, const T * dout, const int32_t * tokens, int N, int Tn, int C, int V) {
    return table<T>().embedding_backward(dwte, dwpe, dout, tokens, N, Tn, C, V);
}
template <typename T>
void rmsnorm_forward(T * out, T * rstd, const T * inp, const T * w, int N, int C, T eps) {
    return table<T>().rmsnorm_forward(out, rstd, inp, w, N, C, eps);
}
template <typename T>
void rmsnorm_backward(T * dinp, T * dw, const T * dout, const T * inp, const T * w, const T * rstd, int N, int C) {
    return table<T>().rmsnorm_backward(dinp, dw, dout, inp, w, rstd, N, C);
}
template <typename T>
void rope_forward(T * x, int64_t ld, const double * cos_sin, int N, int Tn, int pos0, int n_heads, int hd) {
    return table<T>().rope_forward(x, ld, cos_sin, N, Tn, pos0, n_heads, hd);
}
template <typename T>
void rope_backward(T * dx, int64_t ld, const double * cos_sin, int N, int Tn, int pos0, int n_heads, int hd) {
    return table<T>().rope_backward(dx, ld, cos_sin, N, Tn, pos0, n_heads, hd);
}
template <typename T>
void gelu_tanh_forward(T * out, const T * inp, int64_t n) {
    return table<T>().gelu_tanh_forward(out, inp, n);
}
template <typename T>
void gelu_tanh_backward(T * dinp, const T * inp, const T * dout, int64_t n) {
    return table<T>().gelu_tanh_backward(dinp, inp, dout, n);
}
template <typename T>
void swiglu_forward(T * out, const T * gate, const T * up, int64_t n) {
    return table<T>().swiglu_forward(out, gate, up, n);
}
template <typename T>
void swiglu_backward(T * dgate, T * dup, const T * dout, const T * gate, const T * up, int64_t n) {
    return table<T>().swiglu_backward(dgate, dup, dout, gate, up, n);
}
template <typename T>
void gqa_attention_forward(T * out, T * att, const T * q, const T * k, const T * v, int64_t lq, int64_t lk, int64_t lv,
                           int B, int Tn, int NH, int NKV, int hd) {
    return table<T>().gqa_attention_forward(out, att, q, k, v, lq, lk, lv, B, Tn, NH, NKV, hd);
}
template <typename T>
void gqa_attention_backward(T * dq, T * dk, T * dv, T * datt, const T * dout, const T * q, const T * k, const T * v,
                            const T * att, int64_t lq, int64_t lk, int64_t lv, int B, int Tn, int NH, int NKV, int hd) {
    return table<T>().gqa_attention_backward(dq, dk, dv, datt, dout, q, k, v, att, lq, lk, lv, B, Tn, NH, NKV, hd);
}
template <typename T>
void gqa_attention_decode(T * out, T * scratch, const T * q, int64_t lq, const T * kc, const T * vc, int B, int t,
                          int Tmax, int NH, int NKV, int hd) {
    return table<T>().gqa_attention_decode(out, scratch, q, lq, kc, vc, B, t, Tmax, NH, NKV, hd);
}

#define MOE_LM_KERNELS_INSTANTIATE(T)                                                                                  \
    template void embedding_forward<T>(T *, const int32_t *, const T *, const T *, int, int, int);                     \
    template void embedding_backward<T>(T *, T *, const T *, const int32_t *, int, int, int, int);                     \
    template void rmsnorm_forward<T>(T *, T *, const T *, const T *, int, int, T);                                     \
    template void rmsnorm_backward<T>(T *, T *, const T *, const T *, const T *, const T *, int, int);                 \
    template void rope_forward<T>(T *, int64_t, const double *, int, int, int, int, int);                              \
    template void rope_backward<T>(T *, int64_t, const double *, int, int, int, int, int);                             \
    template void gelu_tanh_forward<T>(T *, const T *, int64_t);                                                       \
    template void gelu_tanh_backward<T>(T *, const T *, const T *, int64_t);                                           \
    template void swiglu_forward<T>(T *, const T *, const T *, int64_t);                                               \
    template void swiglu_backward<T>(T *, T *, const T *, const T *, const T *, int64_t);                              \
    template void gqa_attention_forward<T>(T *, T *, const T *, const T *, const T *, int64_t, int64_t, int64_t, int,  \
                                           int, int, int, int);                                                        \
    template void gqa_attention_backward<T>(T *, T *, T *, T *, const T *, const T *, const T *, const T *, const T *, \
                                            int64_t, int64_t, int64_t, int, int, int, int, int);                       \
    template void gqa_attention_decode<T>(T *, T *, const T *, int64_t, const T *, const T *, int, int, int, int, int, \
                                          int);

MOE_LM_KERNELS_INSTANTIATE(float)
MOE_LM_KERNELS_INSTANTIATE(double)

} // namespace moe::nn
#endif // HWY_ONCE
