// nn modules: parameter declaration, view binding, buffer planning, forward/backward wiring.
#include "moe/nn/modules.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "moe/blas/gemm.hpp"
#include "moe/core/error.hpp"
#include "moe/nn/kernels.hpp"

namespace moe::nn {

template <typename T>
static void zero(std::vector<T> & v) {
    std::fill(v.begin(), v.end(), T(0));
}

// ------------------------------------------------------------------------------------- Linear
template <typename T>
void Linear<T>::declare(ParamStore<T> & s, const std::string & nm, int c, int oc, bool bias, const TrainablePred & tr,
                        Init w_init, Init b_init) {
    name = nm;
    C = c;
    OC = oc;
    has_bias = bias;
    id_w = s.declare(name + ".weight", {OC, C}, tr(name + ".weight"), w_init);
    if (bias) id_b = s.declare(name + ".bias", {OC}, tr(name + ".bias"), b_init);
}

template <typename T>
void Linear<T>::declare(ParamStore<T> & s, const std::string & nm, int c, int oc, bool bias, const TrainablePred & tr) {
    declare(s, nm, c, oc, bias, tr, Init::KaimingUniform(c), Init::KaimingUniform(c));
}

template <typename T>
void Linear<T>::bind(ParamStore<T> & s) {
    w = s.value(id_w);
    dw = s.grad(id_w);
    w16 = s.bf16(id_w);
    wbuf = w16 ? s.bf16_scratch() : nullptr;
    if (has_bias) {
        b = s.value(id_b);
        db = s.grad(id_b);
    }
}

template <typename T>
const T * Linear<T>::weight() const {
    if (!w16) return w;
    // exact: the same float values as a float32 copy, so the GEMMs give the same bits
    bf16_widen(wbuf, w16, (int64_t)OC * C);
    return wbuf;
}

template <typename T>
void Linear<T>::forward(T * out, const T * inp, int N, bool train) const {
    linear_forward(out, inp, weight(), b, N, C, OC);
    if (hook) hook->forward(out, inp, N, train);
}

template <typename T>
void Linear<T>::backward(T * dinp, const T * dout, const T * inp, int N) {
    if (hook) hook->backward(dinp, dout, inp, N);
    // a bfloat16 weight is frozen (no dw): only the input gradient reads it
    linear_backward(dinp, dw, db, dout, inp, dinp ? weight() : w, N, C, OC);
}

// ------------------------------------------------------------------------------------- LayerNorm
template <typename T>
void LayerNorm<T>::declare(ParamStore<T> & s, const std::string & nm, int c, const TrainablePred & tr) {
    name = nm;
    C = c;
    id_w = s.declare(name + ".weight", {C}, tr(name + ".weight"), Init::Ones());
    id_b = s.declare(name + ".bias", {C}, tr(name + ".bias"), Init::Zeros());
}
template <typename T>
void LayerNorm<T>::bind(ParamStore<T> & s) {
    w = s.value(id_w);
    dw = s.grad(id_w);
    b = s.value(id_b);
    db = s.grad(id_b);
}
template <typename T>
void LayerNorm<T>::plan(int N) {
    mean.assign(N, T(0));
    rstd.assign(N, T(0));
}
template <typename T>
void LayerNorm<T>::forward(T * out, const T * inp, int N) {
    MOE_ASSERT(N <= (int)mean.size());
    layernorm_forward(out, mean.data(), rstd.data(), inp, w, b, N, C, static_cast<T>(eps));
}
template <typename T>
void LayerNorm<T>::backward(T * dinp, const T * dout, const T * inp, int N) {
    layernorm_backward(dinp, dw, db, dout, inp, w, mean.data(), rstd.data(), N, C);
}

// ------------------------------------------------------------------------------------- activations
Activation parse_activation(const std::string & s) {
    if (s == "gelu") return Activation::gelu;
    if (s == "relu") return Activation::relu;
    throw Error(ErrorCode::spec, "unknown activation '" + s + "' (expected gelu or relu)");
}
template <typename T>
void activation_forward(Activation a, T * out, const T * inp, int64_t n) {
    if (a == Activation::gelu)
        gelu_forward(out, inp, n);
    else
        relu_forward(out, inp, n);
}
template <typename T>
void activation_backward(Activation a, T * dinp, const T * inp, const T * dout, int64_t n) {
    if (a == Activation::gelu)
        gelu_backward(dinp, inp, dout, n);
    else
        relu_backward(dinp, inp, dout, n);
}

// ------------------------------------------------------------------------------------- PatchEmbed
template <typename T>
void PatchEmbed<T>::declare(ParamStore<T> & s, const std::string & name, int cin, int h, int w, int p, int d,
                            const TrainablePred & tr) {
    MOE_CHECK(h % p == 0 && w % p == 0, ErrorCode::spec,
              "model.vit.patch: patch size " + std::to_string(p) + " must divide the image size " + std::to_string(h) +
                  "x" + std::to_string(w));
    Cin = cin;
    H = h;
    W = w;
    ps = p;
    D = d;
    P = (h / p) * (w / p);
    proj.declare(s, name + ".proj", Cin * ps * ps, D, true, tr);
    id_cls = s.declare(name + ".cls", {D}, tr(name + ".cls"), Init::Normal(0.02));
    id_pos = s.declare(name + ".pos", {P + 1, D}, tr(name + ".pos"), Init::Normal(0.02));
}
template <typename T>
void PatchEmbed<T>::bind(ParamStore<T> & s) {
    proj.bind(s);
    cls = s.value(id_cls);
    dcls = s.grad(id_cls);
    pos = s.value(id_pos);
    dpos = s.grad(id_pos);
}
template <typename T>
void PatchEmbed<T>::plan(int B) {
    patches.assign((size_t)B * P * Cin * ps * ps, T(0));
    emb.assign((size_t)B * P * D, T(0));
    demb.assign((size_t)B * P * D, T(0));
}
template <typename T>
void PatchEmbed<T>::forward(T * out, const T * img, int B, bool train) {
    patchify_forward(patches.data(), img, B, Cin, H, W, ps);
    proj.forward(emb.data(), patches.data(), B * P, train);
    tokens_forward(out, emb.data(), cls, pos, B, P, D);
}
template <typename T>
void PatchEmbed<T>::backward(const T * dout, int B) {
    // forward was: out = tokens(proj(patchify(img)), cls, pos)
    const bool need_emb = !proj.frozen() || proj.hook;
    if (need_emb) std::fill(demb.begin(), demb.begin() + (size_t)B * P * D, T(0));
    tokens_backward(need_emb ? demb.data() : nullptr, dcls, dpos, dout, B, P, D);
    if (need_emb) proj.backward(nullptr, demb.data(), patches.data(), B * P);
}

// ------------------------------------------------------------------------------------- SelfAttention
template <typename T>
void SelfAttention<T>::declare(ParamStore<T> & s, const std::string & name, int d, int nh, bool c,
                               const TrainablePred & tr) {
    MOE_CHECK(d % nh == 0, ErrorCode::spec,
              "width " + std::to_string(d) + " must be divisible by the number of heads " + std::to_string(nh));
    D = d;
    NH = nh;
    causal = c;
    qkv.declare(s, name + ".qkv", D, 3 * D, true, tr);
    proj.declare(s, name + ".proj", D, D, true, tr);
}
template <typename T>
void SelfAttention<T>::bind(ParamStore<T> & s) {
    qkv.bind(s);
    proj.bind(s);
}
template <typename T>
void SelfAttention<T>::plan(int B, int tn) {
    Tn = tn;
    const size_t N = (size_t)B * Tn;
    qkv_buf.assign(N * 3 * D, T(0));
    att.assign((size_t)B * NH * Tn * Tn, T(0));
    y.assign(N * D, T(0));
    dqkv.assign(N * 3 * D, T(0));
    dy.assign(N * D, T(0));
    datt.assign((size_t)B * NH * Tn * Tn, T(0));
}
template <typename T>
void SelfAttention<T>::forward(T * out, const T * inp, int B, bool train) {
    const int N = B * Tn;
    qkv.forward(qkv_buf.data(), inp, N, train);
    attention_forward(y.data(), att.data(), qkv_buf.data(), B, Tn, D, NH, causal);
    proj.forward(out, y.data(), N, train);
}
template <typename T>
void SelfAttention<T>::backward(T * dinp, const T * dout, const T * inp, int B) {
    const int N = B * Tn;
    // forward was: out = proj(attention(qkv(inp)))
    zero(dy.data(), (int64_t)N * D);
    proj.backward(dy.data(), dout, y.data(), N);
    zero(dqkv.data(), (int64_t)N * 3 * D);
    attention_backward(dqkv.data(), datt.data(), dy.data(), qkv_buf.data(), att.data(), B, Tn, D, NH);
    qkv.backward(dinp, dqkv.data(), inp, N);
}

// ------------------------------------------------------------------------------------- MlpBlock
template <typename T>
void MlpBlock<T>::declare(ParamStore<T> & s, const std::string & name, int d, int m, Activation a,
                          const TrainablePred & tr) {
    D = d;
    M = m;
    act = a;
    fc1.declare(s, name + ".fc1", D, M, true, tr);
    fc2.declare(s, name + ".fc2", M, D, true, tr);
}
template <typename T>
void MlpBlock<T>::bind(ParamStore<T> & s) {
    fc1.bind(s);
    fc2.bind(s);
}
template <typename T>
void MlpBlock<T>::plan(int N) {
    h.assign((size_t)N * M, T(0));
    a.assign((size_t)N * M, T(0));
    dh.assign((size_t)N * M, T(0));
    da.assign((size_t)N * M, T(0));
}
template <typename T>
void MlpBlock<T>::forward(T * out, const T * inp, int N, bool train) {
    if (!fc1.hook && act == Activation::gelu) {
        // fused: h = inp @ w1^T, then one pass adds the bias and applies GELU
        blas::gemm<T>(false, true, N, M, D, T(1), inp, D, fc1.w, D, T(0), h.data(), M);
        bias_gelu_forward(a.data(), h.data(), fc1.b, N, M);
    } else {
        fc1.forward(h.data(), inp, N, train);
        activation_forward(act, a.data(), h.data(), (int64_t)N * M);
    }
    fc2.forward(out, a.data(), N, train);
}
template <typename T>
void MlpBlock<T>::backward(T * dinp, const T * dout, const T * inp, int N) {
    // forward was: out = fc2(act(fc1(inp)))
    const size_t n = (size_t)N * M;
    zero(da.data(), (int64_t)n);
    fc2.backward(da.data(), dout, a.data(), N);
    zero(dh.data(), (int64_t)n);
    activation_backward(act, dh.data(), h.data(), da.data(), (int64_t)n);
    fc1.backward(dinp, dh.data(), inp, N);
}

// ------------------------------------------------------------------------------------- TransformerBlock
template <typename T>
void TransformerBlock<T>::declare(ParamStore<T> & s, const std::string & name, int d, int nh, int m, bool causal,
                                  const TrainablePred & tr) {
    D = d;
    this->name = name;
    ln1.declare(s, name + ".ln1", D, tr);
    attn.declare(s, name + ".attn", D, nh, causal, tr);
    ln2.declare(s, name + ".ln2", D, tr);
    mlp.declare(s, name + ".mlp", D, m, Activation::gelu, tr);
}
template <typename T>
void TransformerBlock<T>::bind(ParamStore<T> & s) {
    ln1.bind(s);
    attn.bind(s);
    ln2.bind(s);
    mlp.bind(s);
}
template <typename T>
void TransformerBlock<T>::plan(int B, int tn) {
    Tn = tn;
    const int N = B * Tn;
    ln1.plan(N);
    ln2.plan(N);
    attn.plan(B, Tn);
    mlp.plan(N);
    for (auto * v : {&l1, &x1, &l2, &a_out, &m_out, &dl, &dtmp}) v->assign((size_t)N * D, T(0));
}
template <typename T>
void TransformerBlock<T>::forward(T * out, const T * inp, int B, bool train) {
    const int N = B * Tn;
    const int64_t n = (int64_t)N * D;
    ln1.forward(l1.data(), inp, N);
    attn.forward(a_out.data(), l1.data(), B, train);
    residual_forward(x1.data(), inp, a_out.data(), n);
    ln2.forward(l2.data(), x1.data(), N);
    mlp.forward(m_out.data(), l2.data(), N, train);
    residual_forward(out, x1.data(), m_out.data(), n);
    if (parallel) parallel->forward(out, x1.data(), N, train); // out += parallel(x1)
}
template <typename T>
void TransformerBlock<T>::backward(T * dinp, const T * dout, const T * inp, int B) {
    const int N = B * Tn;
    const size_t n = (size_t)N * D;
    // forward was: out = x1 + mlp(ln2(x1))   so   dx1 = dout + ln2^T(mlp^T(dout))
    std::copy(dout, dout + n, dtmp.begin()); // dtmp holds dx1
    zero(dl.data(), (int64_t)n);
    mlp.backward(dl.data(), dout, l2.data(), N);
    ln2.backward(dtmp.data(), dl.data(), x1.data(), N);
    if (parallel) parallel->backward(dtmp.data(), dout, x1.data(), N); // forward was: out += parallel(x1)
    // forward was: x1 = inp + attn(ln1(inp))   so   dinp += dx1 + ln1^T(attn^T(dx1))
    add_inplace(dinp, dtmp.data(), (int64_t)n);
    zero(dl.data(), (int64_t)n);
    attn.backward(dl.data(), dtmp.data(), l1.data(), B);
    ln1.backward(dinp, dl.data(), inp, N);
}

#define MOE_MODULES_INSTANTIATE(T)                                                                                     \
    template struct Linear<T>;                                                                                         \
    template struct LayerNorm<T>;                                                                                      \
    template struct PatchEmbed<T>;                                                                                     \
    template struct SelfAttention<T>;                                                                                  \
    template struct MlpBlock<T>;                                                                                       \
    template struct TransformerBlock<T>;                                                                               \
    template void activation_forward<T>(Activation, T *, const T *, int64_t);                                          \
    template void activation_backward<T>(Activation, T *, const T *, const T *, int64_t);

MOE_MODULES_INSTANTIATE(float)
MOE_MODULES_INSTANTIATE(double)

} // namespace moe::nn
