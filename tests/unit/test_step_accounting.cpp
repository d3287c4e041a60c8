// What a training step costs. "Nothing allocates inside a training step": after two
// warm-up steps, a step of forward, loss, backward and AdamW update makes no call to operator new,
// at 1 and 2 threads (the replacement operator new below counts every allocation of the test
// binary). And the FLOP count moe-bench reports is every matrix product of the step, no more and
// no less: the count of a step against the formula worked out by hand.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "harness.hpp"
#include "moe/blas/gemm.hpp"
#include "moe/core/parallel.hpp"
#include "moe/core/rng.hpp"
#include "moe/nn/kernels.hpp"
#include "moe/optim/optim.hpp"
#include "moe/train/network.hpp"

namespace {
std::atomic<long> g_allocations{0};
void * counted(std::size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void * p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
} // namespace

// Every replaceable form that allocates with malloc is replaced, so that every operator delete
//  (which frees) meets memory from malloc: replacing only the throwing forms left the nothrow ones
//  (std::stable_sort's temporary buffer) with the runtime's, and AddressSanitizer reported the
//  mismatch. Over-aligned forms are not replaced and keep the runtime's new and delete pair.
void * operator new(std::size_t n) { return counted(n); }
void * operator new[](std::size_t n) { return counted(n); }
void operator delete(void * p) noexcept { std::free(p); }
void operator delete[](void * p) noexcept { std::free(p); }
void operator delete(void * p, std::size_t) noexcept { std::free(p); }
void operator delete[](void * p, std::size_t) noexcept { std::free(p); }
void * operator new(std::size_t n, const std::nothrow_t &) noexcept {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(n ? n : 1);
}
void * operator new[](std::size_t n, const std::nothrow_t &) noexcept {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(n ? n : 1);
}
void operator delete(void * p, const std::nothrow_t &) noexcept { std::free(p); }
void operator delete[](void * p, const std::nothrow_t &) noexcept { std::free(p); }

using namespace moe;
using std::vector;

using test::Threads;

namespace {
struct StepCost {
    long allocations = 0; // made by steps 3..5
    double flop = 0;      // counted by blas::gemm_flops in step 5
};

// five steps of a training loop on one batch
StepCost step_cost(const spec::Spec & sp, const models::InputShape & in, int B, int threads) {
    Threads th(threads);
    test::TrainLoop loop(sp, in, B, 1e-3, 3);
    StepCost cost;
    long before = 0;
    for (int step = 0; step < 5; ++step) {
        if (step == 2) before = g_allocations.load();
        if (step == 4) blas::reset_gemm_flops();
        loop.step();
    }
    cost.allocations = g_allocations.load() - before;
    cost.flop = blas::gemm_flops();
    return cost;
}

spec::Spec moe_spec(const std::string & model, std::vector<std::string> sites, const std::string & adapter) {
    spec::Spec sp = test::moe_spec(model, std::move(sites), 8, 8);
    sp.adapters.kind = adapter;
    return sp;
}
} // namespace

TEST_CASE("the allocation counter counts") {
    const long before = g_allocations.load();
    auto * v = new std::vector<int>(1000);
    delete v;
    CHECK(g_allocations.load() - before == 2); // the vector and its storage
}

TEST_CASE("a training step allocates nothing (MLP and ViT, LoRA and bottleneck experts, 1 and 2 threads)") {
    for (int threads : {1, 2}) {
        spec::Spec mlp = moe_spec("mlp", {"layers.0", "layers.1"}, "lora");
        mlp.model.mlp.hidden = {256, 128};
        CHECK(step_cost(mlp, {784, 0, 0, 0}, 128, threads).allocations == 0);
        mlp.adapters.kind = "bottleneck";
        CHECK(step_cost(mlp, {784, 0, 0, 0}, 128, threads).allocations == 0);
        spec::Spec vit = moe_spec("vit", {"blocks.*.attn.qkv", "blocks.*.mlp.fc1", "blocks.*.mlp.fc2"}, "lora");
        vit.model.vit = {4, 64, 2, 2, 128};
        CHECK(step_cost(vit, {784, 1, 28, 28}, 16, threads).allocations == 0);
    }
}

TEST_CASE("the FLOP count of an MLP step with LoRA experts is every matrix product, worked out by hand") {
    const double B = 64, k = 2, R = 8, E = 8, D = 784, H1 = 96, H2 = 80, V = 10, Bk = B * k;
    spec::Spec sp = moe_spec("mlp", {"layers.0", "layers.1"}, "lora");
    sp.model.mlp.hidden = {(int)H1, (int)H2};
    // base: forward of the three layers; input gradients of layers 1 and 2 only (frozen weights:
    // no weight gradients; layer 0's input is the data)
    const double base = 2 * B * (D * H1 + H1 * H2 + H2 * V) + 2 * B * (H1 * H2 + H2 * V);
    // LoRA on layer 0 (D -> H1), every routed row: forward h = x A^T, x B^T-side; backward dB, dh, dA
    // (no input gradient); on layer 1 (H1 -> H2) the input gradient too
    const double lora0 = 2 * Bk * R * (D + H1) + 2 * Bk * R * (H1 + H1 + D);
    const double lora1 = 2 * Bk * R * (H1 + H2) + 2 * Bk * R * (H2 + H2 + H1 + H1);
    // routers: logits and their weight gradient; layer 1's input gradient
    const double routers = 2 * 2 * B * D * E + 3 * 2 * B * H1 * E;
    for (int threads : {1, 2}) {
        INFO("threads " << threads);
        CHECK(step_cost(sp, {784, 0, 0, 0}, (int)B, threads).flop ==
              doctest::Approx(base + lora0 + lora1 + routers).epsilon(1e-12));
    }
}
