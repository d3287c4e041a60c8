// models: a causal transformer language model. GPT-2 by default (huggingface/transformers@c44b2d9
// src/transformers/models/gpt2/modeling_gpt2.py; karpathy/llm.c@f1e2ace train_gpt2.c), LLaMA's
// options one key each (@5dd4a63 src/transformers/models/llama/modeling_llama.py: RMSNorm, RoPE
// rotate_half, grouped key/value heads, SwiGLU, no biases, an untied head):
//
//   x = tok_emb[ids] (+ pos_emb[t])
//   block i: x1 = x + proj(attention(rope(q), rope(k), v))  with q, k, v from ln1(x)
//            out = x1 + mlp(ln2(x1)) [+ the block site's hook on x1]
//   logits = norm(out) tok_emb^T  (tied)  or  head(norm(out))
//
// Initialisation as GPT-2's _init_weights: weights and embeddings N(0, init_std^2), biases 0,
// norms 1; attn.proj and the MLP's output projection N(0, (init_std / sqrt(2 depth))^2).
// Every Linear is a site; decode() runs one position against a KV cache.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "moe/blas/gemm.hpp"
#include "moe/core/error.hpp"
#include "moe/models/model.hpp"
#include "moe/nn/kernels.hpp"
#include "moe/nn/lm_kernels.hpp"

namespace moe::models {

using nn::Linear;

namespace {

enum class Norm { layer, rms };
enum class Mlp { gelu_tanh, gelu, swiglu };

// A norm of either kind at one place: <name>.weight (and .bias for LayerNorm).
template <typename T>
struct AnyNorm {
    Norm kind = Norm::layer;
    nn::LayerNorm<T> ln;
    std::string name;
    int C = 0, id_w = -1;
    T *w = nullptr, *dw = nullptr;
    double eps = 1e-5;
    std::vector<T> rstd;
    void declare(ParamStore<T> & s, const std::string & nm, int c, Norm k, double e, const nn::TrainablePred & tr) {
        kind = k;
        name = nm;
        C = c;
        eps = e;
        if (kind == Norm::layer) {
            ln.declare(s, nm, c, tr);
            ln.eps = e;
        } else {
            id_w = s.declare(nm + ".weight", {c}, tr(nm + ".weight"), Init::Ones());
        }
    }
    void bind(ParamStore<T> & s) {
        if (kind == Norm::layer) return ln.bind(s);
        w = s.value(id_w);
        dw = s.grad(id_w);
    }
    void plan(int N) {
        if (kind == Norm::layer)
            ln.plan(N);
        else
            rstd.assign(N, T(0));
    }
    void forward(T * out, const T * inp, int N) {
        if (kind == Norm::layer)
            ln.forward(out, inp, N);
        else
            nn::rmsnorm_forward(out, rstd.data(), inp, w, N, C, static_cast<T>(eps));
    }
    void backward(T * dinp, const T * dout, const T * inp, int N) {
        if (kind == Norm::layer)
            ln.backward(dinp, dout, inp, N);
        else
            nn::rmsnorm_backward(dinp, dw, dout, inp, w, rstd.data(), N, C);
    }
};

template <typename T>
struct GptBlock {
    std::string name;
    int C = 0, NH = 1, NKV = 1, hd = 1, I = 0, Tn = 0, Nmax = 0;
    bool fused = true, rope = false;
    Mlp mlp = Mlp::gelu_tanh;
    AnyNorm<T> ln1, ln2;
    Linear<T> qkv, q, k, v, proj, fc1, fc2, gate, up, down;
    nn::SiteHook<T> * parallel = nullptr; // the block site beside the MLP
    const double * rope_tab = nullptr;    // (Tmax, hd/2, 2)
    // activations (planned for Nmax rows)
    std::vector<T> l1, qkvb, y, a_out, x1, l2, h, g, u, act, m_out; // qkvb: (N, W) [q | k | v]
    std::vector<T> dl, dqkv, dy, dx1, dh, dg, du, dact, datt, att;
    // decode: the cache (B, NKV, Tmax, hd) of keys and values
    std::vector<T> kc, vc, scratch;
    int Bdec = 0, Tmax = 0;

    int W() const { return (NH + 2 * NKV) * hd; }

    void declare(ParamStore<T> & s, const std::string & nm, const GptConfig & c, const nn::TrainablePred & tr) {
        name = nm;
        C = c.width;
        NH = c.heads;
        NKV = c.kv_heads > 0 ? c.kv_heads : c.heads;
        hd = C / NH;
        fused = c.qkv == "fused";
        rope = c.positions == "rope";
        mlp = c.mlp == "swiglu" ? Mlp::swiglu : c.mlp == "gelu" ? Mlp::gelu : Mlp::gelu_tanh;
        I = c.mlp_dim > 0 ? c.mlp_dim : mlp == Mlp::swiglu ? (8 * C / 3 + 31) / 32 * 32 : 4 * C;
        const Norm nk = c.norm == "rmsnorm" ? Norm::rms : Norm::layer;
        const Init wi = Init::Normal(c.init_std), bi = Init::Zeros();
        const Init ri = Init::Normal(c.init_std / std::sqrt(2.0 * c.depth)); // residual projections
        ln1.declare(s, nm + ".ln1", C, nk, c.norm_eps, tr);
        if (fused) {
            qkv.declare(s, nm + ".attn.qkv", C, W(), c.bias, tr, wi, bi);
        } else {
            q.declare(s, nm + ".attn.q", C, NH * hd, c.bias, tr, wi, bi);
            k.declare(s, nm + ".attn.k", C, NKV * hd, c.bias, tr, wi, bi);
            v.declare(s, nm + ".attn.v", C, NKV * hd, c.bias, tr, wi, bi);
        }
        proj.declare(s, nm + ".attn.proj", NH * hd, C, c.bias, tr, ri, bi);
        ln2.declare(s, nm + ".ln2", C, nk, c.norm_eps, tr);
        if (mlp == Mlp::swiglu) {
            gate.declare(s, nm + ".mlp.gate", C, I, c.bias, tr, wi, bi);
            up.declare(s, nm + ".mlp.up", C, I, c.bias, tr, wi, bi);
            down.declare(s, nm + ".mlp.down", I, C, c.bias, tr, ri, bi);
        } else {
            fc1.declare(s, nm + ".mlp.fc1", C, I, c.bias, tr, wi, bi);
            fc2.declare(s, nm + ".mlp.fc2", I, C, c.bias, tr, ri, bi);
        }
        for (auto * l : linears()) s.allow_bf16(l->id_w); // model.base_storage = bf16 (frozen only)
    }
    std::vector<Linear<T> *> linears() {
        std::vector<Linear<T> *> out;
        out.reserve(7);
        for (Linear<T> * l : {&qkv, &q, &k, &v, &proj, &fc1, &fc2, &gate, &up, &down}) {
            const bool attn = l == &qkv ? fused : (l == &q || l == &k || l == &v) ? !fused : l == &proj;
            const bool glu = l == &gate || l == &up || l == &down;
            const bool mlp_l = glu ? mlp == Mlp::swiglu : (l == &fc1 || l == &fc2) && mlp != Mlp::swiglu;
            if (attn || mlp_l) out.push_back(l);
        }
        return out;
    }
    void bind(ParamStore<T> & s) {
        ln1.bind(s);
        ln2.bind(s);
        for (auto * l : linears()) l->bind(s);
    }
    void plan(int B, int tn) {
        Tn = tn;
        Nmax = B * Tn;
        const size_t n = (size_t)Nmax;
        ln1.plan(Nmax);
        ln2.plan(Nmax);
        for (auto * buf : {&l1, &a_out, &x1, &l2, &m_out, &dl, &dx1}) buf->assign(n * C, T(0));
        for (auto * buf : {&qkvb, &dqkv}) buf->assign(n * W(), T(0));
        for (auto * buf : {&y, &dy}) buf->assign(n * NH * hd, T(0));
        for (auto * buf : {&h, &act, &dh, &dact}) buf->assign(n * I, T(0));
        for (auto * buf : {&g, &u, &dg, &du}) buf->assign(mlp == Mlp::swiglu ? n * I : 0, T(0));
        att.assign((size_t)B * NH * Tn * Tn, T(0));
        datt.assign(att.size(), T(0));
    }
    // the q, k, v blocks of a (rows, W) buffer
    T * qp(T * b) { return b; }
    T * kp(T * b) { return b + (int64_t)NH * hd; }
    T * vp(T * b) { return b + (int64_t)(NH + NKV) * hd; }

    // q, k, v of N rows from l (N,C) into out (N, W), RoPE applied at positions pos0 + n % tn
    void project(T * out, const T * l, int N, int tn, int pos0, bool train) {
        if (fused) {
            qkv.forward(out, l, N, train);
        } else { // each projection into its own columns of the (N, W) rows
            const Linear<T> * lin[3] = {&q, &k, &v};
            T * dst[3] = {qp(out), kp(out), vp(out)};
            std::vector<T> & tmp = dl; // (N, C) scratch would not fit NH*hd + ...: use y / dy storage
            (void)tmp;
            for (int i = 0; i < 3; ++i) {
                T * buf = i == 0 ? dy.data() : i == 1 ? y.data() : dqkv.data();
                lin[i]->forward(buf, l, N, train);
                const int w = lin[i]->OC;
                for (int n = 0; n < N; ++n) std::memcpy(dst[i] + (int64_t)n * W(), buf + (int64_t)n * w, sizeof(T) * w);
            }
        }
        if (rope) {
            nn::rope_forward(qp(out), W(), rope_tab, N, tn, pos0, NH, hd);
            nn::rope_forward(kp(out), W(), rope_tab, N, tn, pos0, NKV, hd);
        }
    }
    void mlp_forward(T * out, const T * l, int N, bool train) {
        const int64_t n = (int64_t)N * I;
        if (mlp == Mlp::swiglu) {
            gate.forward(g.data(), l, N, train);
            up.forward(u.data(), l, N, train);
            nn::swiglu_forward(act.data(), g.data(), u.data(), n);
            down.forward(out, act.data(), N, train);
        } else {
            fc1.forward(h.data(), l, N, train);
            if (mlp == Mlp::gelu)
                nn::gelu_forward(act.data(), h.data(), n);
            else
                nn::gelu_tanh_forward(act.data(), h.data(), n);
            fc2.forward(out, act.data(), N, train);
        }
    }
    void forward(T * out, const T * inp, int B, bool train) {
        const int N = B * Tn;
        const int64_t n = (int64_t)N * C;
        ln1.forward(l1.data(), inp, N);
        project(qkvb.data(), l1.data(), N, Tn, 0, train);
        nn::gqa_attention_forward(y.data(), att.data(), qp(qkvb.data()), kp(qkvb.data()), vp(qkvb.data()), W(), W(),
                                  W(), B, Tn, NH, NKV, hd);
        proj.forward(a_out.data(), y.data(), N, train);
        nn::residual_forward(x1.data(), inp, a_out.data(), n);
        ln2.forward(l2.data(), x1.data(), N);
        mlp_forward(m_out.data(), l2.data(), N, train);
        nn::residual_forward(out, x1.data(), m_out.data(), n);
        if (parallel) parallel->forward(out, x1.data(), N, train); // out += parallel(x1)
    }
    void backward(T * dinp, const T * dout, const T * inp, int B) {
        const int N = B * Tn;
        const int64_t n = (int64_t)N * C, ni = (int64_t)N * I;
        // forward was: out = x1 + mlp(ln2(x1)) [+ parallel(x1)]   so   dx1 = dout + ln2^T(mlp^T(dout)) [+ parallel^T]
        std::copy(dout, dout + n, dx1.begin());
        nn::zero(dl.data(), n);
        nn::zero(dact.data(), ni);
        if (mlp == Mlp::swiglu) {
            down.backward(dact.data(), dout, act.data(), N);
            nn::zero(dg.data(), ni);
            nn::zero(du.data(), ni);
            nn::swiglu_backward(dg.data(), du.data(), dact.data(), g.data(), u.data(), ni);
            gate.backward(dl.data(), dg.data(), l2.data(), N);
            up.backward(dl.data(), du.data(), l2.data(), N);
        } else {
            fc2.backward(dact.data(), dout, act.data(), N);
            nn::zero(dh.data(), ni);
            if (mlp == Mlp::gelu)
                nn::gelu_backward(dh.data(), h.data(), dact.data(), ni);
            else
                nn::gelu_tanh_backward(dh.data(), h.data(), dact.data(), ni);
            fc1.backward(dl.data(), dh.data(), l2.data(), N);
        }
        ln2.backward(dx1.data(), dl.data(), x1.data(), N);
        if (parallel) parallel->backward(dx1.data(), dout, x1.data(), N);
        // forward was: x1 = inp + proj(attn(ln1(inp)))   so   dinp += dx1 + ln1^T(qkv^T(attn^T(proj^T(dx1))))
        nn::add_inplace(dinp, dx1.data(), n);
        nn::zero(dy.data(), (int64_t)N * NH * hd);
        proj.backward(dy.data(), dx1.data(), y.data(), N);
        nn::zero(dqkv.data(), (int64_t)N * W());
        nn::gqa_attention_backward(qp(dqkv.data()), kp(dqkv.data()), vp(dqkv.data()), datt.data(), dy.data(),
                                   qp(qkvb.data()), kp(qkvb.data()), vp(qkvb.data()), att.data(), W(), W(), W(), B, Tn,
                                   NH, NKV, hd);
        if (rope) { // forward was: q' = rope(q), k' = rope(k)
            nn::rope_backward(qp(dqkv.data()), W(), rope_tab, N, Tn, 0, NH, hd);
            nn::rope_backward(kp(dqkv.data()), W(), rope_tab, N, Tn, 0, NKV, hd);
        }
        nn::zero(dl.data(), n);
        if (fused) {
            qkv.backward(dl.data(), dqkv.data(), l1.data(), N);
        } else { // each projection's columns of dqkv, made contiguous
            Linear<T> * lin[3] = {&q, &k, &v};
            const T * src[3] = {qp(dqkv.data()), kp(dqkv.data()), vp(dqkv.data())};
            for (int i = 0; i < 3; ++i) {
                const int w = lin[i]->OC;
                T * buf = dy.data(); // (N, NH*hd) >= (N, w)
                for (int r = 0; r < N; ++r) std::memcpy(buf + (int64_t)r * w, src[i] + (int64_t)r * W(), sizeof(T) * w);
                lin[i]->backward(dl.data(), buf, l1.data(), N);
            }
        }
        ln1.backward(dinp, dl.data(), inp, N);
    }

    // ---- decode: one position t of B sequences against the cache
    void plan_decode(int B, int tmax) {
        Bdec = B;
        Tmax = tmax;
        kc.assign((size_t)B * NKV * Tmax * hd, T(0));
        vc.assign(kc.size(), T(0));
        scratch.assign((size_t)B * NH * Tmax, T(0)); // one score row per (sequence, head)
    }
    void decode(T * out, const T * inp, int B, int t) {
        const int64_t n = (int64_t)B * C;
        ln1.forward(l1.data(), inp, B);
        project(qkvb.data(), l1.data(), B, 1, t, false);
        for (int b = 0; b < B; ++b) // this position's keys and values into the cache
            for (int gi = 0; gi < NKV; ++gi) {
                std::memcpy(&kc[(((size_t)b * NKV + gi) * Tmax + t) * hd], kp(qkvb.data()) + (int64_t)b * W() + gi * hd,
                            sizeof(T) * hd);
                std::memcpy(&vc[(((size_t)b * NKV + gi) * Tmax + t) * hd], vp(qkvb.data()) + (int64_t)b * W() + gi * hd,
                            sizeof(T) * hd);
            }
        nn::gqa_attention_decode(y.data(), scratch.data(), qp(qkvb.data()), W(), kc.data(), vc.data(), B, t, Tmax, NH,
                                 NKV, hd);
        proj.forward(a_out.data(), y.data(), B, false);
        nn::residual_forward(x1.data(), inp, a_out.data(), n);
        ln2.forward(l2.data(), x1.data(), B);
        mlp_forward(m_out.data(), l2.data(), B, false);
        nn::residual_forward(out, x1.data(), m_out.data(), n);
        if (parallel) parallel->forward(out, x1.data(), B, false);
    }
};

template <typename T>
class Gpt final : public Model<T>, public CausalDecoder<T> {
  public:
    Gpt(const GptConfig & cfg, const InputShape &, int V, ParamStore<T> & s, const nn::TrainablePred & tr) : cfg_(cfg) {
        this->kind_ = "gpt";
        this->n_classes_ = V;
        this->input_dim_ = cfg.context;
        const int C = cfg.width;
        MOE_CHECK(cfg.heads > 0 && C % cfg.heads == 0, ErrorCode::spec,
                  "model.gpt.heads: " + std::to_string(cfg.heads) + " does not divide the width " + std::to_string(C));
        const int nkv = cfg.kv_heads > 0 ? cfg.kv_heads : cfg.heads;
        MOE_CHECK(cfg.heads % nkv == 0, ErrorCode::spec,
                  "model.gpt.kv_heads: " + std::to_string(nkv) + " does not divide the heads " +
                      std::to_string(cfg.heads));
        MOE_CHECK(cfg.positions != "rope" || (C / cfg.heads) % 2 == 0, ErrorCode::spec,
                  "model.gpt.positions = rope needs an even head size (width / heads)");
        T_ = cfg.context;
        MOE_CHECK(cfg.max_positions == 0 || cfg.max_positions >= T_, ErrorCode::spec,
                  "model.gpt.max_positions: " + std::to_string(cfg.max_positions) + " is below the context " +
                      std::to_string(T_));
        const Init wi = Init::Normal(cfg.init_std);
        id_wte_ = s.declare("tok_emb.weight", {V, C}, tr("tok_emb.weight"), wi);
        // (a table longer than the context: rows beyond it are loaded and stored, never read)
        if (cfg.positions == "learned")
            id_wpe_ = s.declare("pos_emb.weight", {std::max(T_, cfg.max_positions), C}, tr("pos_emb.weight"), wi);
        blocks_.resize(cfg.depth);
        for (int i = 0; i < cfg.depth; ++i) blocks_[i].declare(s, "blocks." + std::to_string(i), cfg, tr);
        norm_.declare(s, "norm", C, cfg.norm == "rmsnorm" ? Norm::rms : Norm::layer, cfg.norm_eps, tr);
        // (an untied head stays f32 under bf16 storage: it is the largest weight, and the scratch
        // that widens it would outweigh what it saves)
        if (!cfg.tie_head) head_.declare(s, "head", C, V, false, tr, wi, Init::Zeros());
        if (cfg.positions == "rope") {
            rope_.assign((size_t)T_ * (C / cfg.heads / 2) * 2, 0.0);
            nn::rope_table(rope_.data(), T_, C / cfg.heads, cfg.rope_theta);
            for (auto & b : blocks_) b.rope_tab = rope_.data();
        }
    }
    void bind(ParamStore<T> & s) override {
        wte_ = s.value(id_wte_);
        dwte_ = s.grad(id_wte_);
        if (id_wpe_ >= 0) {
            wpe_ = s.value(id_wpe_);
            dwpe_ = s.grad(id_wpe_);
        }
        for (auto & b : blocks_) b.bind(s);
        norm_.bind(s);
        if (!cfg_.tie_head) head_.bind(s);
    }
    void plan(int B) override {
        this->planned_ = B;
        const size_t n = (size_t)B * T_ * cfg_.width;
        for (auto & b : blocks_) b.plan(B, T_);
        xs_.resize(blocks_.size() + 1);
        for (auto & x : xs_) x.assign(n, T(0));
        dx_.assign(n, T(0));
        dx2_.assign(n, T(0));
        xf_.assign(n, T(0));
        dxf_.assign(n, T(0));
        norm_.plan(B * T_);
        logits_.assign((size_t)B * T_ * this->n_classes_, T(0));
    }
    const T * forward(const Batch<T> & batch, bool train) override {
        MOE_ASSERT(batch.B <= this->planned_ && batch.tokens);
        const int B = batch.B, N = B * T_, C = cfg_.width, V = this->n_classes_;
        nn::embedding_forward(xs_[0].data(), batch.tokens, wte_, wpe_, N, T_, C);
        for (size_t i = 0; i < blocks_.size(); ++i) blocks_[i].forward(xs_[i + 1].data(), xs_[i].data(), B, train);
        norm_.forward(xf_.data(), xs_.back().data(), N);
        if (cfg_.tie_head)
            nn::linear_forward(logits_.data(), xf_.data(), wte_, (const T *)nullptr, N, C, V);
        else
            head_.forward(logits_.data(), xf_.data(), N, train);
        return logits_.data();
    }
    void backward(const T * dlogits, const Batch<T> & batch) override {
        const int B = batch.B, N = B * T_, C = cfg_.width, V = this->n_classes_;
        const int64_t n = (int64_t)N * C;
        nn::zero(dxf_.data(), n);
        if (cfg_.tie_head)
            nn::linear_backward(dxf_.data(), dwte_, (T *)nullptr, dlogits, xf_.data(), wte_, N, C, V);
        else
            head_.backward(dxf_.data(), dlogits, xf_.data(), N);
        nn::zero(dx_.data(), n);
        norm_.backward(dx_.data(), dxf_.data(), xs_.back().data(), N);
        T * dout = dx_.data();
        T * dinp = dx2_.data();
        for (int i = (int)blocks_.size() - 1; i >= 0; --i) {
            nn::zero(dinp, n);
            blocks_[i].backward(dinp, dout, xs_[i].data(), B);
            std::swap(dout, dinp);
        }
        nn::embedding_backward(dwte_, dwpe_, dout, batch.tokens, N, T_, C, V);
    }
    std::vector<nn::SiteRef<T>> sites() override {
        std::vector<nn::SiteRef<T>> s;
        for (auto & b : blocks_)
            for (auto * l : b.linears()) s.push_back({l->name, l->C, l->OC, &l->hook, false});
        if (!cfg_.tie_head) s.push_back({head_.name, head_.C, head_.OC, &head_.hook, false});
        for (auto & b : blocks_) s.push_back({b.name + ".mlp", cfg_.width, cfg_.width, &b.parallel, true});
        return s;
    }
    int tokens_per_sample() const override { return T_; }
    int rows_per_sample() const override { return T_; }
    double forward_macs_per_sample() const override {
        const double C = cfg_.width, Tn = T_, V = this->n_classes_;
        double m = 0;
        for (const auto & b : blocks_) {
            const double lin = C * b.W() + b.NH * b.hd * C + (b.mlp == Mlp::swiglu ? 3.0 : 2.0) * C * b.I;
            m += Tn * lin + Tn * Tn * b.NH * b.hd; // the linears, q k^T and att v (causal: half of 2 T^2)
        }
        return m + Tn * C * V;
    }
    CausalDecoder<T> * decoder() override { return this; }

    // ---- decode
    void plan_decode(int B) override {
        MOE_CHECK(B <= this->planned_, ErrorCode::internal, "Gpt::plan_decode: plan(B) first");
        for (auto & b : blocks_) b.plan_decode(B, T_);
        Bdec_ = B;
    }
    const T * decode(const int32_t * tokens, int B, int t) override {
        MOE_ASSERT(B <= Bdec_ && t >= 0 && t < T_);
        const int C = cfg_.width, V = this->n_classes_;
        T * x = xs_[0].data();
        for (int b = 0; b < B; ++b) { // embedding of position t
            const T * e = wte_ + (int64_t)tokens[b] * C;
            for (int c = 0; c < C; ++c) x[(int64_t)b * C + c] = e[c] + (wpe_ ? wpe_[(int64_t)t * C + c] : T(0));
        }
        for (size_t i = 0; i < blocks_.size(); ++i) blocks_[i].decode(xs_[i + 1].data(), xs_[i].data(), B, t);
        norm_.forward(xf_.data(), xs_.back().data(), B);
        if (cfg_.tie_head)
            nn::linear_forward(logits_.data(), xf_.data(), wte_, (const T *)nullptr, B, C, V);
        else
            head_.forward(logits_.data(), xf_.data(), B, false);
        return logits_.data();
    }
    int context() const override { return T_; }

  private:
    GptConfig cfg_;
    int T_ = 0, Bdec_ = 0;
    int id_wte_ = -1, id_wpe_ = -1;
    T *wte_ = nullptr, *dwte_ = nullptr, *wpe_ = nullptr, *dwpe_ = nullptr;
    std::vector<GptBlock<T>> blocks_;
    AnyNorm<T> norm_;
    Linear<T> head_;
    std::vector<double> rope_;
    std::vector<std::vector<T>> xs_;
    std::vector<T> dx_, dx2_, xf_, dxf_, logits_;
};

} // namespace

template <typename T>
std::unique_ptr<Model<T>> make_gpt(const ModelConfig & cfg, const InputShape & in, int n_outputs, ParamStore<T> & store,
                                   const nn::TrainablePred & tr) {
    return std::make_unique<Gpt<T>>(cfg.gpt, in, n_outputs, store, tr);
}
template std::unique_ptr<Model<float>> make_gpt<float>(const ModelConfig &, const InputShape &, int,
                                                       ParamStore<float> &, const nn::TrainablePred &);
template std::unique_ptr<Model<double>> make_gpt<double>(const ModelConfig &, const InputShape &, int,
                                                         ParamStore<double> &, const nn::TrainablePred &);

} // namespace moe::models
