// The one gradient checker (dlib test_layer + ggml grad mode + mlpack CheckGradient).
//
//  * objective f = <out, G> with a fixed random upstream gradient G (the case's loss()).
//  * accumulate check: every gradient buffer is pre-filled with a sentinel (0.25) before
//    backward and the sentinel is subtracted afterwards — a backward that overwrites instead
//    of adding fails.
//  * central differences in double; per element |n - a| <= atol + rtol * max(|n|, |a|), plus
//    the global ||n - a|| / ||n + a||; failures name the tensor, index and both values.
//  * at most nmax coordinates per tensor, sampled with a fixed seed.
#pragma once
#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "moe/core/params.hpp"
#include "moe/core/rng.hpp"

namespace moe::test {

struct GradTensor {
    std::string name;
    double * value; // perturbed by the checker
    double * grad;  // where backward accumulates ∂f/∂value
    size_t n;
};

struct GradCase {
    std::string name;
    std::vector<GradTensor> tensors;
    std::function<double()> loss;   // forward; returns f
    std::function<void()> backward; // accumulates ∂f/∂tensors (after a loss() call)
    double eps = 1e-6, atol = 1e-8, rtol = 1e-6;
    size_t nmax = 400;
    std::shared_ptr<void> keep; // owns the case's buffers/modules
};

struct GradCheckResult {
    bool ok = true;
    size_t checked = 0;
    double max_abs_err = 0, global_rel = 0;
    std::string report;
};

inline GradCheckResult grad_check(GradCase & c) {
    const double sentinel = 0.25;
    GradCheckResult r;
    for (auto & t : c.tensors)
        for (size_t i = 0; i < t.n; ++i) t.grad[i] = sentinel;
    c.loss();
    c.backward();
    std::vector<std::vector<double>> analytic(c.tensors.size());
    for (size_t k = 0; k < c.tensors.size(); ++k) {
        auto & t = c.tensors[k];
        analytic[k].resize(t.n);
        for (size_t i = 0; i < t.n; ++i) analytic[k][i] = t.grad[i] - sentinel;
    }
    double num2 = 0, diff2 = 0;
    std::ostringstream rep;
    int failures = 0;
    for (size_t k = 0; k < c.tensors.size(); ++k) {
        auto & t = c.tensors[k];
        Rng rng(7, t.name);
        std::vector<size_t> idx;
        if (t.n <= c.nmax) {
            for (size_t i = 0; i < t.n; ++i) idx.push_back(i);
        } else {
            for (size_t j = 0; j < c.nmax; ++j) idx.push_back(rng.below(t.n));
        }
        for (size_t i : idx) {
            const double v = t.value[i];
            t.value[i] = v + c.eps;
            const double fp = c.loss();
            t.value[i] = v - c.eps;
            const double fm = c.loss();
            t.value[i] = v;
            const double n = (fp - fm) / (2 * c.eps);
            const double a = analytic[k][i];
            const double err = std::fabs(n - a);
            num2 += (n + a) * (n + a);
            diff2 += err * err;
            r.max_abs_err = std::max(r.max_abs_err, err);
            ++r.checked;
            if (!(err <= c.atol + c.rtol * std::max(std::fabs(n), std::fabs(a)))) {
                r.ok = false;
                if (failures++ < 8)
                    rep << c.name << ": gradient error in " << t.name << "[" << i << "]: numeric " << n << " analytic "
                        << a << " (|diff| " << err << ")\n";
            }
        }
    }
    r.global_rel = num2 > 0 ? std::sqrt(diff2) / std::sqrt(num2) : 0.0;
    if (r.global_rel > 1e-6) {
        r.ok = false;
        rep << c.name << ": global relative error " << r.global_rel << "\n";
    }
    r.report = rep.str();
    return r;
}

// Runs every case of a gradient-check list as its own doctest subcase (doctest must be
// included by the test file before this header is used from a TEST_CASE).
#ifdef DOCTEST_LIBRARY_INCLUDED
inline void check_all(std::vector<GradCase> & cases) {
    for (auto & c : cases) {
        SUBCASE(c.name.c_str()) {
            auto r = grad_check(c);
            INFO(r.report);
            CHECK_MESSAGE(r.ok, c.name);
            CHECK(r.checked > 0);
        }
    }
}
#endif

// f = <out, G>
inline double dot(const double * a, const double * b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
}

inline std::vector<double> random_vec(size_t n, uint64_t seed, double scale = 1.0) {
    Rng r(seed);
    std::vector<double> v(n);
    for (auto & x : v) x = scale * r.uniform(-1.0, 1.0);
    return v;
}

// All of a store's parameters as checker tensors, with random values (so LayerNorm's
// ones/zeros and zero-initialised tensors do not hide errors).
inline void add_store(GradCase & c, ParamStore<double> & s, uint64_t seed, double scale = 0.5) {
    for (int id = 0; id < s.size(); ++id) {
        const auto & pi = s.info(id);
        double * v = s.value(id);
        auto r = random_vec(pi.size, seed + id, scale);
        std::copy(r.begin(), r.end(), v);
        if (pi.trainable) c.tensors.push_back({pi.name, v, s.grad(id), pi.size});
    }
}

inline const std::function<bool(const std::string &)> all_trainable = [](const std::string &) { return true; };

} // namespace moe::test
