// Gradient checks of SEMA's pieces (double precision): the representation descriptor (linear
// autoencoder loss), the expandable mixture of adapters at a site (per-sample softmax router on
// the token-mean input, bottleneck or LoRA adapters, the frozen Linear it hooks), and the
// descriptor phase through the site. Plus the router-column freezing contract.
#include <doctest/doctest.h>

#include <memory>

#include "gradcheck/gradcheck.hpp"
#include "moe/nn/modules.hpp"
#include "moe/sites/sema_site.hpp"

using namespace moe;
using namespace moe::test;
using std::vector;

namespace {

GradCase case_rd() {
    struct S {
        vector<double> u, ew, eb, cw, cb, z, r, loss, G, du, dew, deb, dcw, dcb, scratch;
    };
    auto s = std::make_shared<S>();
    const int B = 5, C = 7, D = 3;
    s->u = random_vec(B * C, 1);
    s->ew = random_vec(D * C, 2);
    s->eb = random_vec(D, 3);
    s->cw = random_vec(C * D, 4);
    s->cb = random_vec(C, 5);
    s->z.resize(B * D);
    s->r.resize(B * C);
    s->loss.resize(B);
    s->G = random_vec(B, 6);
    s->du.resize(B * C);
    s->dew.resize(D * C);
    s->deb.resize(D);
    s->dcw.resize(C * D);
    s->dcb.resize(C);
    s->scratch.resize(B * (C + D));
    GradCase c;
    c.name = "rd_autoencoder";
    c.keep = s;
    c.tensors = {{"u", s->u.data(), s->du.data(), s->u.size()},
                 {"enc_w", s->ew.data(), s->dew.data(), s->ew.size()},
                 {"enc_b", s->eb.data(), s->deb.data(), s->eb.size()},
                 {"dec_w", s->cw.data(), s->dcw.data(), s->cw.size()},
                 {"dec_b", s->cb.data(), s->dcb.data(), s->cb.size()}};
    c.loss = [s, B, C, D] {
        sites::rd_forward(s->loss.data(), s->z.data(), s->r.data(), s->u.data(), s->ew.data(), s->eb.data(),
                          s->cw.data(), s->cb.data(), B, C, D);
        return dot(s->loss.data(), s->G.data(), B);
    };
    c.backward = [s, B, C, D] {
        std::fill(s->scratch.begin(), s->scratch.end(), std::nan(""));
        sites::rd_backward(s->du.data(), s->dew.data(), s->deb.data(), s->dcw.data(), s->dcb.data(), s->scratch.data(),
                           s->G.data(), s->u.data(), s->z.data(), s->r.data(), s->ew.data(), s->cw.data(), B, C, D);
    };
    return c;
}

struct SemaCase {
    ParamStore<double> st;
    nn::Linear<double> base;
    sites::SemaSite<double> site;
    vector<double> inp, dinp, out, G;
    int N = 8, Tn = 2;
};

std::shared_ptr<SemaCase> make_site(const std::string & adapter, int K) {
    auto s = std::make_shared<SemaCase>();
    const int C = 6, OC = 5;
    sites::SemaSiteConfig cfg;
    cfg.adapter = adapter;
    cfg.rank = 3;
    cfg.rd_dim = 2;
    cfg.lora_alpha = 4.5;
    auto frozen = [](const std::string & n) { return n.find(".sema.") != std::string::npos; };
    s->base.declare(s->st, "layers.1", C, OC, true, frozen);
    s->site.declare(s->st, "layers.1", C, OC, cfg, 3, true, true);
    s->st.allocate(5);
    s->base.bind(s->st);
    s->site.bind(s->st);
    s->site.plan(s->N, s->Tn);
    s->site.set_adapters(K);
    s->base.hook = &s->site;
    for (int id = 0; id < s->st.size(); ++id) {
        const auto & pi = s->st.info(id);
        if (!pi.trainable) continue;
        auto r = random_vec(pi.size, 400 + id, 0.7);
        std::copy(r.begin(), r.end(), s->st.value(id));
    }
    s->inp = random_vec(s->N * C, 401, 1.5);
    s->dinp.resize(s->inp.size());
    s->out.resize(s->N * OC);
    s->G = random_vec(s->out.size(), 402);
    return s;
}

// out = W x + b + Σ_k softmax(router(mean_t x))_k f_k(x): every adapter and router column trains
GradCase case_mixture(const std::string & adapter, int K) {
    auto s = make_site(adapter, K);
    s->site.set_training(vector<bool>(3, true), vector<bool>(3, true));
    if (adapter == "bottleneck") { // keep ReLU pre-activations away from the kink
        for (int k = 0; k < K; ++k) {
            const int id = s->st.find("layers.1.sema.adapter" + std::to_string(k) + ".down_b");
            for (size_t i = 0; i < s->st.info(id).size; ++i) s->st.value(id)[i] += 0.05 * (i % 2 ? 1 : -1);
        }
    }
    GradCase c;
    c.name = "sema_mixture_" + adapter + "_K" + std::to_string(K);
    c.keep = s;
    for (int id = 0; id < s->st.size(); ++id) {
        const auto & pi = s->st.info(id);
        if (!pi.trainable || pi.name.find(".rd") != std::string::npos) continue;
        const int k =
            pi.name[pi.name.find(".sema.") + 6 + (pi.name.find(".sema.router") != std::string::npos ? 6 : 7)] - '0';
        if (k >= K) continue;
        c.tensors.push_back({pi.name, s->st.value(id), s->st.grad(id), pi.size});
    }
    c.tensors.push_back({"inp", s->inp.data(), s->dinp.data(), s->inp.size()});
    c.loss = [s] {
        s->base.forward(s->out.data(), s->inp.data(), s->N, true);
        return dot(s->out.data(), s->G.data(), s->out.size());
    };
    c.backward = [s] { s->base.backward(s->dinp.data(), s->G.data(), s->inp.data(), s->N); };
    return c;
}

// the descriptor phase: Σ over the training descriptors of mean_b ℓ_k(mean_t x)
GradCase case_rd_phase() {
    auto s = make_site("bottleneck", 2);
    s->site.set_training({}, {});
    GradCase c;
    c.name = "sema_descriptor_phase";
    c.keep = s;
    for (const auto & n : s->site.rd_params(1)) {
        const int id = s->st.find(n);
        c.tensors.push_back({n, s->st.value(id), s->st.grad(id), s->st.info(id).size});
    }
    c.loss = [s] {
        s->base.forward(s->out.data(), s->inp.data(), s->N, true);
        const int B = s->N / s->Tn;
        double l = 0;
        for (int b = 0; b < B; ++b) l += s->site.rd_losses(1)[b];
        return l / B;
    };
    c.backward = [s] { s->site.rd_loss_backward({false, true}); };
    return c;
}

// SEMA's placement on a ViT: an expandable mixture at the block site of a pre-LN transformer
// block (input the residual stream after attention, output added to the block's output),
// through the whole block: x1 = x + attn(ln1(x)); out = x1 + mlp(ln2(x1)) + mixture(x1).
GradCase case_block_site(const std::string & adapter) {
    struct S {
        ParamStore<double> st;
        nn::TransformerBlock<double> blk;
        sites::SemaSite<double> site;
        vector<double> x, dx, out, G;
        int B = 2, Tn = 3, D = 4;
    };
    auto s = std::make_shared<S>();
    sites::SemaSiteConfig cfg;
    cfg.adapter = adapter;
    cfg.rank = 3;
    cfg.rd_dim = 2;
    cfg.lora_alpha = 4.5;
    auto all = [](const std::string &) { return true; };
    s->blk.declare(s->st, "blocks.0", s->D, 2, 6, false, all);
    const auto at = s->blk.block_site();
    s->site.declare(s->st, at.name, at.C, at.OC, cfg, 2, true, true);
    s->st.allocate(9);
    s->blk.bind(s->st);
    s->site.bind(s->st);
    s->blk.plan(s->B, s->Tn);
    s->site.plan(s->B * s->Tn, s->Tn);
    s->site.set_adapters(2);
    s->site.set_training({true, true}, {true, true});
    *at.hook = &s->site;
    GradCase c;
    c.name = "sema_block_site_" + adapter;
    c.keep = s;
    for (int id = 0; id < s->st.size(); ++id) {
        const auto & pi = s->st.info(id);
        if (!pi.trainable || pi.name.find(".rd") != std::string::npos) continue;
        auto r = random_vec(pi.size, 600 + id, 0.6);
        std::copy(r.begin(), r.end(), s->st.value(id));
        c.tensors.push_back({pi.name, s->st.value(id), s->st.grad(id), pi.size});
    }
    const size_t n = (size_t)s->B * s->Tn * s->D;
    s->x = random_vec(n, 601, 1.2);
    s->dx.resize(n);
    s->out.resize(n);
    s->G = random_vec(n, 602);
    c.tensors.push_back({"x", s->x.data(), s->dx.data(), n});
    c.loss = [s] {
        s->blk.forward(s->out.data(), s->x.data(), s->B, true);
        return dot(s->out.data(), s->G.data(), s->out.size());
    };
    c.backward = [s] { s->blk.backward(s->dx.data(), s->G.data(), s->x.data(), s->B); };
    return c;
}

} // namespace

TEST_CASE("gradcheck: SEMA at a transformer block's block site (the residual stream beside the MLP)") {
    vector<GradCase> cases;
    cases.push_back(case_block_site("bottleneck"));
    cases.push_back(case_block_site("lora"));
    check_all(cases);
}

TEST_CASE("gradcheck: SEMA descriptor, expandable mixture and descriptor phase") {
    vector<GradCase> cases;
    cases.push_back(case_rd());
    cases.push_back(case_mixture("bottleneck", 1));
    cases.push_back(case_mixture("bottleneck", 3));
    cases.push_back(case_mixture("lora", 2));
    cases.push_back(case_rd_phase());
    check_all(cases);
}

TEST_CASE("SEMA: only the training router column and adapter receive gradients") {
    auto s = make_site("bottleneck", 3);
    s->site.set_training({false, false, true}, {false, false, true}); // the newest slot trains
    s->st.zero_grad();
    s->base.forward(s->out.data(), s->inp.data(), s->N, true);
    s->base.backward(s->dinp.data(), s->G.data(), s->inp.data(), s->N);
    auto norm = [&](const std::string & name) {
        const int id = s->st.find(name);
        double a = 0;
        for (size_t i = 0; i < s->st.info(id).size; ++i) a += std::fabs(s->st.grad(id)[i]);
        return a;
    };
    for (int k = 0; k < 2; ++k) {
        for (const auto & n : s->site.router_params(k)) CHECK_MESSAGE(norm(n) == 0.0, n);
        for (const auto & n : s->site.adapter_params(k)) CHECK_MESSAGE(norm(n) == 0.0, n);
    }
    CHECK(norm("layers.1.sema.router2.weight") > 0);
    CHECK(norm("layers.1.sema.router2.bias") > 0);
    CHECK(norm("layers.1.sema.adapter2.up_w") > 0);
    // the input gradient still flows through the frozen adapters
    double d = 0;
    for (double v : s->dinp) d += std::fabs(v);
    CHECK(d > 0);
    // and a fresh adapter (up = 0) leaves the output unchanged
    auto t = make_site("bottleneck", 1);
    for (const auto & n : {"layers.1.sema.adapter0.up_w", "layers.1.sema.adapter0.up_b"}) {
        const int id = t->st.find(n);
        std::fill_n(t->st.value(id), t->st.info(id).size, 0.0);
    }
    vector<double> plain(t->out.size());
    nn::Linear<double> copy = t->base;
    copy.hook = nullptr;
    copy.forward(plain.data(), t->inp.data(), t->N, false);
    t->base.forward(t->out.data(), t->inp.data(), t->N, false);
    CHECK(plain == t->out);
}
