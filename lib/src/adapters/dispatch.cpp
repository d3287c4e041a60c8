// adapters: sparse dispatch: the counting sort of (token, slot) pairs by expert, gathers,
// scatter-adds and the token-major combine.
#include <algorithm>
#include <cstring>

#include "moe/adapters/adapters.hpp"
#include "moe/core/parallel.hpp"
#include "moe/nn/fast_math.hpp"

namespace moe::adapters {

int dispatch_plan(int32_t * perm, int32_t * offsets, const int32_t * idx, int N, int K, int E) {
    // counting sort of the (token, slot) pairs by expert; stable in token order
    std::fill(offsets, offsets + E + 1, 0);
    for (int64_t i = 0; i < (int64_t)N * K; ++i)
        if (idx[i] >= 0) ++offsets[idx[i] + 1];
    for (int e = 0; e < E; ++e) offsets[e + 1] += offsets[e];
    // offsets[e] is used as a cursor, then restored
    for (int64_t i = 0; i < (int64_t)N * K; ++i)
        if (idx[i] >= 0) perm[offsets[idx[i]]++] = (int32_t)i;
    for (int e = E; e > 0; --e) offsets[e] = offsets[e - 1];
    offsets[0] = 0;
    return offsets[E];
}

template <typename T>
void gather_rows(T * xg, const T * inp, const int32_t * perm, int begin, int end, int K, int C) {
    for (int i = begin; i < end; ++i)
        std::memcpy(xg + (int64_t)(i - begin) * C, inp + (int64_t)(perm[i] / K) * C, sizeof(T) * C);
}

template <typename T>
void scatter_add_rows(T * out, const T * yg, const T * gate, const int32_t * perm, int begin, int end, int K, int OC) {
    for (int i = begin; i < end; ++i) {
        T * o = out + (int64_t)(perm[i] / K) * OC;
        const T * y = yg + (int64_t)(i - begin) * OC;
        if (gate) {
            const T g = gate[perm[i]];
            for (int c = 0; c < OC; ++c) o[c] += g * y[c];
        } else {
            for (int c = 0; c < OC; ++c) o[c] += y[c];
        }
    }
}

template <typename T>
void scatter_add_rows_backward(T * dyg, T * dgate, const T * dout, const T * yg, const T * gate, const int32_t * perm,
                               int begin, int end, int K, int OC) {
    // forward was: out[tok] += gate[p] * yg[i]
    for (int i = begin; i < end; ++i) {
        const T g = gate[perm[i]];
        const T * d = dout + (int64_t)(perm[i] / K) * OC;
        T * dy = dyg + (int64_t)(i - begin) * OC;
        const T * y = yg + (int64_t)(i - begin) * OC;
        for (int c = 0; c < OC; ++c) dy[c] = g * d[c];
        if (dgate) dgate[perm[i]] += nn::dot16(d, y, OC);
    }
}

template <typename T>
void gather_rows_backward(T * dinp, const T * dxg, const int32_t * perm, int begin, int end, int K, int C) {
    for (int i = begin; i < end; ++i) {
        T * d = dinp + (int64_t)(perm[i] / K) * C;
        const T * s = dxg + (int64_t)(i - begin) * C;
        for (int c = 0; c < C; ++c) d[c] += s[c];
    }
}

void dispatch_positions(int32_t * pos, const int32_t * perm, int routed, int N, int K) {
    std::fill(pos, pos + (int64_t)N * K, -1);
    for (int i = 0; i < routed; ++i) pos[perm[i]] = i;
}

template <typename T>
void combine_rows(T * out, const T * yg, const T * gate, const int32_t * pos, int N, int K, int OC) {
    // each token's row is summed over its slots in slot order, whatever the thread count
    par::parallel_for(N, std::max(1, (1 << 14) / std::max(1, K * OC)), [&](int64_t n0, int64_t n1) {
        for (int64_t n = n0; n < n1; ++n) {
            T * o = out + n * OC;
            for (int j = 0; j < K; ++j) {
                const int32_t i = pos[n * K + j];
                if (i < 0) continue;
                const T * y = yg + (int64_t)i * OC;
                if (gate) {
                    const T g = gate[n * K + j];
                    for (int c = 0; c < OC; ++c) o[c] += g * y[c];
                } else {
                    for (int c = 0; c < OC; ++c) o[c] += y[c];
                }
            }
        }
    });
}

#define MOE_DISPATCH_INSTANTIATE(T)                                                                                    \
    template void gather_rows<T>(T *, const T *, const int32_t *, int, int, int, int);                                 \
    template void scatter_add_rows<T>(T *, const T *, const T *, const int32_t *, int, int, int, int);                 \
    template void scatter_add_rows_backward<T>(T *, T *, const T *, const T *, const T *, const int32_t *, int, int,   \
                                               int, int);                                                              \
    template void gather_rows_backward<T>(T *, const T *, const int32_t *, int, int, int, int);                        \
    template void combine_rows<T>(T *, const T *, const T *, const int32_t *, int, int, int);

MOE_DISPATCH_INSTANTIATE(float)
MOE_DISPATCH_INSTANTIATE(double)

} // namespace moe::adapters
