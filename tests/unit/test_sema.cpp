// SEMA's detection statistics and expansion rule (docs/methods/sema.md: descriptor statistics, expansion rule), and the
// continual-learning metrics of an accuracy matrix.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "moe/expand/expander.hpp"
#include "moe/sites/sema_site.hpp"

using namespace moe::sites;
using namespace moe::expand;
using std::vector;

TEST_CASE("descriptor loss records: a FIFO with mean and unbiased std") {
    LossRecords r;
    r.init(3);
    CHECK(r.mean() == 0.0);
    CHECK(r.std() == 0.0);
    r.push(1.0);
    r.push(2.0);
    CHECK(r.len == 2);
    CHECK(r.z(100.0) == 0.0); // <= 2 records: z := 0 (reference)
    r.push(3.0);
    CHECK(r.mean() == doctest::Approx(2.0));
    CHECK(r.std() == doctest::Approx(1.0)); // unbiased: sqrt(((1)^2 + 0 + 1^2) / 2)
    r.push(7.0);                            // FIFO: 1 leaves
    CHECK(r.values() == vector<double>{2.0, 3.0, 7.0});
    CHECK(r.len == 3);
    CHECK(r.mean() == doctest::Approx(4.0));
    const double sd = std::sqrt((4.0 + 1.0 + 9.0) / 2.0);
    CHECK(r.std() == doctest::Approx(sd));
    // two-sided |z|
    CHECK(r.z(4.0 + 2 * sd) == doctest::Approx(2.0));
    CHECK(r.z(4.0 - 2 * sd) == doctest::Approx(2.0));
    // constant losses: std 0, z := 0 rather than a division by zero
    LossRecords c;
    c.init(4);
    for (int i = 0; i < 4; ++i) c.push(0.5);
    CHECK(c.z(0.9) == 0.0);
}

TEST_CASE("expansion rule: every descriptor must find the batch novel") {
    // z (K=2, B=3): adapter 0 mean 3, adapter 1 mean 1.5
    vector<double> z = {2, 3, 4, 1, 2, 1.5};
    double score = -1;
    CHECK_FALSE(expansion_rule(z.data(), 2, 3, 2.0, false, &score));
    CHECK(score == doctest::Approx(1.5)); // min over adapters of the batch-mean z
    CHECK(expansion_rule(z.data(), 2, 3, 1.4, false, &score));
    // no expansion when every shift is below the threshold
    vector<double> low = {0.1, 0.5, 0.9, 0.3, 0.2, 1.0};
    CHECK_FALSE(expansion_rule(low.data(), 2, 3, 1.0, false, &score));
    CHECK(score < 1.0);
    // at most one expansion per site per task: a site that already expanded never triggers
    vector<double> high = {9, 9, 9};
    CHECK(expansion_rule(high.data(), 1, 3, 2.0, false, &score));
    CHECK_FALSE(expansion_rule(high.data(), 1, 3, 2.0, true, &score));
    // strictly greater than the threshold
    vector<double> eq = {2, 2};
    CHECK_FALSE(expansion_rule(eq.data(), 1, 2, 2.0, false, &score));
}

TEST_CASE("continual-learning metrics of an accuracy matrix") {
    const double nan = std::nan("");
    // R[i][j]: accuracy on task j after task i (j > i unused)
    vector<vector<double>> R = {{0.9, nan, nan}, {0.8, 0.7, nan}, {0.6, 0.65, 0.95}};
    vector<int64_t> n = {100, 100, 200};
    auto m = stream_metrics(R, n);
    REQUIRE(m.curve.size() == 3);
    CHECK(m.curve[0] == doctest::Approx(0.9));
    CHECK(m.curve[1] == doctest::Approx(0.75));
    CHECK(m.curve[2] == doctest::Approx((60 + 65 + 190) / 400.0)); // sample-weighted
    CHECK(m.A_N == doctest::Approx(m.curve[2]));
    CHECK(m.A_bar == doctest::Approx((0.9 + 0.75 + 315.0 / 400) / 3));
    // forgetting: task 0 best 0.9 -> 0.6; task 1 best 0.7 -> 0.65
    CHECK(m.forgetting == doctest::Approx((0.3 + 0.05) / 2));
    CHECK(m.bwt == doctest::Approx(((0.6 - 0.9) + (0.65 - 0.7)) / 2));
    auto one = stream_metrics({{0.5}}, {10});
    CHECK(one.forgetting == 0.0);
    CHECK(one.bwt == 0.0);
    CHECK(one.A_N == 0.5);
}
