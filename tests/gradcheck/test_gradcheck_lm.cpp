// Gradient checks of the language-model kernels (embedding, RMSNorm, RoPE, the tanh GELU,
// SwiGLU, grouped-query causal attention on strided q/k/v), the gpt family in LLaMA layout
// (split q/k/v, RoPE, RMSNorm, SwiGLU, grouped KV heads, untied head; and with a tied head) and a
// token-level MoE site on a gpt (a LoRA mixture on the fused qkv Linear and one at a block site).
// The GPT-2 layout is checked with the other families in test_gradcheck_nn.cpp.
#include <doctest/doctest.h>

#include <memory>

#include "gradcheck/gradcheck.hpp"
#include "moe/models/registry.hpp"
#include "moe/nn/lm_kernels.hpp"
#include "moe/sites/moe_site.hpp"

using namespace moe;
using namespace moe::test;
using std::vector;

namespace {

GradCase case_embedding(bool positions) {
    struct S {
        vector<int32_t> tok;
        vector<double> wte, wpe, dwte, dwpe, out, G;
    };
    auto s = std::make_shared<S>();
    const int B = 2, Tn = 4, C = 3, V = 5, N = B * Tn;
    s->tok = {1, 4, 1, 0, 4, 4, 2, 1}; // repeats: rows of one token add into one row of dwte
    s->wte = random_vec(V * C, 1);
    s->wpe = random_vec(Tn * C, 2);
    s->dwte.resize(s->wte.size());
    s->dwpe.resize(s->wpe.size());
    s->out.resize(N * C);
    s->G = random_vec(N * C, 3);
    GradCase c;
    c.name = positions ? "embedding_learned_positions" : "embedding";
    c.keep = s;
    c.tensors = {{"wte", s->wte.data(), s->dwte.data(), s->wte.size()}};
    if (positions) c.tensors.push_back({"wpe", s->wpe.data(), s->dwpe.data(), s->wpe.size()});
    c.loss = [s, positions, N, Tn, C] {
        nn::embedding_forward(s->out.data(), s->tok.data(), s->wte.data(), positions ? s->wpe.data() : nullptr, N, Tn,
                              C);
        return dot(s->out.data(), s->G.data(), s->out.size());
    };
    c.backward = [s, positions, N, Tn, C, V] {
        nn::embedding_backward(s->dwte.data(), positions ? s->dwpe.data() : nullptr, s->G.data(), s->tok.data(), N, Tn,
                               C, V);
    };
    return c;
}

GradCase case_rmsnorm() {
    struct S {
        vector<double> inp, w, dinp, dw, out, rstd, G;
    };
    auto s = std::make_shared<S>();
    const int N = 5, C = 6;
    s->inp = random_vec(N * C, 11, 2.0);
    s->w = random_vec(C, 12);
    s->dinp.resize(s->inp.size());
    s->dw.resize(C);
    s->out.resize(N * C);
    s->rstd.resize(N);
    s->G = random_vec(N * C, 13);
    GradCase c;
    c.name = "rmsnorm";
    c.keep = s;
    c.tensors = {{"inp", s->inp.data(), s->dinp.data(), s->inp.size()}, {"w", s->w.data(), s->dw.data(), s->w.size()}};
    c.loss = [s, N, C] {
        nn::rmsnorm_forward(s->out.data(), s->rstd.data(), s->inp.data(), s->w.data(), N, C, 1e-5);
        return dot(s->out.data(), s->G.data(), s->out.size());
    };
    c.backward = [s, N, C] {
        nn::rmsnorm_backward(s->dinp.data(), s->dw.data(), s->G.data(), s->inp.data(), s->w.data(), s->rstd.data(), N,
                             C);
    };
    return c;
}

// RoPE on 2 heads of size 4 inside rows of 11 (a fused buffer: ld > heads * hd), positions
// starting at 2 (a decode offset)
GradCase case_rope() {
    struct S {
        vector<double> x, dx, y, tab, G, tmp;
    };
    auto s = std::make_shared<S>();
    const int B = 2, Tn = 3, NHh = 2, hd = 4, ld = 11, N = B * Tn, pos0 = 2;
    s->tab.resize((size_t)(Tn + pos0) * hd / 2 * 2);
    nn::rope_table(s->tab.data(), Tn + pos0, hd, 100.0);
    s->x = random_vec(N * ld, 21);
    s->dx.resize(s->x.size());
    s->y.resize(s->x.size());
    s->G = random_vec(N * ld, 22);
    s->tmp.resize(s->x.size());
    GradCase c;
    c.name = "rope";
    c.keep = s;
    c.tensors = {{"x", s->x.data(), s->dx.data(), s->x.size()}};
    c.loss = [s, N, Tn, pos0] {
        s->y = s->x; // columns outside the heads pass through
        nn::rope_forward(s->y.data(), ld, s->tab.data(), N, Tn, pos0, NHh, hd);
        return dot(s->y.data(), s->G.data(), s->y.size());
    };
    c.backward = [s, N, Tn, pos0] {
        s->tmp = s->G;
        nn::rope_backward(s->tmp.data(), ld, s->tab.data(), N, Tn, pos0, NHh, hd);
        for (size_t i = 0; i < s->dx.size(); ++i) s->dx[i] += s->tmp[i];
    };
    return c;
}

GradCase case_gelu_tanh() {
    struct S {
        vector<double> x, dx, y, G;
    };
    auto s = std::make_shared<S>();
    const int n = 40;
    s->x = random_vec(n, 31, 3.0);
    s->dx.resize(n);
    s->y.resize(n);
    s->G = random_vec(n, 32);
    GradCase c;
    c.name = "gelu_tanh";
    c.keep = s;
    c.tensors = {{"x", s->x.data(), s->dx.data(), (size_t)n}};
    c.loss = [s, n] {
        nn::gelu_tanh_forward(s->y.data(), s->x.data(), n);
        return dot(s->y.data(), s->G.data(), n);
    };
    c.backward = [s, n] { nn::gelu_tanh_backward(s->dx.data(), s->x.data(), s->G.data(), n); };
    return c;
}

GradCase case_swiglu() {
    struct S {
        vector<double> g, u, dg, du, y, G;
    };
    auto s = std::make_shared<S>();
    const int n = 30;
    s->g = random_vec(n, 41, 3.0);
    s->u = random_vec(n, 42, 2.0);
    s->dg.resize(n);
    s->du.resize(n);
    s->y.resize(n);
    s->G = random_vec(n, 43);
    GradCase c;
    c.name = "swiglu";
    c.keep = s;
    c.tensors = {{"gate", s->g.data(), s->dg.data(), (size_t)n}, {"up", s->u.data(), s->du.data(), (size_t)n}};
    c.loss = [s, n] {
        nn::swiglu_forward(s->y.data(), s->g.data(), s->u.data(), n);
        return dot(s->y.data(), s->G.data(), n);
    };
    c.backward = [s, n] { nn::swiglu_backward(s->dg.data(), s->du.data(), s->G.data(), s->g.data(), s->u.data(), n); };
    return c;
}

// causal attention over q | k | v columns of one fused (rows, W) buffer
GradCase case_gqa(int NH, int NKV) {
    struct S {
        vector<double> qkv, dqkv, out, att, datt, G;
    };
    auto s = std::make_shared<S>();
    const int B = 2, Tn = 4, hd = 3, W = (NH + 2 * NKV) * hd, N = B * Tn;
    s->qkv = random_vec(N * W, 51, 1.5);
    s->dqkv.resize(s->qkv.size());
    s->out.resize((size_t)N * NH * hd);
    s->att.resize((size_t)B * NH * Tn * Tn);
    s->datt.resize(s->att.size());
    s->G = random_vec(s->out.size(), 52);
    GradCase c;
    c.name = "causal_attention_heads" + std::to_string(NH) + "_kv" + std::to_string(NKV);
    c.keep = s;
    c.tensors = {{"qkv", s->qkv.data(), s->dqkv.data(), s->qkv.size()}};
    const int64_t ko = (int64_t)NH * hd, vo = (int64_t)(NH + NKV) * hd;
    c.loss = [s, B, Tn, NH, NKV, hd, W, ko, vo] {
        const double * p = s->qkv.data();
        nn::gqa_attention_forward(s->out.data(), s->att.data(), p, p + ko, p + vo, W, W, W, B, Tn, NH, NKV, hd);
        return dot(s->out.data(), s->G.data(), s->out.size());
    };
    c.backward = [s, B, Tn, NH, NKV, hd, W, ko, vo] {
        const double * p = s->qkv.data();
        double * d = s->dqkv.data();
        nn::gqa_attention_backward(d, d + ko, d + vo, s->datt.data(), s->G.data(), p, p + ko, p + vo, s->att.data(), W,
                                   W, W, B, Tn, NH, NKV, hd);
    };
    return c;
}

models::ModelConfig llama_config(bool tied) {
    models::ModelConfig mc;
    mc.kind = "gpt";
    auto & g = mc.gpt;
    g.context = 5;
    g.width = 8;
    g.depth = 2;
    g.heads = 4;
    g.kv_heads = 2;
    g.mlp_dim = 10;
    g.norm = "rmsnorm";
    g.positions = "rope";
    g.rope_theta = 50;
    g.mlp = tied ? "gelu" : "swiglu";
    g.bias = tied;
    g.tie_head = tied;
    g.qkv = tied ? "fused" : "split";
    return mc;
}

struct GptCase {
    ParamStore<double> st;
    std::unique_ptr<models::Model<double>> m;
    vector<std::unique_ptr<sites::MoeSite<double>>> sites;
    vector<int32_t> tokens, task;
    vector<double> G;
    int B = 2, V = 7;
    models::Batch<double> batch() const {
        models::Batch<double> b;
        b.B = B;
        b.tokens = tokens.data();
        return b;
    }
};

// the whole model; with `moe`, LoRA mixtures (softmax top-2 router) at the fused qkv Linear of
// block 0 and at the block site of block 1, their inputs per token
GradCase case_gpt(const models::ModelConfig & mc, const std::string & name, bool moe) {
    auto s = std::make_shared<GptCase>();
    auto base_frozen = [moe](const std::string & n) {
        return !moe || n.find(".experts.") != std::string::npos || n.find(".router.") != std::string::npos;
    };
    s->m = models::make_model<double>(mc, {}, s->V, s->st, base_frozen);
    const int Tn = mc.gpt.context, N = s->B * Tn;
    if (moe) {
        adapters::AdapterConfig ac;
        ac.kind = "lora";
        ac.experts = 3;
        ac.rank = 2;
        ac.alpha = 4;
        routing::RouterConfig rc;
        rc.kind = "topk";
        rc.k = 2;
        rc.init_std = 0.8;
        routing::BalanceConfig bc;
        bc.lbl = "mixtral";
        bc.lbl_coef = 0.2;
        bc.lbl_pool = "site";
        for (const auto & ref : s->m->sites()) {
            if (ref.name != "blocks.0.attn.qkv" && ref.name != "blocks.1.mlp") continue;
            auto site = std::make_unique<sites::MoeSite<double>>();
            site->declare(s->st, ref.name, ref.C, ref.OC, ac, rc, bc, all_trainable);
            s->sites.push_back(std::move(site));
        }
        REQUIRE(s->sites.size() == 2);
    }
    s->st.allocate(5);
    s->m->bind(s->st);
    s->m->plan(s->B);
    for (auto & site : s->sites) {
        site->bind(s->st);
        site->plan(N, Tn);
    }
    if (moe) {
        size_t i = 0;
        for (const auto & ref : s->m->sites())
            if (ref.name == "blocks.0.attn.qkv" || ref.name == "blocks.1.mlp") *ref.hook = s->sites[i++].get();
    }
    for (int i = 0; i < N; ++i) s->tokens.push_back((i * 3 + 1) % s->V);
    s->task.assign(s->B, 0);
    s->G = random_vec((size_t)N * s->V, 102);
    GradCase c;
    c.name = name;
    c.keep = s;
    if (moe) {
        for (int id = 0; id < s->st.size(); ++id) { // the base frozen at random values; the mixtures checked
            const auto & pi = s->st.info(id);
            auto r = random_vec(pi.size, 700 + id, 0.5);
            std::copy(r.begin(), r.end(), s->st.value(id));
            if (pi.trainable) c.tensors.push_back({pi.name, s->st.value(id), s->st.grad(id), pi.size});
        }
    } else {
        add_store(c, s->st, 103);
    }
    c.loss = [s] {
        double aux = 0;
        for (auto & site : s->sites) site->set_context({s->task.data(), s->B, 0, 42});
        const double * z = s->m->forward(s->batch(), true);
        for (auto & site : s->sites) aux += site->aux_loss();
        return dot(z, s->G.data(), s->G.size()) + aux;
    };
    c.backward = [s] { s->m->backward(s->G.data(), s->batch()); };
    return c;
}

} // namespace

TEST_CASE("gradcheck: every language-model kernel") {
    vector<GradCase> cases;
    cases.push_back(case_embedding(false));
    cases.push_back(case_embedding(true));
    cases.push_back(case_rmsnorm());
    cases.push_back(case_rope());
    cases.push_back(case_gelu_tanh());
    cases.push_back(case_swiglu());
    cases.push_back(case_gqa(2, 2));
    cases.push_back(case_gqa(4, 2));
    cases.push_back(case_gqa(3, 1));
    check_all(cases);
}

TEST_CASE("gradcheck: gpt in LLaMA layout, with the tied head, and with token-level MoE sites") {
    vector<GradCase> cases;
    cases.push_back(case_gpt(llama_config(false), "gpt_llama_layout", false));
    cases.push_back(case_gpt(llama_config(true), "gpt_rope_rmsnorm_tied_head", false));
    models::ModelConfig gpt2;
    gpt2.kind = "gpt";
    gpt2.gpt.context = 4;
    gpt2.gpt.width = 6;
    gpt2.gpt.depth = 2;
    gpt2.gpt.heads = 2;
    cases.push_back(case_gpt(gpt2, "gpt_token_moe_sites", true));
    check_all(cases);
}
