// Gradient checks of a whole MoE site (router gate + auxiliary losses + dispatch + experts +
// the frozen base Linear it hooks), one case per router, with the selection held fixed: the
// noise stream is fixed per case and inputs are random, so no selection flips under ±eps.
#include <doctest/doctest.h>

#include <memory>

#include "gradcheck/gradcheck.hpp"
#include "moe/nn/modules.hpp"
#include "moe/routing/moe_site.hpp"

using namespace moe;
using namespace moe::test;
using std::vector;

namespace {

struct SiteCase {
    ParamStore<double> st;
    nn::Linear<double> base;
    routing::MoeSite<double> site;
    vector<double> inp, dinp, out, G;
    vector<int32_t> task;
    int N = 8;
};

GradCase case_site(const std::string & router, const std::string & adapter, routing::BalanceConfig bc,
                   routing::RouterConfig rc = {}, double dropout = 0.0) {
    auto s = std::make_shared<SiteCase>();
    const int C = 6, OC = 6;
    routing::AdapterConfig ac;
    ac.kind = adapter;
    ac.experts = router == "none" ? 1 : 4;
    ac.rank = 3;
    ac.alpha = 6;
    ac.dropout = dropout;
    rc.kind = router == "task_mhr" ? "task" : router;
    if (router == "null_experts") { rc.null_experts = 2; rc.k = 3; }
    if (router == "random_fixed") { rc.k = 3; rc.k_start = 1; rc.k_grow_steps = 10; }
    if (router == "task") { rc.n_tasks = 3; rc.n_splits = 1; rc.temperature = 0.7; }
    if (router == "task_mhr") { rc.kind = "task"; rc.n_tasks = 3; rc.n_splits = 3; }
    rc.init_std = 0.8; // well-spread router probabilities: no near-ties
    auto frozen = [](const std::string & n) { return n.find(".experts.") != std::string::npos || n.find(".router.") != std::string::npos; };
    s->base.declare(s->st, "layers.0", C, OC, true, frozen);
    s->site.declare(s->st, "layers.0", C, OC, ac, rc, bc, [](const std::string &) { return true; });
    s->st.allocate(11);
    s->base.bind(s->st);
    s->site.bind(s->st);
    s->site.plan(s->N);
    s->base.hook = &s->site;
    s->inp = random_vec(s->N * C, 201, 1.5);
    s->dinp.resize(s->inp.size());
    s->out.resize(s->N * OC);
    s->G = random_vec(s->out.size(), 202);
    s->task = {0, 2, 1, 2, 0, 0, 1, 2};
    GradCase c;
    c.name = "moe_site_" + router + "_" + adapter + (bc.lbl != "none" ? "_" + bc.lbl : "") + (rc.jitter > 0 ? "_jitter" : "") +
             (dropout > 0 ? "_dropout" : "");
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
        s->site.set_context(s->task.data(), s->N, 3, 42);
        s->base.forward(s->out.data(), s->inp.data(), s->N, true);
        return dot(s->out.data(), s->G.data(), s->out.size()) + s->site.aux_loss();
    };
    c.backward = [s] { s->base.backward(s->dinp.data(), s->G.data(), s->inp.data(), s->N); };
    return c;
}

} // namespace

TEST_CASE("gradcheck: MoE site for every router (selection fixed)") {
    routing::BalanceConfig none, mixtral, megatron, sw, zl;
    mixtral.lbl = "mixtral"; mixtral.lbl_coef = 0.3;
    megatron.lbl = "megatron"; megatron.lbl_coef = 0.3; megatron.z_coef = 0.05;
    sw.lbl = "switch"; sw.lbl_coef = 0.3;
    zl.z_coef = 0.1;
    routing::BalanceConfig nullb; nullb.null_coef = 0.2;
    routing::RouterConfig jit; jit.jitter = 0.1;
    routing::RouterConfig norenorm; norenorm.renormalize = false;
    vector<GradCase> cases;
    cases.push_back(case_site("none", "lora", none));
    cases.push_back(case_site("none", "bottleneck", none));
    cases.push_back(case_site("soft", "lora", zl));
    cases.push_back(case_site("topk", "lora", mixtral));
    cases.push_back(case_site("topk", "lora", megatron, norenorm));
    cases.push_back(case_site("topk", "bottleneck", mixtral, jit));
    cases.push_back(case_site("topk", "lora", none, {}, 0.3));
    cases.push_back(case_site("switch", "lora", sw));
    cases.push_back(case_site("topp", "lora", mixtral));
    cases.push_back(case_site("dynmole", "lora", none));
    cases.push_back(case_site("expert_choice", "lora", none));
    cases.push_back(case_site("null_experts", "lora", nullb));
    cases.push_back(case_site("sigmoid_bias", "lora", none));
    cases.push_back(case_site("random_fixed", "lora", none));
    cases.push_back(case_site("task", "lora", none));      // Poly, relaxed Bernoulli (training)
    cases.push_back(case_site("task_mhr", "lora", none));  // MHR: 3 heads over the 6 input / 6 output columns
    check_all(cases);
}

TEST_CASE("MoE site: a fresh LoRA mixture leaves the base output unchanged (B = 0)") {
    ParamStore<float> st;
    nn::Linear<float> base;
    routing::MoeSite<float> site;
    routing::AdapterConfig ac; ac.experts = 4; ac.rank = 2;
    routing::RouterConfig rc; rc.k = 2;
    base.declare(st, "l", 6, 3, true, [](const std::string &) { return false; });
    site.declare(st, "l", 6, 3, ac, rc, {}, [](const std::string &) { return true; });
    st.allocate(1);
    base.bind(st); site.bind(st); site.plan(4);
    vector<float> x(24), y1(12), y2(12);
    for (size_t i = 0; i < x.size(); ++i) x[i] = 0.1f * float(i % 7) - 0.3f;
    base.forward(y1.data(), x.data(), 4, true);
    base.hook = &site;
    site.set_context(nullptr, 4, 0, 0);
    base.forward(y2.data(), x.data(), 4, true);
    CHECK(y1 == y2);
    CHECK(site.flops_ratio() == doctest::Approx(0.5)); // k/E of the dense adapter work
}
