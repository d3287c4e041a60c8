// Behaviour of whole sites and of the network around them that the kernel tests cannot see:
// DynMoLE's router loss pooled over sites (the golden value of the loss over the concatenated
// tokens), the telemetry of disabled experts, evaluation at the step training reached
// (random_fixed's growing k), the class order of a class-incremental stream, and the block site
// beside a transformer block's MLP.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "moe/data/stream.hpp"
#include "moe/nn/modules.hpp"
#include "moe/sites/moe_site.hpp"
#include "moe/train/evaluate.hpp"
#include "moe/train/network.hpp"

using namespace moe;
using std::vector;

namespace {

// golden_routing.py's logits (tests/tools): T = 4 tokens, E = 4 experts
const double L[4][4] = {{2.0, 1.0, 0.5, -1.0}, {0.1, 0.3, 2.2, 0.0}, {1.5, 1.4, -0.3, 0.2}, {-0.5, 0.0, 0.4, 1.8}};

// Two sites whose router logits are their inputs (router weight = I): tokens 0-1 at site a,
// tokens 2-3 at site b.
struct TwoSites {
    ParamStore<double> st;
    nn::Linear<double> la, lb;
    sites::MoeSite<double> sa, sb;
    vector<double> xa, xb, oa, ob;
    TwoSites(routing::RouterConfig rc, routing::BalanceConfig bc) {
        adapters::AdapterConfig ac;
        ac.experts = 4;
        ac.rank = 1;
        auto all = [](const std::string &) { return true; };
        la.declare(st, "a", 4, 2, true, all);
        sa.declare(st, "a", 4, 2, ac, rc, bc, all);
        lb.declare(st, "b", 4, 2, true, all);
        sb.declare(st, "b", 4, 2, ac, rc, bc, all);
        st.allocate(1);
        la.bind(st);
        sa.bind(st);
        lb.bind(st);
        sb.bind(st);
        sa.plan(2, 1);
        sb.plan(2, 1);
        la.hook = &sa;
        lb.hook = &sb;
        for (auto * name : {"a.router.weight", "b.router.weight"}) {
            double * w = st.value(st.find(name));
            for (int i = 0; i < 16; ++i) w[i] = (i % 5 == 0) ? 1.0 : 0.0;
        }
        xa = {L[0][0], L[0][1], L[0][2], L[0][3], L[1][0], L[1][1], L[1][2], L[1][3]};
        xb = {L[2][0], L[2][1], L[2][2], L[2][3], L[3][0], L[3][1], L[3][2], L[3][3]};
        oa.resize(4);
        ob.resize(4);
    }
    void forward() {
        sa.set_context({nullptr, 2, 0, 0});
        sb.set_context({nullptr, 2, 0, 0});
        la.forward(oa.data(), xa.data(), 2, true);
        lb.forward(ob.data(), xb.data(), 2, true);
    }
    double pool(int kind) {
        vector<routing::SiteLoss<double> *> parts;
        for (auto * s : {&sa, &sb})
            if (auto * p = s->pooled_loss(kind)) parts.push_back(p);
        routing::PoolState state;
        return routing::pool_losses<double>(kind, parts, true, state);
    }
};

} // namespace

TEST_CASE("DynMoLE's router loss is pooled over the sites by default: the golden loss of the concatenated tokens") {
    routing::RouterConfig rc;
    rc.kind = "dynmole";
    routing::BalanceConfig bc; // lbl_pool auto: as MoE-PEFT, one loss over every site's tokens
    TwoSites s(rc, bc);
    s.forward();
    CHECK(s.pool(routing::kDynmoleLoss) == doctest::Approx(0.00810178).epsilon(1e-6));
    CHECK(s.sa.aux_loss() == 0.0); // nothing per site
    CHECK(s.sb.aux_loss() == 0.0);

    bc.lbl_pool = "site"; // one loss per site, summed: each site's mean entropy counts in full
    TwoSites p(rc, bc);
    p.forward();
    CHECK(p.pool(routing::kDynmoleLoss) == 0.0);
    const double per_site = p.sa.aux_loss() + p.sb.aux_loss();
    CHECK(per_site > 0.0081 * 1.5); // ~2x: the entropy term is weighed once per site
}

TEST_CASE("disabled experts get no load, no FLOPs and no place among every expert (soft, dynmole)") {
    for (std::string router : {"soft", "dynmole"}) {
        INFO(router);
        routing::RouterConfig rc;
        rc.kind = router;
        rc.entropy_threshold = 0.0; // dynmole: every token uses every expert
        TwoSites s(rc, {});
        sites::Overrides ov;
        ov.disabled = {1};
        s.sa.set_overrides(ov);
        s.sa.plan(2, 1);
        s.sa.set_context({nullptr, 2, 0, 0});
        s.la.forward(s.oa.data(), s.xa.data(), 2, false);
        const routing::RoutingRecord r = routing::summarize(*s.sa.stats(), 4);
        CHECK(r.load[1] == 0.0);
        CHECK(r.active == doctest::Approx(3.0));
        CHECK(r.flops_ratio == doctest::Approx(0.75));
    }
}

TEST_CASE("evaluation routes at the step training reached (random_fixed's growing k)") {
    spec::Spec sp;
    sp.model.kind = "mlp";
    sp.model.mlp.hidden = {8};
    sp.adapters.sites = {"layers.0"};
    sp.adapters.experts = 4;
    sp.adapters.rank = 2;
    sp.routing.kind = "random_fixed";
    sp.routing.k = 2;
    sp.routing.k_start = 1;
    sp.routing.k_grow_steps = 10;
    auto net = train::build_network(sp, {5, 0, 0, 0}, 3, 1, 7);
    net->plan(8);
    data::Dataset ds;
    ds.n = 8;
    ds.d = 5;
    ds.n_classes = 3;
    ds.x.assign(40, 0.5f);
    ds.y.assign(8, 1);
    ds.task.assign(8, 0);
    auto active = [&] {
        train::evaluate_dataset(*net, ds, {"task0"}, 8, "test", true);
        return routing::summarize(*net->sites[0]->stats(), 4).active;
    };
    CHECK(active() == doctest::Approx(1.0)); // step 0: k_start
    net->sites[0]->stats()->clear();
    net->set_step(10); // as after 10 optimizer steps
    CHECK(active() == doctest::Approx(2.0));
}

TEST_CASE("the class order of a class split is numpy's legacy permutation (SEMA / PILOT), or the explicit one") {
    data::ClassSplit cs;
    cs.init = 2;
    cs.order_seed = 1993;
    CHECK(data::class_order(cs, 10) == vector<int>{4, 2, 7, 6, 0, 3, 5, 8, 9, 1}); // SEMA's 4-2, 7-6, 0-3, 5-8, 9-1
    cs.shuffle = false;
    CHECK(data::class_order(cs, 4) == vector<int>{0, 1, 2, 3});
    cs.order = {3, 1, 0, 2};
    CHECK(data::class_order(cs, 4) == vector<int>{3, 1, 0, 2});
    for (vector<int> bad : {vector<int>{0, 1, 2}, vector<int>{0, 1, 1, 2}, vector<int>{0, 1, 2, 4}}) {
        cs.order = bad;
        CHECK_THROWS_WITH_AS(data::class_order(cs, 4), doctest::Contains("stream.class_split.order"), Error);
    }
}

TEST_CASE("a block site takes the residual stream after attention and adds to the block's output") {
    // out(with hook) - out(without) = the hook's output on x1 = x + attn(ln1(x))
    struct Probe final : nn::SiteHook<double> {
        vector<double> seen;
        void forward(double * out, const double * inp, int N, bool) override {
            seen.assign(inp, inp + (size_t)N * 4);
            for (int i = 0; i < N * 4; ++i) out[i] += 2.0 * inp[i];
        }
        void backward(double *, const double *, const double *, int) override {}
    };
    ParamStore<double> st;
    nn::TransformerBlock<double> blk;
    blk.declare(st, "blocks.0", 4, 2, 8, false, [](const std::string &) { return true; });
    st.allocate(3);
    blk.bind(st);
    blk.plan(2, 3);
    const auto site = blk.block_site();
    CHECK(site.name == "blocks.0.mlp");
    CHECK(site.block);
    vector<double> x(24), o1(24), o2(24);
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.7 * double(i));
    blk.forward(o1.data(), x.data(), 2, false);
    const vector<double> x1 = blk.x1; // x + attn(ln1(x))
    Probe p;
    *site.hook = &p;
    blk.forward(o2.data(), x.data(), 2, false);
    REQUIRE(p.seen.size() == 24);
    for (int i = 0; i < 24; ++i) {
        CHECK(p.seen[i] == x1[i]);
        CHECK(o2[i] - o1[i] == doctest::Approx(2.0 * x1[i]));
    }
}
