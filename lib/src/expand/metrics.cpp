// expand: continual-learning metrics of an accuracy matrix (see moe/expand/expander.hpp).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "moe/expand/expander.hpp"

namespace moe::expand {

StreamMetrics stream_metrics(const std::vector<std::vector<double>> & R, const std::vector<int64_t> & n) {
    StreamMetrics m;
    const size_t N = R.size();
    if (N == 0) return m;
    for (size_t i = 0; i < N; ++i) {
        double c = 0, t = 0;
        for (size_t j = 0; j <= i; ++j) {
            c += R[i][j] * double(n[j]);
            t += double(n[j]);
        }
        m.curve.push_back(t > 0 ? c / t : 0.0);
    }
    m.A_N = m.curve.back();
    m.A_bar = std::accumulate(m.curve.begin(), m.curve.end(), 0.0) / double(N);
    if (N > 1) {
        double f = 0, b = 0;
        for (size_t j = 0; j + 1 < N; ++j) {
            double best = -INFINITY;
            for (size_t l = j; l + 1 < N; ++l) best = std::max(best, R[l][j]);
            f += best - R[N - 1][j];
            b += R[N - 1][j] - R[j][j];
        }
        m.forgetting = f / double(N - 1);
        m.bwt = b / double(N - 1);
    }
    return m;
}

std::string checkpoint_path(const std::string & out_path) { return out_path + ".ckpt"; }

} // namespace moe::expand
