// The thread pool (moe/core/parallel.hpp) and what is built on it: the same thread count gives
// the same bits run after run (static splits), and another thread count gives the same
// numbers up to rounding (OpenBLAS's results depend on where a product is cut into tiles, so a
// GEMM split over two threads differs from the whole product in the last bits).
#include <doctest/doctest.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "moe/blas/gemm.hpp"
#include "moe/core/parallel.hpp"
#include "moe/core/params.hpp"
#include "moe/core/rng.hpp"
#include "moe/nn/kernels.hpp"
#include "moe/optim/optim.hpp"
#include "moe/routing/routing.hpp"
#include "moe/train/network.hpp"

using namespace moe;
using std::vector;

using test::Threads;

TEST_CASE("par::run runs every task once, task t on thread t mod T, and rethrows the lowest failing task") {
    Threads th(2);
    REQUIRE(par::threads() == 2);
    for (int n : {1, 2, 3, 7}) {
        vector<std::atomic<int>> hits(n);
        vector<std::thread::id> who(n);
        auto f = [&](int t) {
            hits[t]++;
            who[t] = std::this_thread::get_id();
            CHECK(par::in_task());
        };
        par::run(n, f);
        for (int t = 0; t < n; ++t) CHECK(hits[t] == 1);
        for (int t = 2; t < n; ++t) CHECK(who[t] == who[t % 2]); // rounds keep the thread
        if (n >= 2) CHECK(who[0] == std::this_thread::get_id());
        if (n >= 2) CHECK(who[1] != who[0]);
    }
    CHECK_FALSE(par::in_task());
    // nested: runs serially on the calling task's thread
    vector<std::thread::id> inner(2);
    auto outer = [&](int t) {
        if (t != 1) return;
        auto g = [&](int u) { inner[u] = std::this_thread::get_id(); };
        par::run(2, g);
    };
    par::run(2, outer);
    CHECK(inner[0] == inner[1]);
    // exceptions: the lowest-numbered failing task's, after all tasks ran; the pool stays usable
    std::atomic<int> ran{0};
    auto bad = [&](int t) {
        ran++;
        if (t == 1) throw std::runtime_error("task 1");
        if (t == 2) throw std::runtime_error("task 2");
    };
    try {
        par::run(4, bad);
        FAIL("no exception");
    } catch (const std::runtime_error & e) { CHECK(std::string(e.what()) == "task 1"); }
    CHECK(ran == 4);
    std::atomic<int> after{0};
    auto ok = [&](int) { after++; };
    par::run(2, ok);
    CHECK(after == 2);
}

TEST_CASE("the pool's workers block the stop signals; the calling thread's mask is untouched") {
    auto blocked = [] {
        sigset_t cur;
        pthread_sigmask(SIG_BLOCK, nullptr, &cur);
        return sigismember(&cur, SIGINT) + sigismember(&cur, SIGTERM) + sigismember(&cur, SIGHUP) +
               sigismember(&cur, SIGQUIT);
    };
    REQUIRE(blocked() == 0);
    Threads th(2); // starts the workers
    vector<int> seen(2, -1);
    auto f = [&](int t) { seen[t] = blocked(); };
    par::run(2, f);
    CHECK(seen[0] == 0); // the caller: a handler runs here
    CHECK(seen[1] == 4); // a worker: none of them
    CHECK(blocked() == 0);
}

TEST_CASE("parallel_for covers [0, n) exactly once in aligned ranges") {
    Threads th(2);
    for (int64_t n : {0, 1, 15, 16, 17, 100, 1000, 4097}) {
        vector<int> seen(n, 0);
        std::atomic<int> calls{0};
        par::parallel_for(
            n, 0,
            [&](int64_t i0, int64_t i1) {
                calls++;
                CHECK(i0 < i1);
                if (i1 != n) CHECK(i1 % 16 == 0);
                for (int64_t i = i0; i < i1; ++i) seen[i]++;
            },
            16);
        for (int64_t i = 0; i < n; ++i) CHECK(seen[i] == 1);
        CHECK(calls <= 2);
    }
}

TEST_CASE("sgemm split over the pool: the product up to rounding, the same bits on every run") {
    struct Shape {
        int M, N, K;
    };
    for (Shape s : {Shape{300, 70, 64}, Shape{70, 300, 64}, Shape{1000, 1000, 16}, Shape{16, 1000, 1000}}) {
        for (int ta = 0; ta < 2; ++ta)
            for (int tb = 0; tb < 2; ++tb) {
                Rng r(7);
                vector<float> A((size_t)s.M * s.K), B((size_t)s.K * s.N), C0((size_t)s.M * s.N), C1, C2;
                for (auto & v : A) v = (float)r.normal();
                for (auto & v : B) v = (float)r.normal();
                for (auto & v : C0) v = (float)r.normal();
                const int lda = ta ? s.M : s.K, ldb = tb ? s.K : s.N;
                vector<float> C3;
                C1 = C0;
                C2 = C0;
                C3 = C0;
                {
                    Threads th(1);
                    blas::gemm<float>(ta, tb, s.M, s.N, s.K, 0.5f, A.data(), lda, B.data(), ldb, 1.f, C1.data(), s.N);
                }
                {
                    Threads th(2);
                    blas::gemm<float>(ta, tb, s.M, s.N, s.K, 0.5f, A.data(), lda, B.data(), ldb, 1.f, C2.data(), s.N);
                    blas::gemm<float>(ta, tb, s.M, s.N, s.K, 0.5f, A.data(), lda, B.data(), ldb, 1.f, C3.data(), s.N);
                }
                CHECK(std::memcmp(C2.data(), C3.data(), C2.size() * sizeof(float)) == 0);
                // every element is the product: against a double dot, and against the 1-thread result
                int bad = 0;
                for (int m = 0; m < s.M; m += 7)
                    for (int n = 0; n < s.N; n += 5) {
                        double ref = C0[(size_t)m * s.N + n], mag = std::fabs(ref);
                        for (int k = 0; k < s.K; ++k) {
                            const double p = 0.5 * double(ta ? A[(size_t)k * s.M + m] : A[(size_t)m * s.K + k]) *
                                             double(tb ? B[(size_t)n * s.K + k] : B[(size_t)k * s.N + n]);
                            ref += p;
                            mag += std::fabs(p);
                        }
                        const size_t i = (size_t)m * s.N + n;
                        bad += std::fabs(C2[i] - ref) > 1e-6 * mag || std::fabs(C2[i] - C1[i]) > 1e-6 * mag;
                    }
                CHECK(bad == 0);
            }
    }
}

namespace {
// A few AdamW steps of a MoE network (the shipped step): the first step's gradients (AdamW's first
// moment after one step is (1 - beta1) g, bit for bit a function of g), then the logits after
// the last step and every trainable value.
struct Steps {
    vector<float> grads, final;
};
Steps train_steps(const spec::Spec & sp, const models::InputShape & in, int B, int threads) {
    Threads th(threads);
    test::TrainLoop loop(sp, in, B, 1e-2, 11);
    Steps out;
    for (int step = 0; step < 3; ++step) {
        loop.step();
        if (step == 0) out.grads.assign(loop.opt->state_m().begin(), loop.opt->state_m().end());
    }
    const float * z = loop.logits();
    out.final.assign(z, z + (size_t)B * loop.V);
    auto tv = loop.net->store.trainable_values();
    out.final.insert(out.final.end(), tv.begin(), tv.end());
    return out;
}

size_t n_diff(const vector<float> & a, const vector<float> & b) {
    REQUIRE(a.size() == b.size());
    size_t diff = 0;
    for (size_t i = 0; i < a.size(); ++i) diff += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
    return diff;
}
void check_same_bits(const Steps & a, const Steps & b) {
    CHECK(n_diff(a.grads, b.grads) == 0);
    CHECK(n_diff(a.final, b.final) == 0);
}
// 1 vs 2 threads: the same training up to rounding. The first gradients agree to ~1e-6 of the
// largest one (a gradient counted twice or dropped would be off by its own size). Three AdamW
// steps at lr 1e-2 move a weight by up to 3e-2; AdamW divides each step by the gradient's own
// scale, so where a weight's successive gradients nearly cancel, a rounding difference of 1e-7
// in them moves it by a tenth of lr (seen: 1.0e-3 on one LoRA weight). Half the lr still catches
// a step taken twice or lost.
void check_close(const Steps & a, const Steps & b) {
    REQUIRE(a.grads.size() == b.grads.size());
    REQUIRE(a.final.size() == b.final.size());
    double gmax = 0, gdiff = 0, worst = 0;
    for (size_t i = 0; i < a.grads.size(); ++i) {
        gmax = std::max(gmax, (double)std::fabs(a.grads[i]));
        gdiff = std::max(gdiff, (double)std::fabs(a.grads[i] - b.grads[i]));
    }
    for (size_t i = 0; i < a.final.size(); ++i) worst = std::max(worst, (double)std::fabs(a.final[i] - b.final[i]));
    MESSAGE("1 vs 2 threads: gradients differ by " << gdiff << " (largest " << gmax << "), values after 3 steps by "
                                                   << worst);
    CHECK(gmax > 0);
    CHECK(gdiff <= 1e-5 * gmax);
    CHECK(worst < 5e-3);
}
} // namespace

using test::moe_spec;

// 2 threads twice: the same bits; 1 thread: the same numbers up to rounding.
static void check_thread_counts(const spec::Spec & sp, const models::InputShape & in, int B) {
    const auto two = train_steps(sp, in, B, 2);
    check_same_bits(two, train_steps(sp, in, B, 2));
    check_close(train_steps(sp, in, B, 1), two);
}

TEST_CASE("nn::zero clears exactly [0, n) at 1 and 2 threads") {
    for (int threads : {1, 2})
        for (int64_t n : {int64_t(0), int64_t(1), int64_t(17), int64_t(70001), int64_t(300007)}) {
            Threads th(threads);
            vector<float> v((size_t)n + 5, 3.f);
            nn::zero(v.data(), n);
            CHECK(std::count(v.begin(), v.begin() + n, 0.f) == n);
            CHECK(std::count(v.begin() + n, v.end(), 3.f) == 5);
        }
}

TEST_CASE("router row kernels split their rows: the same bits at 1 and 2 threads, and as the serial z-loss") {
    const int N = 700, P = 64, K = 2; // 44800 elements: split at 2 threads
    vector<float> logits((size_t)N * P), dprobs((size_t)N * P);
    Rng rng(23);
    for (auto & v : logits) v = (float)rng.normal() * 3.f;
    for (auto & v : dprobs) v = (float)rng.normal();
    struct Out {
        vector<float> probs, dlogits, lse;
        vector<int32_t> idx;
        float z = 0;
    };
    auto run = [&](int threads) {
        Threads th(threads);
        Out o;
        o.probs.assign((size_t)N * P, 0.f);
        o.dlogits.assign((size_t)N * P, 0.5f);
        o.lse.assign(N, 0.f);
        o.idx.assign((size_t)N * K, -1);
        nn::softmax_forward(o.probs.data(), logits.data(), N, P);
        nn::softmax_backward(o.dlogits.data(), o.probs.data(), dprobs.data(), N, P);
        routing::topk_select(o.idx.data(), o.probs.data(), N, P, K);
        o.z = routing::zloss_forward(logits.data(), N, P, o.lse.data());
        return o;
    };
    const Out a = run(1), b = run(2);
    CHECK(std::memcmp(a.probs.data(), b.probs.data(), sizeof(float) * a.probs.size()) == 0);
    CHECK(std::memcmp(a.dlogits.data(), b.dlogits.data(), sizeof(float) * a.dlogits.size()) == 0);
    CHECK(a.idx == b.idx);
    CHECK(std::memcmp(a.lse.data(), b.lse.data(), sizeof(float) * a.lse.size()) == 0);
    CHECK(a.z == b.z);
    CHECK(routing::zloss_forward(logits.data(), N, P, (float *)nullptr) == a.z); // the serial path
    // the top-k rows hold each row's two largest probabilities, in order
    for (int n = 0; n < N; n += 97) {
        const float * p = a.probs.data() + (size_t)n * P;
        vector<float> sorted(p, p + P);
        std::sort(sorted.rbegin(), sorted.rend());
        CHECK(p[a.idx[(size_t)n * K]] == sorted[0]);
        CHECK(p[a.idx[(size_t)n * K + 1]] == sorted[1]);
    }
}

TEST_CASE("training steps: the same bits on every run at 2 threads, the same numbers at 1 (MLP, LoRA experts, top-k)") {
    spec::Spec sp = moe_spec("mlp", {"layers.0", "layers.1"}, 8, 16);
    sp.model.mlp.hidden = {512, 256};
    const models::InputShape in{784, 0, 0, 0};
    check_thread_counts(sp, in, 256);
    sp.adapters.kind = "bottleneck"; // bottleneck adapters: the gate-weighted combine
    check_thread_counts(sp, in, 256);
}

TEST_CASE("training steps: the same bits on every run at 2 threads, the same numbers at 1 (ViT, LoRA on qkv/fc1/fc2)") {
    spec::Spec sp = moe_spec("vit", {"blocks.*.attn.qkv", "blocks.*.mlp.fc1", "blocks.*.mlp.fc2"}, 4, 8);
    sp.model.vit = {4, 64, 2, 2, 128};
    sp.train.unfreeze = {"head.*", "norm.*", "blocks.1.ln*", "blocks.0.mlp.fc2.*", "patch_embed.*"};
    check_thread_counts(sp, {784, 1, 28, 28}, 32);
}

TEST_CASE("gradient norm: the double sum of squares, the same bits at 1 and 2 threads; clipping scales") {
    const int64_t n = 300007; // not a multiple of the 64 chunks, over the parallel threshold
    vector<float> g(n);
    Rng r(3);
    for (auto & v : g) v = (float)r.normal();
    double ref = 0;
    for (float v : g) ref += double(v) * double(v);
    double n1, n2;
    {
        Threads th(1);
        n1 = optim::clip_grad_norm(std::span<float>(g), 0.0);
    }
    {
        Threads th(2);
        n2 = optim::clip_grad_norm(std::span<float>(g), 0.0);
    }
    CHECK(std::memcmp(&n1, &n2, sizeof(double)) == 0);
    CHECK(n1 == doctest::Approx(std::sqrt(ref)).epsilon(1e-12));
    Threads th(2);
    const double before = optim::clip_grad_norm(std::span<float>(g), 10.0);
    CHECK(before == doctest::Approx(std::sqrt(ref)).epsilon(1e-12));
    CHECK(optim::clip_grad_norm(std::span<float>(g), 0.0) == doctest::Approx(10.0).epsilon(1e-5));
    // short vectors too (one chunk holds everything, the other 63 are empty)
    vector<float> s = {3, 4};
    CHECK(optim::clip_grad_norm(std::span<float>(s), 0.0) == 5.0);
}

TEST_CASE("Optimizer::step(f, zero_grads): the same update as step then zero_grad, every gradient cleared") {
    Threads th(2);
    for (const char * kind : {"adamw", "sgd"}) {
        auto make = [](ParamStore<float> & st) {
            st.declare("site.router.weight", {64, 300}, true, Init::Normal(1.0));
            st.declare("site.experts.lora_a", {70000}, true, Init::Normal(1.0));
            st.declare("frozen.weight", {10}, false, Init::Normal(1.0));
            st.declare("head.weight", {33}, true, Init::Normal(1.0));
            st.allocate(9);
        };
        ParamStore<float> a, b;
        make(a);
        make(b);
        optim::OptimConfig oc;
        oc.kind = kind;
        oc.lr = 1e-2;
        oc.momentum = 0.9;
        // a group at lr 0 (frozen for the optimizer, its gradient must still be cleared)
        const vector<optim::GroupConfig> groups = {{"head.*", 0.0, 0.0, -1}};
        optim::Optimizer<float> oa(oc, a, groups), ob(oc, b, groups);
        Rng r(4);
        for (int step = 0; step < 3; ++step) {
            auto ga = a.trainable_grads(), gb = b.trainable_grads();
            for (size_t i = 0; i < ga.size(); ++i) ga[i] = gb[i] = (float)r.normal();
            oa.step(0.5);
            a.zero_grad();
            ob.step(0.5, true);
            size_t nonzero = 0;
            for (float x : b.trainable_grads()) nonzero += x != 0.0f;
            CHECK(nonzero == 0);
            CHECK(n_diff(vector<float>(a.trainable_values().begin(), a.trainable_values().end()),
                         vector<float>(b.trainable_values().begin(), b.trainable_values().end())) == 0);
        }
    }
}
