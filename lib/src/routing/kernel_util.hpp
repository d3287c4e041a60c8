// routing: helpers the kernel files share (private to lib/src/routing).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "moe/core/error.hpp"
#include "moe/core/parallel.hpp"

namespace moe::routing {

namespace {

// Insert candidates 0..n-1 into out[0..K) keeping the K best by decreasing score; a candidate
// replaces/shifts only entries with a STRICTLY lower score, so among equal scores the lower
// index (inserted first) stays ahead — the stable "lower index wins" rule. Unused slots get -1.
// O(n * K); score(i) is read on the fly (strided columns, biased scores) so nothing is copied.
template <typename T, typename Score>
void topk_insert(int32_t * out, int n, int K, Score score) {
    int cnt = 0;
    for (int i = 0; i < n; ++i) {
        const T s = score(i);
        int pos;
        if (cnt < K) {
            pos = cnt++;
        } else {
            if (K == 0 || !(s > score(out[K - 1]))) continue;
            pos = K - 1; // the current last one drops out
        }
        while (pos > 0 && s > score(out[pos - 1])) {
            out[pos] = out[pos - 1];
            --pos;
        }
        out[pos] = static_cast<int32_t>(i);
    }
    for (int j = cnt; j < K; ++j) out[j] = -1;
}

template <typename T>
inline T sigmoid(T z) {
    if (z >= T(0)) return T(1) / (T(1) + std::exp(-z));
    const T e = std::exp(z);
    return e / (T(1) + e);
}

// log-sum-exp of a row, max-subtracted
// Row-wise kernels split their rows over the pool from kParElems elements on (every row is
// computed alone, so the bits do not depend on the thread count).
constexpr int64_t kParElems = 1 << 14;
inline int64_t min_rows(int64_t P) { return std::max<int64_t>(1, kParElems / std::max<int64_t>(P, 1)); }

template <typename T>
inline T row_logsumexp(const T * z, int P) {
    T m = z[0];
    for (int e = 1; e < P; ++e) m = std::max(m, z[e]);
    if (!std::isfinite(m)) return m; // all -inf (or an inf/NaN): nothing sensible to subtract
    T s = 0;
    for (int e = 0; e < P; ++e) s += std::exp(z[e] - m);
    return m + std::log(s);
}

// H_q normaliser: (1 - E^(1-q)) for q != 1, ln E for q == 1 (0 when E == 1)
template <typename T>
inline T tsallis_norm(int E, T q) {
    if (q == T(1)) return std::log(static_cast<T>(E));
    return T(1) - std::pow(static_cast<T>(E), T(1) - q);
}

inline void check_dims(int N, int E, int K) {
    MOE_CHECK(N >= 0 && E >= 0 && K >= 0, ErrorCode::internal, "routing: negative dimension");
}

} // namespace

// ============================================================================ selection

} // namespace moe::routing
