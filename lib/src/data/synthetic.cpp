// synthetic.cpp — the synthetic source (moe/data/dataset.hpp): tasks labelled by random
// teacher networks around separated input means, so the true routing of every sample is known.
// Everything is drawn from named Rng streams of the spec's seed.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "internal.hpp"
#include "moe/core/rng.hpp"
#include "moe/data/dataset.hpp"

namespace moe::data {

using namespace detail;

// Task t: mu_t = separation * unit vector (Rng(seed, "synthetic.task<t>.mean"));
// teacher W1 (hidden,dim) ~ N(0,1/dim), b1 (hidden) ~ N(0,0.25), W2 (n_classes,hidden) ~ N(0,1/hidden)
// from Rng(seed, "synthetic.task<t>.teacher"); x ~ N(mu_t, I); y = argmax W2 tanh(W1 (x-mu_t) + b1).
// Samples are interleaved: sample i*T + t belongs to task t, so a prefix (train_limit) keeps every
// task. Training draws use Rng(seed, "synthetic.train"), test draws Rng(seed, "synthetic.test").
void make_synthetic(Dataset & train, Dataset & test, const SyntheticConfig & cfg, uint64_t seed) {
    if (cfg.n_tasks < 1) fail_spec("synthetic.n_tasks must be >= 1");
    if (cfg.dim < 1) fail_spec("synthetic.dim must be >= 1");
    if (cfg.n_classes < 2) fail_spec("synthetic.n_classes must be >= 2");
    if (cfg.hidden < 1) fail_spec("synthetic.hidden must be >= 1");
    if (cfg.n_train < 1) fail_spec("synthetic.n_train must be >= 1");
    if (cfg.n_test < 0) fail_spec("synthetic.n_test must be >= 0");
    if (!(cfg.separation >= 0.0) || !std::isfinite(cfg.separation)) fail_spec("synthetic.separation must be >= 0");

    const int T = cfg.n_tasks, D = cfg.dim, Hd = cfg.hidden, K = cfg.n_classes;
    std::vector<double> mu(size_t(T) * D);      // (T,D)
    std::vector<double> w1(size_t(T) * Hd * D); // (T,Hd,D)
    std::vector<double> b1(size_t(T) * Hd);     // (T,Hd)
    std::vector<double> w2(size_t(T) * K * Hd); // (T,K,Hd)
    for (int t = 0; t < T; ++t) {
        const std::string tn = "synthetic.task" + std::to_string(t);
        Rng mr(seed, tn + ".mean");
        double * m = &mu[size_t(t) * D];
        double norm2 = 0.0;
        while (norm2 < 1e-12) {
            norm2 = 0.0;
            for (int j = 0; j < D; ++j) {
                m[j] = mr.normal();
                norm2 += m[j] * m[j];
            }
        }
        const double s = cfg.separation / std::sqrt(norm2);
        for (int j = 0; j < D; ++j) m[j] *= s;

        Rng tr(seed, tn + ".teacher");
        const double s1 = 1.0 / std::sqrt(double(D)), s2 = 1.0 / std::sqrt(double(Hd));
        for (size_t i = 0; i < size_t(Hd) * D; ++i) w1[size_t(t) * Hd * D + i] = s1 * tr.normal();
        for (int i = 0; i < Hd; ++i) b1[size_t(t) * Hd + i] = 0.5 * tr.normal();
        for (size_t i = 0; i < size_t(K) * Hd; ++i) w2[size_t(t) * K * Hd + i] = s2 * tr.normal();
    }

    auto generate = [&](Dataset & ds, int per_task, const char * stream) {
        ds = Dataset{};
        ds.d = D;
        ds.n_classes = K;
        ds.n = int64_t(per_task) * T;
        ds.x.resize(size_t(ds.n) * D);
        ds.y.resize(size_t(ds.n));
        ds.task.resize(size_t(ds.n));
        Rng rng(seed, stream);
        std::vector<double> z(D), h(Hd);
        for (int64_t i = 0; i < per_task; ++i) {
            for (int t = 0; t < T; ++t) {
                const int64_t s = i * T + t;
                const double * m = &mu[size_t(t) * D];
                float * xs = &ds.x[size_t(s) * D];
                for (int j = 0; j < D; ++j) {
                    z[j] = rng.normal();
                    xs[j] = float(m[j] + z[j]);
                }
                const double * W1 = &w1[size_t(t) * Hd * D];
                const double * B1 = &b1[size_t(t) * Hd];
                for (int k = 0; k < Hd; ++k) {
                    double a = B1[k];
                    for (int j = 0; j < D; ++j) a += W1[size_t(k) * D + j] * z[j];
                    h[k] = std::tanh(a);
                }
                const double * W2 = &w2[size_t(t) * K * Hd];
                int best = 0;
                double best_v = -1e300;
                for (int c = 0; c < K; ++c) {
                    double a = 0.0;
                    for (int k = 0; k < Hd; ++k) a += W2[size_t(c) * Hd + k] * h[k];
                    if (a > best_v) {
                        best_v = a;
                        best = c;
                    }
                }
                ds.y[s] = best;
                ds.task[s] = t;
            }
        }
    };
    generate(train, cfg.n_train, "synthetic.train");
    generate(test, cfg.n_test, "synthetic.test");
}

} // namespace moe::data
