// Gradient checks of a whole MoE site (router gate + auxiliary losses + dispatch + experts +
// the frozen base Linear it hooks), one case per router of the registry, with the selection held
// fixed: the noise stream is fixed per case and inputs are random, so no selection flips under
// ±eps. Pooled losses over two sites.
#include <doctest/doctest.h>

#include <memory>

#include "gradcheck/gradcheck.hpp"
#include "moe/adapters/registry.hpp"
#include "moe/nn/modules.hpp"
#include "moe/sites/moe_site.hpp"
#include "moe/sites/poly_site.hpp"
#include "moe/train/network.hpp"
#include "unit/coverage.hpp"

using namespace moe;
using namespace moe::test;
using std::vector;

namespace {

// Pools loss `kind` over the sites as the network does (the parts of every site), records it in
// their telemetry and returns the un-scaled value.
template <typename T>
double pool_over(const std::vector<sites::Site<T> *> & ss, int kind, bool train, routing::PoolState & st) {
    std::vector<routing::SiteLoss<T> *> parts;
    for (auto * s : ss)
        if (auto * p = s->pooled_loss(kind)) parts.push_back(p);
    const double v = routing::pool_losses<T>(kind, parts, train, st);
    for (auto * s : ss) s->record_pooled(kind, v);
    return v;
}

struct SiteCase {
    ParamStore<double> st;
    nn::Linear<double> base;
    std::unique_ptr<sites::Site<double>> site;
    vector<double> inp, dinp, out, G;
    vector<int32_t> task;
    int N = 8;
};

// A whole site (router, gates, losses, experts, the frozen base Linear it hooks) of the router
// `router` in its registry example configuration, adapted by `rc_mod`.
GradCase case_site(const std::string & router, const std::string & adapter, routing::BalanceConfig bc,
                   void (*rc_mod)(routing::RouterConfig &) = nullptr, double dropout = 0.0, int rank = 3,
                   const std::string & tag = "") {
    auto s = std::make_shared<SiteCase>();
    const int C = 6, OC = 6;
    const routing::RouterEntry & entry = routing::router_entry(router);
    adapters::AdapterConfig ac;
    ac.kind = adapter;
    ac.experts = entry.traits.weights || entry.traits.per_task ? 4 : 1;
    ac.rank = rank; // 3: gathered blocks and OpenBLAS; 8: LoRA's token rows in place (lora_rows_*)
    ac.alpha = 2 * rank;
    ac.dropout = dropout;
    routing::RouterConfig rc;
    rc.kind = router;
    if (entry.example) entry.example(rc);
    if (rc_mod) rc_mod(rc);
    rc.init_std = 0.8; // well-spread router probabilities: no near-ties
    auto frozen = [](const std::string & n) {
        return n.find(".experts.") != std::string::npos || n.find(".router.") != std::string::npos;
    };
    auto all = [](const std::string &) { return true; };
    s->base.declare(s->st, "layers.0", C, OC, true, frozen);
    if (entry.traits.per_task) {
        auto site = std::make_unique<sites::PolySite<double>>();
        site->declare(s->st, "layers.0", C, OC, ac, rc, all);
        s->site = std::move(site);
    } else {
        auto site = std::make_unique<sites::MoeSite<double>>();
        site->declare(s->st, "layers.0", C, OC, ac, rc, bc, all);
        s->site = std::move(site);
    }
    s->st.allocate(11);
    s->base.bind(s->st);
    s->site->bind(s->st);
    s->site->plan(s->N, 1);
    s->base.hook = s->site.get();
    s->inp = random_vec(s->N * C, 201, 1.5);
    s->dinp.resize(s->inp.size());
    s->out.resize(s->N * OC);
    s->G = random_vec(s->out.size(), 202);
    s->task = {0, 2, 1, 2, 0, 0, 1, 2};
    GradCase c;
    c.name = "moe_site_" + router + "_" + adapter + (bc.lbl != "none" ? "_" + bc.lbl : "") +
             (rc.jitter > 0 ? "_jitter" : "") + (dropout > 0 ? "_dropout" : "") +
             (rank != 3 ? "_r" + std::to_string(rank) : "") + tag;
    c.keep = s;
    // every trainable tensor, with random values (B = 0 at init would hide A's gradient)
    for (int id = 0; id < s->st.size(); ++id) {
        const auto & pi = s->st.info(id);
        if (!pi.trainable) continue;
        auto r = random_vec(pi.size, 300 + id, 0.7);
        std::copy(r.begin(), r.end(), s->st.value(id));
        c.tensors.push_back({pi.name, s->st.value(id), s->st.grad(id), pi.size});
    }
    c.tensors.push_back({"inp", s->inp.data(), s->dinp.data(), s->inp.size()});
    c.loss = [s] {
        s->site->set_context({s->task.data(), s->N, 3, 42});
        s->base.forward(s->out.data(), s->inp.data(), s->N, true);
        return dot(s->out.data(), s->G.data(), s->out.size()) + s->site->aux_loss();
    };
    c.backward = [s] { s->base.backward(s->dinp.data(), s->G.data(), s->inp.data(), s->N); };
    return c;
}

// The losses every choosing router is checked with: its own, a per-site load-balancing loss
// (the Switch convention for the top-1 router) and the z-loss.
routing::BalanceConfig losses_for(const routing::RouterEntry & r) {
    routing::BalanceConfig bc;
    bc.null_coef = 0.2;
    bc.lbl_pool = "site"; // pooled losses are checked below
    if (!r.traits.chooses) return bc;
    bc.lbl = std::string(r.name) == "switch" ? "switch" : "mixtral";
    bc.lbl_coef = 0.3;
    bc.z_coef = 0.05;
    return bc;
}

} // namespace

namespace moe::test {
// Every router of the registry and every expert kind, so a part added to a table is checked
// without an edit here; the losses are those the router cases carry, and the pooled ones below.
std::vector<std::string> gradchecked_routers() { return routing::router_names(); }
std::vector<std::string> gradchecked_experts() { return adapters::expert_kind_names(); }
std::vector<std::string> gradchecked_losses() {
    std::vector<std::string> out = {"lbl", "dynmole_loss"}; // pooled over two sites (case_pooled)
    for (const auto & r : routing::routers()) {
        routing::RouterConfig rc;
        rc.kind = r.name;
        if (r.example) r.example(rc);
        for (const auto & l : routing::make_site_losses<double>(losses_for(r), rc))
            out.push_back(routing::kLossNames[l->kind]);
    }
    return out;
}
} // namespace moe::test

TEST_CASE("gradcheck: a MoE site for every registered router (selection fixed)") {
    vector<GradCase> cases;
    for (const auto & name : moe::test::gradchecked_routers())
        cases.push_back(case_site(name, "lora", losses_for(routing::router_entry(name))));
    CHECK(cases.size() == routing::routers().size());
    check_all(cases);
}

TEST_CASE("gradcheck: a MoE site for every registered expert kind") {
    vector<GradCase> cases;
    routing::BalanceConfig mixtral;
    mixtral.lbl = "mixtral";
    mixtral.lbl_coef = 0.3;
    mixtral.lbl_pool = "site";
    for (const auto & kind : moe::test::gradchecked_experts()) {
        cases.push_back(case_site("topk", kind, mixtral));
        cases.push_back(case_site("none", kind, {}));
    }
    check_all(cases);
}

TEST_CASE("gradcheck: MoE site variants (adapter kinds, dropout, jitter, ranks, conventions)") {
    routing::BalanceConfig none, mixtral, megatron, zl;
    mixtral.lbl_pool = megatron.lbl_pool = "site";
    mixtral.lbl = "mixtral";
    mixtral.lbl_coef = 0.3;
    megatron.lbl = "megatron";
    megatron.lbl_coef = 0.3;
    megatron.z_coef = 0.05;
    zl.z_coef = 0.1;
    auto jitter = [](routing::RouterConfig & c) { c.jitter = 0.1; };
    auto norenorm = [](routing::RouterConfig & c) { c.renormalize = false; };
    auto mhr = [](routing::RouterConfig & c) { c.n_splits = 3; };
    vector<GradCase> cases;
    cases.push_back(case_site("topk", "lora", megatron, norenorm));
    cases.push_back(case_site("topk", "bottleneck", mixtral, jitter));
    cases.push_back(case_site("topk", "lora", none, nullptr, 0.3));
    cases.push_back(case_site("topk", "lora", mixtral, nullptr, 0.0, 8)); // rank 8: the token rows in place
    cases.push_back(case_site("topk", "lora", none, nullptr, 0.3, 8));    // ... under adapter dropout
    cases.push_back(case_site("soft", "lora", zl, nullptr, 0.0, 8));
    cases.push_back(case_site("switch", "bottleneck", zl));
    cases.push_back(case_site("task", "lora", none, mhr, 0.0, 3, "_mhr")); // MHR: 3 heads over 6 columns
    check_all(cases);
}

// Two sites whose load-balancing loss (HF Mixtral / Switch) or DynMoLE router loss (MoE-PEFT)
// is pooled over both: value and gradient.
static GradCase case_pooled(const std::string & conv) {
    struct S {
        ParamStore<double> st;
        nn::Linear<double> l0, l1;
        sites::MoeSite<double> s0, s1;
        std::vector<double> x0, x1, d0, d1, o0, o1, G0, G1;
        routing::PoolState pool;
        routing::BalanceConfig bc;
    };
    auto s = std::make_shared<S>();
    adapters::AdapterConfig ac;
    ac.experts = 4;
    ac.rank = 2;
    routing::RouterConfig rc;
    rc.k = 2;
    rc.init_std = 0.8;
    if (conv == "dynmole") {
        rc.kind = "dynmole";
        s->bc.dynmole_beta = 0.3;
        s->bc.dynmole_alpha = 0.2; // strong enough to see in the check
    } else {
        s->bc.lbl = conv;
        s->bc.lbl_coef = 0.5;
    }
    s->bc.lbl_pool = "layers";
    auto frozen = [](const std::string & n) {
        return n.find(".experts.") != std::string::npos || n.find(".router.") != std::string::npos;
    };
    auto all = [](const std::string &) { return true; };
    s->l0.declare(s->st, "a", 5, 4, true, frozen);
    s->s0.declare(s->st, "a", 5, 4, ac, rc, s->bc, all);
    s->l1.declare(s->st, "b", 4, 3, true, frozen);
    s->s1.declare(s->st, "b", 4, 3, ac, rc, s->bc, all);
    s->st.allocate(3);
    s->l0.bind(s->st);
    s->s0.bind(s->st);
    s->l1.bind(s->st);
    s->s1.bind(s->st);
    s->s0.plan(6, 1);
    s->s1.plan(9, 1);
    s->l0.hook = &s->s0;
    s->l1.hook = &s->s1;
    s->x0 = random_vec(6 * 5, 51, 1.5);
    s->x1 = random_vec(9 * 4, 52, 1.5);
    s->d0.resize(s->x0.size());
    s->d1.resize(s->x1.size());
    s->o0.resize(6 * 4);
    s->o1.resize(9 * 3);
    s->G0 = random_vec(s->o0.size(), 53);
    s->G1 = random_vec(s->o1.size(), 54);
    GradCase c;
    c.name = "moe_sites_pooled_" + conv;
    c.keep = s;
    for (int id = 0; id < s->st.size(); ++id) {
        const auto & pi = s->st.info(id);
        if (!pi.trainable) continue;
        auto r = random_vec(pi.size, 400 + id, 0.7);
        std::copy(r.begin(), r.end(), s->st.value(id));
        c.tensors.push_back({pi.name, s->st.value(id), s->st.grad(id), pi.size});
    }
    c.tensors.push_back({"x0", s->x0.data(), s->d0.data(), s->x0.size()});
    c.loss = [s] {
        s->s0.set_context({nullptr, 6, 0, 1});
        s->s1.set_context({nullptr, 9, 0, 2});
        s->l0.forward(s->o0.data(), s->x0.data(), 6, true);
        s->l1.forward(s->o1.data(), s->x1.data(), 9, true);
        const bool dyn = s->bc.lbl == "none";
        const double v =
            pool_over<double>({&s->s0, &s->s1}, dyn ? routing::kDynmoleLoss : routing::kLbl, false, s->pool);
        return dot(s->o0.data(), s->G0.data(), s->o0.size()) + dot(s->o1.data(), s->G1.data(), s->o1.size()) +
               (dyn ? 1.0 : s->bc.lbl_coef) * v + s->s0.aux_loss() + s->s1.aux_loss();
    };
    c.backward = [s] {
        s->l0.backward(s->d0.data(), s->G0.data(), s->x0.data(), 6);
        s->l1.backward(s->d1.data(), s->G1.data(), s->x1.data(), 9);
    };
    return c;
}

TEST_CASE("gradcheck: losses pooled over two sites (load balancing, DynMoLE's router loss)") {
    vector<GradCase> cases;
    cases.push_back(case_pooled("mixtral"));
    cases.push_back(case_pooled("switch"));
    cases.push_back(case_pooled("dynmole"));
    check_all(cases);
}

TEST_CASE("pooled LBL over two sites equals HF Mixtral's LBL of the concatenated logits (golden 1.984953)") {
    // golden_routing.py LOGITS: tokens 0-1 reach site a, tokens 2-3 site b; router weight = I so
    // the router logits are the inputs themselves.
    const double L[4][4] = {{2.0, 1.0, 0.5, -1.0}, {0.1, 0.3, 2.2, 0.0}, {1.5, 1.4, -0.3, 0.2}, {-0.5, 0.0, 0.4, 1.8}};
    for (std::string pool : {"layers", "site"}) {
        ParamStore<double> st;
        nn::Linear<double> la, lb;
        sites::MoeSite<double> sa, sb;
        adapters::AdapterConfig ac;
        ac.experts = 4;
        ac.rank = 1;
        routing::RouterConfig rc;
        rc.k = 2;
        routing::BalanceConfig bc;
        bc.lbl = "mixtral";
        bc.lbl_coef = 1.0;
        bc.lbl_pool = pool;
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
        std::vector<double> xa = {L[0][0], L[0][1], L[0][2], L[0][3], L[1][0], L[1][1], L[1][2], L[1][3]};
        std::vector<double> xb = {L[2][0], L[2][1], L[2][2], L[2][3], L[3][0], L[3][1], L[3][2], L[3][3]};
        std::vector<double> oa(4), ob(4);
        routing::PoolState state;
        sa.set_context({nullptr, 2, 0, 0});
        sb.set_context({nullptr, 2, 0, 0});
        la.forward(oa.data(), xa.data(), 2, true);
        lb.forward(ob.data(), xb.data(), 2, true);
        const double pooled = pool_over<double>({&sa, &sb}, routing::kLbl, true, state);
        if (pool == "layers") {
            CHECK(pooled == doctest::Approx(1.984953).epsilon(1e-6));
        } else {
            CHECK(pooled == 0.0);                                  // not pooled: each site has its own loss
            const double per_site = sa.aux_loss() + sb.aux_loss(); // z-loss is 0 (z_coef = 0)
            CHECK(per_site != doctest::Approx(1.984953).epsilon(1e-3));
            CHECK(per_site > 0);
        }
    }
}

TEST_CASE("MoE site: a fresh LoRA mixture leaves the base output unchanged (B = 0)") {
    ParamStore<float> st;
    nn::Linear<float> base;
    sites::MoeSite<float> site;
    adapters::AdapterConfig ac;
    ac.experts = 4;
    ac.rank = 2;
    routing::RouterConfig rc;
    rc.k = 2;
    base.declare(st, "l", 6, 3, true, [](const std::string &) { return false; });
    site.declare(st, "l", 6, 3, ac, rc, {}, [](const std::string &) { return true; });
    st.allocate(1);
    base.bind(st);
    site.bind(st);
    site.plan(4, 1);
    vector<float> x(24), y1(12), y2(12);
    for (size_t i = 0; i < x.size(); ++i) x[i] = 0.1f * float(i % 7) - 0.3f;
    base.forward(y1.data(), x.data(), 4, true);
    base.hook = &site;
    site.set_context({nullptr, 4, 0, 0});
    base.forward(y2.data(), x.data(), 4, true);
    CHECK(y1 == y2);
    CHECK(site.flops_ratio() == doctest::Approx(0.5)); // k/E of the dense adapter work
}
