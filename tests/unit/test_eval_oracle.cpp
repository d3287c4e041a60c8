// test_eval_oracle.cpp — moe-eval --oracle's task -> expert map: the assignment that maximises
// the summed task x expert affinity (Hungarian algorithm), checked against every permutation.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "moe/core/error.hpp"
#include "moe/train/evaluator.hpp"

using moe::train::assign_experts;

namespace {

double total(const std::vector<double> & a, const std::vector<int> & map, int E) {
    double s = 0;
    for (size_t t = 0; t < map.size(); ++t) s += a[t * E + map[t]];
    return s;
}

// The best summed affinity over every injective map of T tasks to E >= T experts.
double brute_force(const std::vector<double> & a, int T, int E) {
    std::vector<int> experts(E);
    std::iota(experts.begin(), experts.end(), 0);
    double best = -1e300;
    do { // every ordering of the experts; the first T of it are a map
        best = std::max(best, total(a, std::vector<int>(experts.begin(), experts.begin() + T), E));
    } while (std::next_permutation(experts.begin(), experts.end()));
    return best;
}

} // namespace

TEST_CASE("oracle map: a specialised router's permutation is recovered") {
    // task t sends 90% of its tokens to expert perm[t]
    const std::vector<int> perm = {2, 0, 3, 1};
    std::vector<double> a(16, 0.1 / 3);
    for (int t = 0; t < 4; ++t) a[t * 4 + perm[t]] = 0.9;
    CHECK(assign_experts(a, 4, 4) == perm);
}

TEST_CASE("oracle map: distinct experts even where the argmax collides") {
    // both tasks prefer expert 0; the best one-to-one map gives it to task 0 (0.9 + 0.4 > 0.6 + 0.5)
    const std::vector<double> a = {0.9, 0.1, 0.0, //
                                   0.6, 0.4, 0.0};
    CHECK(assign_experts(a, 2, 3) == std::vector<int>{0, 1});
    const std::vector<double> b = {0.5, 0.5, 0.0, //
                                   0.9, 0.0, 0.1};
    CHECK(assign_experts(b, 2, 3) == std::vector<int>{1, 0});
}

TEST_CASE("oracle map: optimal against every permutation on random affinities") {
    std::mt19937 rng(7);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (int trial = 0; trial < 300; ++trial) {
        const int E = 1 + trial % 7, T = 1 + (trial / 7) % E; // T <= E <= 7
        std::vector<double> a((size_t)T * E);
        for (auto & x : a) x = trial % 5 == 0 ? std::floor(u(rng) * 3) / 3 : u(rng); // ties too
        const auto map = assign_experts(a, T, E);
        REQUIRE(map.size() == (size_t)T);
        CHECK(std::set<int>(map.begin(), map.end()).size() == (size_t)T); // distinct experts
        for (int e : map) CHECK((e >= 0 && e < E));
        CHECK(total(a, map, E) == doctest::Approx(brute_force(a, T, E)).epsilon(1e-12));
    }
}

TEST_CASE("oracle map: more tasks than experts share experts by their highest affinity") {
    const std::vector<double> a = {0.7, 0.3,  //
                                   0.2, 0.8,  //
                                   0.6, 0.4,  //
                                   0.5, 0.5}; // a tie: the lower index
    CHECK(assign_experts(a, 4, 2) == std::vector<int>{0, 1, 0, 0});
    CHECK(assign_experts({}, 0, 3).empty());
    CHECK_THROWS_AS(assign_experts({1.0, 2.0}, 3, 1), moe::Error);
}
