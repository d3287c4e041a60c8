// Gradient checks of every differentiable routing kernel (double precision, selection held fixed).
//
// Each case computes its selection (idx / picks / mask / counts / f) ONCE from the initial
// values and keeps it constant inside loss(), so the objective is smooth: no kinks, no ties.
// Where a softmax (or sigmoid) sits in front, the gradient is carried back to the logits with
// nn::softmax_backward through a scratch dprobs that backward zeroes itself; the "direct" cases
// take the probabilities as the checked tensor, so the checker's sentinel also verifies that
// the routing backward kernels ADD into their gradient.
// The list in the TEST_CASE below is the coverage list: a new routing kernel is added there.
#include <doctest/doctest.h>

#include <algorithm>
#include <memory>

#include "gradcheck/gradcheck.hpp"
#include "moe/nn/kernels.hpp"
#include "moe/routing/routing.hpp"

using namespace moe;
using namespace moe::test;
using std::vector;

namespace {

enum class Front { softmax, sigmoid, direct };

// Shared state of a "scores -> something" case: x is the checked tensor (logits, or the
// probabilities themselves for Front::direct), p the scores fed to the routing kernel.
struct Scored {
    vector<double> x, dx, p, dp, G;
    int N = 0, P = 0;
    Front front = Front::softmax;
    void scores() {
        if (front == Front::softmax)
            nn::softmax_forward(p.data(), x.data(), N, P);
        else if (front == Front::sigmoid)
            routing::sigmoid_forward(p.data(), x.data(), (int64_t)x.size());
        else
            std::copy(x.begin(), x.end(), p.begin());
    }
    // where the routing backward adds: a zeroed scratch in front of a softmax/sigmoid, the
    // checked gradient itself for direct probabilities
    double * dscores() {
        if (front == Front::direct) return dx.data();
        std::fill(dp.begin(), dp.end(), 0.0);
        return dp.data();
    }
    void back_to_x() {
        if (front == Front::softmax)
            nn::softmax_backward(dx.data(), p.data(), dp.data(), N, P);
        else if (front == Front::sigmoid)
            routing::sigmoid_backward(dx.data(), p.data(), dp.data(), (int64_t)x.size());
    }
};

void init_scored(Scored & s, int N, int P, Front front, uint64_t seed, double scale) {
    s.N = N;
    s.P = P;
    s.front = front;
    s.x = random_vec((size_t)N * P, seed, scale);
    if (front == Front::direct) // positive "probabilities" in [0.05, 0.45], away from 0
        for (auto & v : s.x) v = 0.25 + 0.2 * v / scale;
    s.dx.assign(s.x.size(), 0.0);
    s.p.assign(s.x.size(), 0.0);
    s.dp.assign(s.x.size(), 0.0);
    s.scores();
}

const char * front_name(Front f) {
    return f == Front::softmax ? "softmax" : f == Front::sigmoid ? "sigmoid" : "direct";
}

// ---- gate_forward / gate_backward ---------------------------------------------------------------
// renorm and no-renorm, with a scale, softmax or sigmoid (DeepSeek: biased selection) in front,
// or on direct probabilities with empty slots and a token that selected nothing.
GradCase case_gate(bool renorm, double scale, Front front) {
    struct S : Scored {
        vector<int32_t> idx;
        vector<double> gate;
        int K = 3;
    };
    auto s = std::make_shared<S>();
    const int N = 5, P = 6, K = s->K;
    init_scored(*s, N, P, front, 1001 + renorm * 10 + (int)front, 2.0);
    s->idx.resize((size_t)N * K);
    s->gate.resize((size_t)N * K);
    if (front == Front::sigmoid) {
        const vector<double> bias = {0.0, 0.3, -0.2, 0.1, 0.0, 0.25};
        routing::biased_topk_select(s->idx.data(), s->p.data(), bias.data(), N, P, K);
    } else {
        routing::topk_select(s->idx.data(), s->p.data(), N, P, K);
    }
    if (front == Front::direct) {
        s->idx[1 * K + 2] = -1;                             // an empty slot (e.g. a null expert)
        for (int j = 0; j < K; ++j) s->idx[3 * K + j] = -1; // a token that selected nothing
    }
    s->G = random_vec(s->gate.size(), 1002);
    GradCase c;
    c.name = std::string("gate_") + (renorm ? "renorm" : "norenorm") + (scale != 1.0 ? "_scale" : "") + "_" +
             front_name(front);
    c.keep = s;
    c.tensors = {{front == Front::direct ? "probs" : "logits", s->x.data(), s->dx.data(), s->x.size()}};
    c.loss = [s, N, P, K, renorm, scale] {
        s->scores();
        routing::gate_forward(s->gate.data(), s->p.data(), s->idx.data(), N, P, K, renorm, scale);
        return dot(s->gate.data(), s->G.data(), s->gate.size());
    };
    c.backward = [s, N, P, K, renorm, scale] {
        routing::gate_backward(s->dscores(), s->G.data(), s->gate.data(), s->p.data(), s->idx.data(), N, P, K, renorm,
                               scale);
        s->back_to_x();
    };
    return c;
}

// ---- expert-choice gates (picks fixed) ----------------------------------------------------------
GradCase case_expert_choice(Front front) {
    struct S : Scored {
        vector<int32_t> picks;
        vector<double> gate;
    };
    auto s = std::make_shared<S>();
    const int N = 6, E = 4, kc = 3;
    init_scored(*s, N, E, front, 1101 + (int)front, 2.0);
    s->picks.resize((size_t)E * kc);
    s->gate.resize((size_t)E * kc);
    routing::expert_choice_select(s->picks.data(), s->p.data(), N, E, kc);
    s->G = random_vec(s->gate.size(), 1102);
    GradCase c;
    c.name = std::string("expert_choice_gate_") + front_name(front);
    c.keep = s;
    c.tensors = {{front == Front::direct ? "probs" : "logits", s->x.data(), s->dx.data(), s->x.size()}};
    c.loss = [s, N, E, kc] {
        s->scores();
        routing::expert_choice_gate_forward(s->gate.data(), s->p.data(), s->picks.data(), N, E, kc);
        return dot(s->gate.data(), s->G.data(), s->gate.size());
    };
    c.backward = [s, N, E, kc] {
        routing::expert_choice_gate_backward(s->dscores(), s->G.data(), s->picks.data(), N, E, kc);
        s->back_to_x();
    };
    return c;
}

// ---- sigmoid and jitter (elementwise) -----------------------------------------------------------
GradCase case_sigmoid() {
    struct S {
        vector<double> z, s, G, dz;
    };
    auto s = std::make_shared<S>();
    const int n = 30;
    s->z = random_vec(n, 1201, 4.0);
    s->s.resize(n);
    s->G = random_vec(n, 1202);
    s->dz.resize(n);
    GradCase c;
    c.name = "sigmoid";
    c.keep = s;
    c.tensors = {{"z", s->z.data(), s->dz.data(), (size_t)n}};
    c.loss = [s, n] {
        routing::sigmoid_forward(s->s.data(), s->z.data(), n);
        return dot(s->s.data(), s->G.data(), n);
    };
    c.backward = [s, n] { routing::sigmoid_backward(s->dz.data(), s->s.data(), s->G.data(), n); };
    return c;
}

GradCase case_jitter() {
    struct S {
        vector<double> x, noise, out, G, dx;
    };
    auto s = std::make_shared<S>();
    const int n = 24;
    s->x = random_vec(n, 1301);
    s->noise = random_vec(n, 1302, 0.1);
    s->out.resize(n);
    s->G = random_vec(n, 1303);
    s->dx.resize(n);
    for (auto & v : s->noise) v += 1.0; // factors in U(0.9, 1.1)
    GradCase c;
    c.name = "jitter";
    c.keep = s;
    c.tensors = {{"inp", s->x.data(), s->dx.data(), (size_t)n}};
    c.loss = [s, n] {
        routing::jitter_forward(s->out.data(), s->x.data(), s->noise.data(), n);
        return dot(s->out.data(), s->G.data(), n);
    };
    c.backward = [s, n] { routing::jitter_backward(s->dx.data(), s->G.data(), s->noise.data(), n); };
    return c;
}

// ---- load-balancing loss, f fixed (one case per convention) -------------------------------------
// P > E (null columns, no gradient from the LBL) in the direct case.
GradCase case_lbl(routing::LblConvention conv, Front front) {
    struct S : Scored {
        vector<double> f;
    };
    auto s = std::make_shared<S>();
    const int N = 7, E = 4, P = front == Front::direct ? 6 : 4;
    const int K = conv == routing::LblConvention::switch_ ? 1 : 2;
    const double coef = 0.7;
    init_scored(*s, N, P, front, 1401 + (int)conv, 2.0);
    vector<int32_t> idx((size_t)N * K);
    routing::topk_select(idx.data(), s->p.data(), N, P, K);
    vector<int64_t> counts(E, 0);
    for (int32_t e : idx)
        if (e >= 0 && e < E) counts[e] += 1;
    s->f.resize(E);
    routing::lbl_frequencies(s->f.data(), counts.data(), N, E, K, conv);
    GradCase c;
    c.name = std::string("lbl_") +
             (conv == routing::LblConvention::mixtral    ? "mixtral"
              : conv == routing::LblConvention::megatron ? "megatron"
                                                         : "switch") +
             "_" + front_name(front);
    c.keep = s;
    c.tensors = {{front == Front::direct ? "probs" : "logits", s->x.data(), s->dx.data(), s->x.size()}};
    c.loss = [s, N, P, E, coef] {
        s->scores();
        return coef * routing::lbl_forward(s->p.data(), s->f.data(), N, P, E);
    };
    c.backward = [s, N, P, E, coef] {
        routing::lbl_backward(s->dscores(), s->f.data(), coef, N, P, E);
        s->back_to_x();
    };
    return c;
}

// ---- router z-loss -----------------------------------------------------------------------------
GradCase case_zloss() {
    struct S {
        vector<double> z, dz;
    };
    auto s = std::make_shared<S>();
    const int N = 5, P = 6;
    const double coef = 0.3;
    s->z = random_vec((size_t)N * P, 1501, 3.0);
    s->dz.resize(s->z.size());
    GradCase c;
    c.name = "zloss";
    c.keep = s;
    c.tensors = {{"logits", s->z.data(), s->dz.data(), s->z.size()}};
    c.loss = [s, N, P, coef] { return coef * routing::zloss_forward(s->z.data(), N, P); };
    c.backward = [s, N, P, coef] { routing::zloss_backward(s->dz.data(), s->z.data(), coef, N, P); };
    return c;
}

// ---- DynMoLE router loss --------------------------------------------------------------------------
// The 0/1 mask is fixed (dynmole_select once); w_dense = p * mask is recomputed from the current p
// inside loss() exactly as the reference does (routing_weights = softmax * final_mask, not
// detached), so the checked gradient includes the ftilde path documented in routing.hpp.
struct DynMoleState : Scored {
    vector<int32_t> idx;
    vector<double> gate, w;
};

GradCase case_dynmole(double q, Front front) {
    auto s = std::make_shared<DynMoleState>();
    const int N = 6, E = 5;
    const double eps = 1e-5, beta = 0.3, alpha = 0.5;
    init_scored(*s, N, E, front, 1601 + (int)front, 1.5);
    s->idx.resize((size_t)N * E);
    s->gate.resize((size_t)N * E);
    s->w.resize((size_t)N * E);
    vector<double> ent(N);
    // threshold 0.85: some tokens keep a prefix (>= keep_top_k = 2), flatter ones broadcast to
    // every expert (the "not vacuous" test below checks both occur for q = 1.1)
    routing::dynmole_select(s->idx.data(), ent.data(), s->p.data(), N, E, 0.6, 2, 0.85, q, eps);
    GradCase c;
    c.name = std::string("dynmole_loss_q") + (q == 1.0 ? "1" : "1.1") + "_" + front_name(front);
    c.keep = s;
    c.tensors = {{front == Front::direct ? "probs" : "logits", s->x.data(), s->dx.data(), s->x.size()}};
    auto wdense = [s, N, E] {
        routing::gate_forward(s->gate.data(), s->p.data(), s->idx.data(), N, E, E, false, 1.0);
        routing::gates_to_dense(s->w.data(), s->gate.data(), s->idx.data(), N, E, E);
    };
    c.loss = [s, N, E, q, eps, beta, alpha, wdense] {
        s->scores();
        wdense();
        double h = 0, lb = 0;
        return routing::dynmole_loss_forward(&h, &lb, s->p.data(), s->w.data(), N, E, q, eps, beta, alpha);
    };
    c.backward = [s, N, E, q, eps, beta, alpha] {
        routing::dynmole_loss_backward(s->dscores(), s->p.data(), s->w.data(), N, E, q, eps, beta, alpha);
        s->back_to_x();
    };
    return c;
}

// ---- AdaMoE pooled-null LBL (counts fixed) ------------------------------------------------------
GradCase case_adamoe(Front front) {
    struct S : Scored {
        vector<int64_t> counts;
        vector<double> f;
    };
    auto s = std::make_shared<S>();
    const int N = 6, E = 4, M = 3, K = 3, P = E + M;
    const double coef = 0.4;
    init_scored(*s, N, P, front, 1701 + (int)front, 2.0);
    vector<int32_t> idx((size_t)N * K);
    routing::topk_select(idx.data(), s->p.data(), N, P, K);
    s->counts.assign(P, 0);
    for (int32_t e : idx) s->counts[e] += 1;
    s->f.resize(P);
    GradCase c;
    c.name = std::string("adamoe_lbl_") + front_name(front);
    c.keep = s;
    c.tensors = {{front == Front::direct ? "probs" : "logits", s->x.data(), s->dx.data(), s->x.size()}};
    c.loss = [s, N, E, M, coef] {
        s->scores();
        return coef * routing::adamoe_lbl_forward(s->f.data(), s->p.data(), s->counts.data(), N, E, M);
    };
    c.backward = [s, N, E, M, coef] {
        routing::adamoe_lbl_backward(s->dscores(), s->f.data(), coef, N, E, M);
        s->back_to_x();
    };
    return c;
}

// ---- Poly / MHR weights, eval (sigmoid) and train (relaxed Bernoulli, u fixed) -----------------
GradCase case_poly(bool train) {
    struct S {
        vector<double> phi, dphi, u, w, z, G;
    };
    auto s = std::make_shared<S>();
    const int q = 2, S_ = 4;
    const double tau = train ? 0.7 : 1.0;
    s->phi = random_vec((size_t)q * S_, 1801, 2.0);
    s->dphi.resize(s->phi.size());
    s->u = random_vec(s->phi.size(), 1802, 0.4);
    for (auto & v : s->u) v += 0.5; // uniforms in (0.1, 0.9): far from the clamp
    s->w.resize(s->phi.size());
    s->z.resize(s->phi.size());
    s->G = random_vec(s->phi.size(), 1803);
    GradCase c;
    c.name = train ? "poly_weights_train" : "poly_weights_eval";
    c.keep = s;
    c.tensors = {{"module_logits", s->phi.data(), s->dphi.data(), s->phi.size()}};
    c.loss = [s, q, S_, train, tau] {
        routing::poly_weights_forward(s->w.data(), s->z.data(), s->phi.data(), s->u.data(), q, S_, train, tau);
        return dot(s->w.data(), s->G.data(), s->w.size());
    };
    c.backward = [s, q, S_, train, tau] {
        routing::poly_weights_backward(s->dphi.data(), s->G.data(), s->w.data(), s->z.data(), s->phi.data(),
                                       s->u.data(), q, S_, train, tau);
    };
    return c;
}

} // namespace

// The gradient-check list: every differentiable routing kernel (routing.hpp).
TEST_CASE("gradcheck: every routing gate and router loss (selection fixed)") {
    using routing::LblConvention;
    vector<GradCase> cases;
    cases.push_back(case_gate(true, 1.0, Front::softmax));  // Mixtral / MoLA
    cases.push_back(case_gate(false, 1.0, Front::softmax)); // Switch / top-p / soft
    cases.push_back(case_gate(true, 2.5, Front::softmax));  // renorm with a scale
    cases.push_back(case_gate(false, 0.8, Front::softmax)); // raw with a scale
    cases.push_back(case_gate(true, 2.5, Front::sigmoid));  // DeepSeek: biased selection, route_scale
    cases.push_back(case_gate(true, 1.7, Front::direct));   // empty slots, a token with nothing selected
    cases.push_back(case_gate(false, 1.0, Front::direct));
    cases.push_back(case_expert_choice(Front::softmax));
    cases.push_back(case_expert_choice(Front::direct));
    cases.push_back(case_sigmoid());
    cases.push_back(case_jitter());
    cases.push_back(case_lbl(LblConvention::mixtral, Front::softmax));
    cases.push_back(case_lbl(LblConvention::megatron, Front::softmax));
    cases.push_back(case_lbl(LblConvention::switch_, Front::softmax));
    cases.push_back(case_lbl(LblConvention::megatron, Front::direct));
    cases.push_back(case_zloss());
    cases.push_back(case_dynmole(1.1, Front::softmax));
    cases.push_back(case_dynmole(1.0, Front::softmax));
    cases.push_back(case_dynmole(1.1, Front::direct));
    cases.push_back(case_adamoe(Front::softmax));
    cases.push_back(case_adamoe(Front::direct));
    cases.push_back(case_poly(false));
    cases.push_back(case_poly(true));
    check_all(cases);
}

TEST_CASE("gradcheck routing: the cases are not vacuous") {
    // The DynMoLE case must exercise both a partial mask and a broadcast token, and the ftilde
    // path must matter: dropping it (treating ftilde as a constant) fails the check.
    GradCase c = case_dynmole(1.1, Front::softmax);
    auto s = std::static_pointer_cast<DynMoleState>(c.keep);
    int partial = 0, full = 0;
    for (int n = 0; n < s->N; ++n) {
        const int m = (int)std::count_if(s->idx.begin() + n * s->P, s->idx.begin() + (n + 1) * s->P,
                                         [](int32_t e) { return e >= 0; });
        partial += m < s->P;
        full += m == s->P;
    }
    CHECK(partial > 0);
    CHECK(full > 0);
    c.backward = [s] {
        // the LB term with ftilde constant: alpha * E/N * (ftilde_e + m * P_e) minus the m * P_e part
        const int N = s->N, E = s->P;
        double * dp = s->dscores();
        routing::dynmole_loss_backward(dp, s->p.data(), s->w.data(), N, E, 1.1, 1e-5, 0.3, 0.5);
        for (int e = 0; e < E; ++e) {
            double pe = 0;
            for (int n = 0; n < N; ++n) pe += s->p[n * E + e] / N;
            for (int n = 0; n < N; ++n)
                if (s->w[n * E + e] != 0) dp[n * E + e] -= 0.5 * E / N * pe;
        }
        s->back_to_x();
    };
    CHECK_FALSE(grad_check(c).ok);
}
