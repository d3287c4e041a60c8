// Known-answer tests of the routing kernels: every value tests/tools/golden_routing.py prints
// (the reference implementations' formulas in plain Python, from the LOGITS below: T=4 tokens,
// E=4 experts, k=2), plus small hand-computed cases for what the golden script does not pin down.
// The golden values are printed rounded to 6 decimals (8 for the DynMoLE loss), so they are
// compared with an absolute tolerance of half a unit in the last printed place.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "moe/core/error.hpp"
#include "moe/nn/kernels.hpp"
#include "moe/routing/routing.hpp"

using namespace moe;
using namespace moe::routing;
using std::vector;

namespace {

// |x - v| <= tol (absolute), reported by doctest with both values
doctest::Approx near(double v, double tol = 5.1e-7) {
    return v == 0 ? doctest::Approx(v).scale(1).epsilon(tol) : doctest::Approx(v).scale(0).epsilon(tol / std::fabs(v));
}

constexpr int T = 4, E = 4, K = 2;
const vector<double> LOGITS = {
    2.0,  1.0, 0.5,  -1.0, //
    0.1,  0.3, 2.2,  0.0,  //
    1.5,  1.4, -0.3, 0.2,  //
    -0.5, 0.0, 0.4,  1.8,  //
};

vector<double> golden_probs() {
    vector<double> p(T * E);
    nn::softmax_forward(p.data(), LOGITS.data(), T, E);
    return p;
}

vector<int64_t> count(const vector<int32_t> & idx, int n_experts) {
    vector<int64_t> c(n_experts, 0);
    for (int32_t e : idx)
        if (e >= 0 && e < n_experts) c[e] += 1;
    return c;
}

} // namespace

// ============================================================================ golden values

TEST_CASE("routing golden: Mixtral top-2 indices and renormalised weights") {
    const auto p = golden_probs();
    vector<int32_t> idx(T * K);
    vector<double> gate(T * K);
    topk_select(idx.data(), p.data(), T, E, K);
    gate_forward(gate.data(), p.data(), idx.data(), T, E, K, true, 1.0);
    const vector<int32_t> want_idx = {0, 1, 2, 1, 0, 1, 3, 2};
    const vector<double> want_w = {0.731059, 0.268941, 0.869892, 0.130108, 0.524979, 0.475021, 0.802184, 0.197816};
    CHECK(idx == want_idx);
    for (int i = 0; i < T * K; ++i) CHECK(gate[i] == near(want_w[i]));

    // the float instantiation agrees
    vector<float> pf(p.begin(), p.end()), gf(T * K);
    vector<int32_t> idxf(T * K);
    topk_select(idxf.data(), pf.data(), T, E, K);
    gate_forward(gf.data(), pf.data(), idxf.data(), T, E, K, true, 1.0f);
    CHECK(idxf == want_idx);
    for (int i = 0; i < T * K; ++i) CHECK(gf[i] == near(want_w[i], 1e-6));
}

TEST_CASE("routing golden: load-balancing conventions and z-loss") {
    const auto p = golden_probs();
    vector<int32_t> idx(T * K), top1(T);
    topk_select(idx.data(), p.data(), T, E, K);
    topk_select(top1.data(), p.data(), T, E, 1);
    const auto cnt = count(idx, E), cnt1 = count(top1, E);
    vector<double> f(E);

    lbl_frequencies(f.data(), cnt.data(), T, E, K, LblConvention::mixtral);
    CHECK(lbl_forward(p.data(), f.data(), T, E, E) == near(1.984953)); // HF Mixtral, min = k
    lbl_frequencies(f.data(), cnt.data(), T, E, K, LblConvention::megatron);
    CHECK(lbl_forward(p.data(), f.data(), T, E, E) == near(0.992476)); // Megatron, = HF / k
    lbl_frequencies(f.data(), cnt1.data(), T, E, 1, LblConvention::switch_);
    CHECK(lbl_forward(p.data(), f.data(), T, E, E) == near(1.090814)); // Switch top-1

    CHECK(zloss_forward(LOGITS.data(), T, E) == near(5.756369));

    // the conventions by name; an unknown one is a spec error
    CHECK(parse_lbl("mixtral") == LblConvention::mixtral);
    CHECK(parse_lbl("megatron") == LblConvention::megatron);
    CHECK(parse_lbl("switch") == LblConvention::switch_);
    bool threw = false;
    try {
        parse_lbl("mixtrall");
    } catch (const Error & e) {
        threw = true;
        CHECK(e.code() == ErrorCode::spec);
        CHECK(std::string(e.what()).find("mixtrall") != std::string::npos);
    }
    CHECK(threw);
}

TEST_CASE("routing golden: normalised Tsallis entropy (q = 1.1, eps = 1e-5)") {
    const auto p = golden_probs();
    const vector<double> want = {0.726866, 0.629852, 0.840463, 0.705012};
    for (int t = 0; t < T; ++t) CHECK(tsallis_entropy(p.data() + t * E, E, 1.1, 1e-5) == near(want[t]));
    const vector<double> uni(4, 0.25);
    CHECK(tsallis_entropy(uni.data(), 4, 1.1, 1e-5) == near(0.999704));
    // q = 1 is Shannon / ln E: exactly 1 for the uniform distribution without eps
    CHECK(tsallis_entropy(uni.data(), 4, 1.0, 0.0) == near(1.0, 1e-12));
    const vector<double> one_hot = {1, 0, 0, 0};
    CHECK(tsallis_entropy(one_hot.data(), 4, 1.1, 0.0) == near(0.0, 1e-12));
}

TEST_CASE("routing golden: DynMoLE selection, weights and router loss") {
    const auto p = golden_probs();
    vector<int32_t> idx(T * E);
    vector<double> ent(T), gate(T * E), w(T * E);
    dynmole_select(idx.data(), ent.data(), p.data(), T, E, 0.75, 2, 0.9, 1.1, 1e-5);
    const vector<double> want_h = {0.726866, 0.629852, 0.840463, 0.705012};
    for (int t = 0; t < T; ++t) CHECK(ent[t] == near(want_h[t]));
    // no token is above the 0.9 threshold: each keeps its top-2 (the cumsum <= 0.75 part is smaller)
    const vector<int32_t> want_idx = {0, 1, -1, -1, 2, 1, -1, -1, 0, 1, -1, -1, 3, 2, -1, -1};
    CHECK(idx == want_idx);
    gate_forward(gate.data(), p.data(), idx.data(), T, E, E, false, 1.0); // NOT renormalised
    gates_to_dense(w.data(), gate.data(), idx.data(), T, E, E);
    const vector<double> want_w = {0.60946,  0.224208, 0,        0, //
                                   0,        0.108161, 0.723156, 0, //
                                   0.426864, 0.386242, 0,        0, //
                                   0,        0,        0.163077, 0.661308};
    for (int i = 0; i < T * E; ++i) CHECK(w[i] == near(want_w[i]));
    double h = 0, lb = 0;
    const double loss = dynmole_loss_forward(&h, &lb, p.data(), w.data(), T, E, 1.1, 1e-5, 0.01, 0.001);
    CHECK(loss == near(0.00810178, 5.1e-9));
    CHECK(h == near(0.725548));
    CHECK(lb == near(0.846295));
}

TEST_CASE("routing golden: DeepSeek-V3 aux-loss-free selection and bias update") {
    vector<double> s(T * E);
    sigmoid_forward(s.data(), LOGITS.data(), T * E);
    const vector<double> bias = {0, 0, 0.3, 0};
    vector<int32_t> idx(T * K);
    vector<double> gate(T * K), gate25(T * K);
    biased_topk_select(idx.data(), s.data(), bias.data(), T, E, K);
    // order as printed: by decreasing BIASED score; the weights gather the UNBIASED scores
    const vector<int32_t> want_idx = {2, 0, 2, 1, 0, 1, 2, 3};
    const vector<double> want_g = {0.414074, 0.585926, 0.610466, 0.389534, 0.504751, 0.495249, 0.41095, 0.58905};
    CHECK(idx == want_idx);
    gate_forward(gate.data(), s.data(), idx.data(), T, E, K, true, 1.0);
    gate_forward(gate25.data(), s.data(), idx.data(), T, E, K, true, 2.5); // V3 route_scale
    for (int i = 0; i < T * K; ++i) {
        CHECK(gate[i] == near(want_g[i]));
        CHECK(gate25[i] == near(2.5 * gate[i], 1e-12));
    }
    const auto load = count(idx, E);
    CHECK(load == vector<int64_t>{2, 2, 3, 1});
    vector<double> b = bias;
    bias_update(b.data(), load.data(), E, 0.001);
    const vector<double> want_b = {0, 0, 0.299, 0.001};
    for (int e = 0; e < E; ++e) CHECK(b[e] == near(want_b[e], 1e-12));
    // balanced load: sign(0) = 0, no change
    const vector<int64_t> even = {3, 3, 3, 3};
    bias_update(b.data(), even.data(), E, 0.001);
    for (int e = 0; e < E; ++e) CHECK(b[e] == near(want_b[e], 1e-12));
}

TEST_CASE("routing golden: expert choice, capacity factor 2") {
    const auto p = golden_probs();
    const int kc = T * 2 / E;
    vector<int32_t> picks(E * kc);
    vector<double> gate(E * kc);
    expert_choice_select(picks.data(), p.data(), T, E, kc);
    expert_choice_gate_forward(gate.data(), p.data(), picks.data(), T, E, kc);
    CHECK(picks == vector<int32_t>{0, 2, 2, 0, 1, 3, 3, 2});
    const vector<double> want = {0.60946, 0.426864, 0.386242, 0.224208, 0.723156, 0.163077, 0.661308, 0.116334};
    for (int i = 0; i < E * kc; ++i) CHECK(gate[i] == near(want[i]));
}

TEST_CASE("routing golden: Poly eval weights and AdaMoE null experts") {
    const vector<double> phi = {0.2, -0.4, 1.0};
    vector<double> w(3), z(3);
    poly_weights_forward(w.data(), z.data(), phi.data(), (const double *)nullptr, 1, 3, false, 1.0);
    CHECK(w[0] == near(0.326853));
    CHECK(w[1] == near(0.238563));
    CHECK(w[2] == near(0.434584));

    // 4 true + 4 null experts, softmax over 8, top-4
    const vector<double> al = {1.0, 0.2, -0.5, 0.1, 0.9, 0.8, 0.85, -2.0};
    vector<double> ap(8);
    nn::softmax_forward(ap.data(), al.data(), 1, 8);
    vector<int32_t> idx(4);
    topk_select(idx.data(), ap.data(), 1, 8, 4);
    CHECK(idx == vector<int32_t>{0, 4, 6, 5});
    const auto counts = count(idx, 8); // over E+M, before the nulls are cleared
    for (auto & e : idx)
        if (e >= 4) e = -1; // null experts: zero function, no slot
    vector<double> g(4);
    gate_forward(g.data(), ap.data(), idx.data(), 1, 8, 4, true, 1.0);
    CHECK(g[0] == near(1.0, 1e-12)); // true weights {0: 1.0}
    CHECK(g[1] == 0.0);
    CHECK(g[2] == 0.0);
    CHECK(g[3] == 0.0);
    // AdaMoE exp_1 LBL, hand-computed: nulls' counts (1,1,1,0) -> mean 0.75 each, f = c / 4,
    // L = 8 * sum_e f_e p_e = 1.2626731716609827
    vector<double> f(8);
    CHECK(adamoe_lbl_forward(f.data(), ap.data(), counts.data(), 1, 4, 4) == near(1.2626731716609827, 1e-12));
    CHECK(f[0] == near(0.25, 1e-15));
    CHECK(f[1] == 0.0);
    for (int e = 4; e < 8; ++e) CHECK(f[e] == near(0.1875, 1e-15));
}

// ============================================================================ hand-computed cases

TEST_CASE("routing: top-k order and ties (lower index wins)") {
    const vector<double> s = {1.0, 2.0, 2.0, 1.0, 3.0};
    vector<int32_t> idx(4);
    topk_select(idx.data(), s.data(), 1, 5, 4);
    CHECK(idx == vector<int32_t>{4, 1, 2, 0});
    vector<int32_t> big(7);
    topk_select(big.data(), s.data(), 1, 5, 7); // K > E: the extra slots are empty
    CHECK(big == vector<int32_t>{4, 1, 2, 0, 3, -1, -1});
    // expert choice ties between tokens: lower token index wins
    const vector<double> p = {0.5, 0.5, 0.3, 0.7, 0.5, 0.5}; // (N=3, E=2)
    vector<int32_t> picks(4);
    expert_choice_select(picks.data(), p.data(), 3, 2, 2);
    CHECK(picks == vector<int32_t>{0, 2, 1, 0});
}

TEST_CASE("routing: top-p (reaches top_p) and DynMoLE (cumsum <= top_p) differ") {
    // sorted order [1, 3, 0, 2] (0 and 2 tie: lower index first), cumsums 0.5, 0.75, 0.875, 1
    const vector<double> p = {0.125, 0.5, 0.125, 0.25};
    vector<int32_t> a(4), b(4);
    double h = 0;
    // top_p = 0.7: MixLoRA keeps the crossing expert 3; DynMoLE keeps only cumsum <= 0.7
    topp_select(a.data(), p.data(), 1, 4, 0.7);
    dynmole_select(b.data(), &h, p.data(), 1, 4, 0.7, 1, 1.0, 1.1, 1e-5);
    CHECK(a == vector<int32_t>{1, 3, -1, -1});
    CHECK(b == vector<int32_t>{1, -1, -1, -1});
    // top_p = 0.75 exactly (binary fractions: exact cumsums): MixLoRA's mask is cumsum > top_p, so
    // expert 3 (cumsum == 0.75) does not stop it and the first exceeding one (0) is kept too
    topp_select(a.data(), p.data(), 1, 4, 0.75);
    dynmole_select(b.data(), &h, p.data(), 1, 4, 0.75, 1, 1.0, 1.1, 1e-5);
    CHECK(a == vector<int32_t>{1, 3, 0, -1});
    CHECK(b == vector<int32_t>{1, 3, -1, -1});
    // keep_top_k forces a minimum; top_p = 1 keeps everything in top-p
    dynmole_select(b.data(), &h, p.data(), 1, 4, 0.1, 3, 1.0, 1.1, 1e-5);
    CHECK(b == vector<int32_t>{1, 3, 0, -1});
    topp_select(a.data(), p.data(), 1, 4, 1.0);
    CHECK(a == vector<int32_t>{1, 3, 0, 2});
    // a high-entropy token broadcasts to every expert (sorted order)
    const vector<double> flat = {0.24, 0.26, 0.25, 0.25};
    dynmole_select(b.data(), &h, flat.data(), 1, 4, 0.75, 2, 0.9, 1.1, 1e-5);
    CHECK(h > 0.9);
    CHECK(b == vector<int32_t>{1, 2, 3, 0});
}

TEST_CASE("routing: Switch capacity drops the tokens past capacity, in token order") {
    vector<int32_t> idx = {0, 1, 0, 0, 1, 2, 0, -1};
    CHECK(switch_capacity_drop(idx.data(), 8, 3, 2) == 2);
    CHECK(idx == vector<int32_t>{0, 1, 0, -1, 1, 2, -1, -1});
    // capacity 0 drops every routed token
    vector<int32_t> all = {2, 1, 0};
    CHECK(switch_capacity_drop(all.data(), 3, 3, 0) == 3);
    CHECK(all == vector<int32_t>{-1, -1, -1});
    // more experts than one counter block (256)
    vector<int32_t> wide = {299, 5, 299, 299, 256, 256};
    CHECK(switch_capacity_drop(wide.data(), 6, 300, 1) == 3);
    CHECK(wide == vector<int32_t>{299, 5, -1, -1, 256, -1});
}

TEST_CASE("routing: a token that selected nothing gets zero gates and no gradient") {
    const vector<double> p = {0.1, 0.6, 0.3, 0.2, 0.5, 0.3};
    const vector<int32_t> idx = {1, -1, -1, -1}; // token 1 selected nothing (e.g. only null experts)
    for (bool renorm : {true, false}) {
        vector<double> g(4, 9.0), dp(6, 0.25);
        gate_forward(g.data(), p.data(), idx.data(), 2, 3, 2, renorm, 2.0);
        CHECK(g[0] == near(2.0 * (renorm ? 1.0 : 0.6), 1e-15));
        CHECK(g[1] == 0.0);
        CHECK(g[2] == 0.0);
        CHECK(g[3] == 0.0);
        const vector<double> dg = {1.0, 1.0, 1.0, 1.0};
        gate_backward(dp.data(), dg.data(), g.data(), p.data(), idx.data(), 2, 3, 2, renorm, 2.0);
        for (int i = 3; i < 6; ++i) CHECK(dp[i] == 0.25); // token 1 untouched
        // renorm: g = 2 p1 / p1 is constant, so no gradient at all; raw: 2 * dg
        CHECK(dp[1] == near(renorm ? 0.25 : 2.25, 1e-15));
    }
}

TEST_CASE("routing: global-batch frequencies from micro-batches equal the single-batch value") {
    const auto p = golden_probs();
    // the whole batch at once
    vector<int32_t> idx(T * K);
    topk_select(idx.data(), p.data(), T, E, K);
    const auto c_all = count(idx, E);
    vector<double> f_all(E), f_glob(E);
    lbl_frequencies(f_all.data(), c_all.data(), T, E, K, LblConvention::mixtral);
    // two micro-batches of 2 tokens, counts accumulated over both
    vector<int64_t> acc(E, 0);
    int64_t ntok = 0;
    for (int mb = 0; mb < 2; ++mb) {
        vector<int32_t> im(2 * K);
        topk_select(im.data(), p.data() + mb * 2 * E, 2, E, K);
        const auto c = count(im, E);
        for (int e = 0; e < E; ++e) acc[e] += c[e];
        ntok += 2;
    }
    lbl_frequencies(f_glob.data(), acc.data(), ntok, E, K, LblConvention::mixtral);
    for (int e = 0; e < E; ++e) CHECK(f_glob[e] == near(f_all[e], 1e-15));
    // each micro-batch's loss uses its local P with the global f; their mean is the batch value
    const double l0 = lbl_forward(p.data(), f_glob.data(), 2, E, E);
    const double l1 = lbl_forward(p.data() + 2 * E, f_glob.data(), 2, E, E);
    CHECK(0.5 * (l0 + l1) == near(1.984953));
    // ... whereas purely local frequencies give a different value (in-sequence balance)
    vector<int32_t> i0(2 * K);
    topk_select(i0.data(), p.data(), 2, E, K);
    const auto c0 = count(i0, E);
    vector<double> f0(E);
    lbl_frequencies(f0.data(), c0.data(), 2, E, K, LblConvention::mixtral);
    CHECK(std::fabs(lbl_forward(p.data(), f0.data(), 2, E, E) - l0) > 1e-3);
    // no tokens: f = 0
    lbl_frequencies(f0.data(), c0.data(), 0, E, K, LblConvention::megatron);
    for (int e = 0; e < E; ++e) CHECK(f0[e] == 0.0);
}

TEST_CASE("routing: z-loss and sigmoid are stable for large logits") {
    const vector<double> z = {1000.0, 1000.0, -1000.0};
    const double l = 1000.0 + std::log(2.0);
    CHECK(zloss_forward(z.data(), 1, 3) == near(l * l, 1e-9));
    vector<double> dz(3, 0.0);
    zloss_backward(dz.data(), z.data(), 1.0, 1, 3);
    CHECK(dz[0] == near(l, 1e-9)); // 2 * lse * softmax = 2 * l * 0.5
    CHECK(dz[2] == near(0.0, 1e-12));
    const vector<float> zf = {-1000.f, 1000.f, 0.f};
    vector<float> sf(3);
    sigmoid_forward(sf.data(), zf.data(), 3);
    CHECK(sf[0] == 0.0f);
    CHECK(sf[1] == 1.0f);
    CHECK(sf[2] == 0.5f);
}

TEST_CASE("routing: sigmoid scores whose selected logits underflow keep finite gates and gradients") {
    // DeepSeek-V3 renormalisation of sigmoid scores, float as in training: token 0 selected two
    // experts whose logits are far below -90 (scores 0 and a subnormal, or both 0); token 1 is
    // ordinary. The denominator is S + 1e-20 (HF's DeepSeek-V3 port): finite everywhere, and the
    // ordinary token's gates are exactly p / S.
    const int N = 3, P = 4, Kk = 2;
    const vector<float> z = {-123.7f, 2.f,    0.f,  -95.f, //
                             0.3f,    -0.2f,  1.1f, -2.f,  //
                             -200.f,  -150.f, 0.f,  1.f};
    const vector<int32_t> idx = {0, 3, 2, 0, 0, 1}; // token 2: both selected scores are 0
    vector<float> s(N * P), g(N * Kk), dp(N * P, 0.f), dz(N * P, 0.f);
    sigmoid_forward(s.data(), z.data(), N * P);
    REQUIRE(s[0] == 0.f);
    REQUIRE(s[3] > 0.f);
    REQUIRE(s[3] < 1e-38f); // subnormal
    gate_forward(g.data(), s.data(), idx.data(), N, P, Kk, true, 2.5f);
    const vector<float> dg = {0.0055f, 0.00036f, 0.7f, -0.4f, 1.f, 1.f};
    gate_backward(dp.data(), dg.data(), g.data(), s.data(), idx.data(), N, P, Kk, true, 2.5f);
    sigmoid_backward(dz.data(), s.data(), dp.data(), N * P);
    for (float v : g) CHECK(std::isfinite(v));
    for (float v : dp) CHECK(std::isfinite(v));
    for (float v : dz) CHECK(std::isfinite(v));
    const float S1 = s[4 + 2] + s[4 + 0];
    CHECK(g[2] == 2.5f * s[6] / S1);
    CHECK(g[3] == 2.5f * s[4] / S1);
    CHECK(g[0] == 0.f);
    CHECK(g[4] == 0.f);
    CHECK(g[5] == 0.f);
    // the ordinary token's gradient: dp_e = (2.5 dg_e - sum_j dg_j g_j) / S
    const float dot = dg[2] * g[2] + dg[3] * g[3];
    CHECK(dp[6] == doctest::Approx((2.5f * dg[2] - dot) / S1).epsilon(1e-6));
    CHECK(dp[4] == doctest::Approx((2.5f * dg[3] - dot) / S1).epsilon(1e-6));
}

TEST_CASE("routing: Poly train mode is the relaxed Bernoulli of the given uniforms") {
    // u = 0.5 makes the noise logit 0, so with tau = 1 train equals eval
    const vector<double> phi = {0.2, -0.4, 1.0}, u = {0.5, 0.5, 0.5};
    vector<double> w(3), z(3);
    poly_weights_forward(w.data(), z.data(), phi.data(), u.data(), 1, 3, true, 1.0);
    CHECK(w[0] == near(0.326853));
    CHECK(w[2] == near(0.434584));
    // tau = 0.5 doubles the logits: z = sigmoid(2 phi)
    poly_weights_forward(w.data(), z.data(), phi.data(), u.data(), 1, 3, true, 0.5);
    for (int s = 0; s < 3; ++s) CHECK(z[s] == near(1.0 / (1.0 + std::exp(-2.0 * phi[s])), 1e-12));
    // u = 0 and 1 are clamped to [eps, 1-eps] (finite weights), and the heads normalise separately
    const vector<double> phi2 = {0.0, 0.0, 3.0, -3.0}, u2 = {0.0, 1.0, 0.3, 0.3};
    vector<double> w2(4), z2(4);
    poly_weights_forward(w2.data(), z2.data(), phi2.data(), u2.data(), 2, 2, true, 1.0);
    for (double v : w2) CHECK(std::isfinite(v));
    CHECK(w2[0] + w2[1] == near(1.0, 1e-9));
    CHECK(w2[2] + w2[3] == near(1.0, 1e-9));
    CHECK(w2[0] < 1e-10); // u = eps: z ~ eps
}

TEST_CASE("routing: softmax entropy telemetry without logarithms, against -sum p ln p") {
    // hand-computed: equal logits -> ln P; logits (0, ln 3) -> p = (1/4, 3/4)
    {
        const vector<double> z = {0.7, 0.7, 0.7, 0.7, 0.0, std::log(3.0)}, p = {0.25, 0.25, 0.25, 0.25, 0, 0};
        CHECK(softmax_entropy_sum(z.data(), p.data(), (const double *)nullptr, 1, 4) ==
              doctest::Approx(std::log(4.0)).epsilon(1e-14));
        const vector<double> q = {0.25, 0.75};
        const double h = -(0.25 * std::log(0.25) + 0.75 * std::log(0.75)); // 0.5623351446
        CHECK(softmax_entropy_sum(z.data() + 4, q.data(), (const double *)nullptr, 1, 2) ==
              doctest::Approx(h).epsilon(1e-14));
    }
    // random float rows, large logits and a removed expert's -1e30 logit, with and without the
    // z-loss's logsumexps
    const int N = 6, P = 64;
    vector<float> z((size_t)N * P), p((size_t)N * P), lse(N);
    uint64_t s = 12345;
    for (auto & v : z) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        v = (float)((s >> 40) % 2000) / 100.f - 10.f;
    }
    for (int e = 0; e < P; ++e) z[(size_t)2 * P + e] += 80.f; // a row far from 0
    z[(size_t)3 * P + 5] = -1e30f;
    nn::softmax_forward(p.data(), z.data(), N, P);
    zloss_forward(z.data(), N, P, lse.data());
    double direct = 0;
    for (int i = 0; i < N * P; ++i)
        if (p[i] > 0) direct -= (double)p[i] * std::log((double)p[i]);
    CHECK(softmax_entropy_sum(z.data(), p.data(), lse.data(), N, P) == doctest::Approx(direct).epsilon(1e-5));
    CHECK(softmax_entropy_sum(z.data(), p.data(), (const float *)nullptr, N, P) ==
          doctest::Approx(direct).epsilon(1e-5));
}
