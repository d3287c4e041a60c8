// Gradient checks of the adapter kernels and of sparse dispatch (double precision).
#include <doctest/doctest.h>

#include <memory>
#include <numeric>

#include "gradcheck/gradcheck.hpp"
#include "moe/adapters/adapters.hpp"

using namespace moe;
using namespace moe::test;
using std::vector;

namespace {

GradCase case_lora() {
    struct S {
        vector<double> inp, a, b, out, h, G, dinp, da, db, dh;
    };
    auto s = std::make_shared<S>();
    const int N = 5, C = 6, OC = 4, R = 3;
    const double sc = 1.7;
    s->inp = random_vec(N * C, 1);
    s->a = random_vec(R * C, 2);
    s->b = random_vec(OC * R, 3);
    s->out.resize(N * OC);
    s->h.resize(N * R);
    s->G = random_vec(N * OC, 4);
    s->dinp.resize(N * C);
    s->da.resize(R * C);
    s->db.resize(OC * R);
    s->dh.resize(N * R);
    GradCase c;
    c.name = "lora";
    c.keep = s;
    c.tensors = {{"inp", s->inp.data(), s->dinp.data(), s->inp.size()},
                 {"a", s->a.data(), s->da.data(), s->a.size()},
                 {"b", s->b.data(), s->db.data(), s->b.size()}};
    c.loss = [s, N, C, OC, R, sc] {
        std::fill(s->out.begin(), s->out.end(), 0.3); // forward accumulates into out
        adapters::lora_forward(s->out.data(), s->h.data(), s->inp.data(), s->a.data(), s->b.data(), sc, N, C, OC, R);
        return dot(s->out.data(), s->G.data(), s->out.size());
    };
    c.backward = [s, N, C, OC, R, sc] {
        std::fill(s->dh.begin(), s->dh.end(), std::nan("")); // scratch must be written before it is read
        adapters::lora_backward(s->dinp.data(), s->da.data(), s->db.data(), s->dh.data(), s->G.data(), s->inp.data(),
                                s->h.data(), s->a.data(), s->b.data(), sc, N, C, OC, R);
    };
    return c;
}

GradCase case_bottleneck() {
    struct S {
        vector<double> inp, wd, bd, wu, bu, out, hpre, h, G, dinp, dwd, dbd, dwu, dbu, dh;
    };
    auto s = std::make_shared<S>();
    const int N = 5, C = 6, OC = 6, R = 3;
    s->inp = random_vec(N * C, 11);
    s->wd = random_vec(R * C, 12);
    s->bd = random_vec(R, 13);
    s->wu = random_vec(OC * R, 14);
    s->bu = random_vec(OC, 15);
    s->out.resize(N * OC);
    s->hpre.resize(N * R);
    s->h.resize(N * R);
    s->G = random_vec(N * OC, 16);
    s->dinp.resize(N * C);
    s->dwd.resize(R * C);
    s->dbd.resize(R);
    s->dwu.resize(OC * R);
    s->dbu.resize(OC);
    s->dh.resize(N * R);
    // keep pre-activations away from the ReLU kink
    adapters::bottleneck_forward(s->out.data(), s->hpre.data(), s->h.data(), s->inp.data(), s->wd.data(), s->bd.data(),
                                 s->wu.data(), s->bu.data(), N, C, OC, R);
    for (int n = 0; n < N; ++n)
        for (int r = 0; r < R; ++r)
            if (std::fabs(s->hpre[n * R + r]) < 0.05) s->bd[r] += 0.2;
    GradCase c;
    c.name = "bottleneck";
    c.keep = s;
    c.tensors = {{"inp", s->inp.data(), s->dinp.data(), s->inp.size()},
                 {"wd", s->wd.data(), s->dwd.data(), s->wd.size()},
                 {"bd", s->bd.data(), s->dbd.data(), s->bd.size()},
                 {"wu", s->wu.data(), s->dwu.data(), s->wu.size()},
                 {"bu", s->bu.data(), s->dbu.data(), s->bu.size()}};
    c.loss = [s, N, C, OC, R] {
        std::fill(s->out.begin(), s->out.end(), 0.0);
        adapters::bottleneck_forward(s->out.data(), s->hpre.data(), s->h.data(), s->inp.data(), s->wd.data(),
                                     s->bd.data(), s->wu.data(), s->bu.data(), N, C, OC, R);
        return dot(s->out.data(), s->G.data(), s->out.size());
    };
    c.backward = [s, N, C, OC, R] {
        adapters::bottleneck_backward(s->dinp.data(), s->dwd.data(), s->dbd.data(), s->dwu.data(), s->dbu.data(),
                                      s->dh.data(), s->G.data(), s->inp.data(), s->hpre.data(), s->h.data(),
                                      s->wd.data(), s->wu.data(), N, C, OC, R);
    };
    return c;
}

// Mixture of E LoRA experts through sparse dispatch with a fixed selection:
// out[n] = sum_j gate[n,j] * s * B_e A_e x_n  (e = idx[n,j]); checks inputs, stacked A/B and gates.
// The two mixture cases share their sizes, selection and buffers: N tokens of width C, E experts
// of rank R and output width OC, K slots per token (one slot dropped: idx -1).
constexpr int kN = 7, kC = 5, kOC = 4, kR = 2, kE = 3, kK = 2;
struct Mixture {
    vector<double> inp, A, B, gate, out, G, dinp, dA, dB, dgate;
    vector<double> xg, h, yg, dyg, dxg, dh;
    vector<int32_t> idx, perm, offsets;
    explicit Mixture(uint64_t seed) {
        const int N = kN, C = kC, OC = kOC, R = kR, E = kE, K = kK;
        inp = random_vec(N * C, seed);
        A = random_vec(E * R * C, seed + 1);
        B = random_vec(E * OC * R, seed + 2);
        gate = random_vec(N * K, seed + 3);
        G = random_vec(N * OC, seed + 4);
        idx = {0, 1, 2, 0, 1, 2, 0, -1, 2, 1, 1, 0, 2, 0};
        perm.resize(N * K);
        offsets.resize(E + 1);
        out.resize(N * OC);
        dinp.resize(N * C);
        dA.resize(E * R * C);
        dB.resize(E * OC * R);
        dgate.resize(N * K);
        xg.resize(N * K * C);
        h.resize(N * K * R);
        yg.resize(N * K * OC);
        dyg.resize(N * K * OC);
        dxg.resize(N * K * C);
        dh.resize(N * K * R);
    }
    GradCase grad_case(const std::string & name, std::shared_ptr<void> keep) {
        GradCase c;
        c.name = name;
        c.keep = std::move(keep);
        c.tensors = {{"inp", inp.data(), dinp.data(), inp.size()},
                     {"A", A.data(), dA.data(), A.size()},
                     {"B", B.data(), dB.data(), B.size()},
                     {"gate", gate.data(), dgate.data(), gate.size()}};
        return c;
    }
};

// The gated cases (the gate folded into the rank-R activations, as MoeSite runs LoRA experts):
// the gates in dispatch order, their gradient, and the steps all three share.
struct GatedMixture : Mixture {
    vector<double> hg, gg, dgg; // gated activations, gates in dispatch order and their gradient
    int routed = 0;
    explicit GatedMixture(uint64_t seed) : Mixture(seed), hg(kN * kK * kR), gg(kN * kK), dgg(kN * kK) {}
    // forward: group the (token, slot) pairs by expert and gather their gates
    void dispatch() {
        routed = adapters::dispatch_plan(perm.data(), offsets.data(), idx.data(), kN, kK, kE);
        for (int i = 0; i < routed; ++i) gg[i] = gate[perm[i]];
    }
    // forward: out[token] += hg[i] @ B_e^T, straight into the token rows
    void add_up_projection() {
        adapters::experts_addmm(out.data(), hg.data(), B.data(), (int64_t)kOC * kR, /*transposed=*/true, perm.data(),
                                offsets.data(), kE, kN, kK, kR, kOC);
    }
    // backward: dinp[token] += dh[i] @ A_e, then the gate gradients back in (token, slot) order
    void add_input_gradient() {
        adapters::experts_addmm(dinp.data(), dh.data(), A.data(), (int64_t)kR * kC, /*transposed=*/false, perm.data(),
                                offsets.data(), kE, kN, kK, kR, kC);
        scatter_gate_gradient();
    }
    void scatter_gate_gradient() {
        for (int i = 0; i < routed; ++i) dgate[perm[i]] += dgg[i];
    }
};

GradCase case_dispatch() {
    auto s = std::make_shared<Mixture>(21);
    const int N = kN, C = kC, OC = kOC, R = kR, E = kE, K = kK;
    const double sc = 0.8;
    GradCase c = s->grad_case("dispatch_lora_mixture", s);
    c.loss = [s, N, C, OC, R, E, K, sc] {
        adapters::dispatch_plan(s->perm.data(), s->offsets.data(), s->idx.data(), N, K, E);
        std::fill(s->out.begin(), s->out.end(), 0.0);
        for (int e = 0; e < E; ++e) {
            const int b = s->offsets[e], en = s->offsets[e + 1], n = en - b;
            adapters::gather_rows(s->xg.data() + (size_t)b * C, s->inp.data(), s->perm.data(), b, en, K, C);
            std::fill(s->yg.begin() + (size_t)b * OC, s->yg.begin() + (size_t)en * OC, 0.0);
            adapters::lora_forward(s->yg.data() + (size_t)b * OC, s->h.data() + (size_t)b * R,
                                   s->xg.data() + (size_t)b * C, s->A.data() + (size_t)e * R * C,
                                   s->B.data() + (size_t)e * OC * R, sc, n, C, OC, R);
            adapters::scatter_add_rows(s->out.data(), s->yg.data() + (size_t)b * OC, s->gate.data(), s->perm.data(), b,
                                       en, K, OC);
        }
        return dot(s->out.data(), s->G.data(), s->out.size());
    };
    c.backward = [s, N, C, OC, R, E, K, sc] {
        for (int e = 0; e < E; ++e) {
            const int b = s->offsets[e], en = s->offsets[e + 1], n = en - b;
            adapters::scatter_add_rows_backward(s->dyg.data() + (size_t)b * OC, s->dgate.data(), s->G.data(),
                                                s->yg.data() + (size_t)b * OC, s->gate.data(), s->perm.data(), b, en, K,
                                                OC);
            std::fill(s->dxg.begin() + (size_t)b * C, s->dxg.begin() + (size_t)en * C, 0.0);
            adapters::lora_backward(s->dxg.data() + (size_t)b * C, s->dA.data() + (size_t)e * R * C,
                                    s->dB.data() + (size_t)e * OC * R, s->dh.data() + (size_t)b * R,
                                    s->dyg.data() + (size_t)b * OC, s->xg.data() + (size_t)b * C,
                                    s->h.data() + (size_t)b * R, s->A.data() + (size_t)e * R * C,
                                    s->B.data() + (size_t)e * OC * R, sc, n, C, OC, R);
            adapters::gather_rows_backward(s->dinp.data(), s->dxg.data() + (size_t)b * C, s->perm.data(), b, en, K, C);
        }
    };
    return c;
}

// The same mixture through the gated LoRA kernels (the gate folded into the rank-R activations,
// as MoeSite runs LoRA experts): gates gathered in dispatch order, block outputs overwritten and
// scatter-added without a gate, the upstream gradient gathered per block.
GradCase case_dispatch_gated() {
    auto s = std::make_shared<GatedMixture>(31);
    const int N = kN, C = kC, OC = kOC, R = kR, E = kE, K = kK;
    const double sc = 0.8;
    GradCase c = s->grad_case("dispatch_lora_gated_mixture", s);
    c.loss = [s, N, C, OC, R, E, K, sc] {
        s->dispatch();
        std::fill(s->out.begin(), s->out.end(), 0.0);
        std::fill(s->yg.begin(), s->yg.end(), std::nan("")); // block outputs are overwritten
        for (int e = 0; e < E; ++e) {
            const int b = s->offsets[e], en = s->offsets[e + 1], n = en - b;
            adapters::gather_rows(s->xg.data() + (size_t)b * C, s->inp.data(), s->perm.data(), b, en, K, C);
            adapters::lora_gated_forward(s->yg.data() + (size_t)b * OC, s->h.data() + (size_t)b * R,
                                         s->hg.data() + (size_t)b * R, s->xg.data() + (size_t)b * C, s->gg.data() + b,
                                         s->A.data() + (size_t)e * R * C, s->B.data() + (size_t)e * OC * R, sc, n, C,
                                         OC, R);
            adapters::scatter_add_rows(s->out.data(), s->yg.data() + (size_t)b * OC, (const double *)nullptr,
                                       s->perm.data(), b, en, K, OC);
        }
        return dot(s->out.data(), s->G.data(), s->out.size());
    };
    c.backward = [s, N, C, OC, R, E, K, sc] {
        std::fill(s->dgg.begin(), s->dgg.end(), 0.0);
        std::fill(s->dxg.begin(), s->dxg.end(), std::nan("")); // scratch: overwritten before it is read
        std::fill(s->dh.begin(), s->dh.end(), std::nan(""));
        for (int e = 0; e < E; ++e) {
            const int b = s->offsets[e], en = s->offsets[e + 1], n = en - b;
            adapters::gather_rows(s->dyg.data() + (size_t)b * OC, s->G.data(), s->perm.data(), b, en, K, OC);
            adapters::lora_gated_backward(
                s->dxg.data() + (size_t)b * C, s->dA.data() + (size_t)e * R * C, s->dB.data() + (size_t)e * OC * R,
                s->dgg.data() + b, s->dh.data() + (size_t)b * R, s->dyg.data() + (size_t)b * OC,
                s->xg.data() + (size_t)b * C, s->h.data() + (size_t)b * R, s->hg.data() + (size_t)b * R,
                s->gg.data() + b, s->A.data() + (size_t)e * R * C, s->B.data() + (size_t)e * OC * R, sc, n, C, OC, R);
            adapters::gather_rows_backward(s->dinp.data(), s->dxg.data() + (size_t)b * C, s->perm.data(), b, en, K, C);
        }
        s->scatter_gate_gradient();
    };
    return c;
}

// LoRA experts as MoeSite runs them: the up-projection and the input gradient added straight into
// the token rows by experts_addmm (from B stored transposed, and from A), no block outputs and no
// scatter pass.
GradCase case_dispatch_rows() {
    auto s = std::make_shared<GatedMixture>(41);
    const int N = kN, C = kC, OC = kOC, R = kR, E = kE, K = kK;
    const double sc = 0.8;
    GradCase c = s->grad_case("dispatch_lora_rows_mixture", s);
    c.loss = [s, N, C, OC, R, E, K, sc] {
        s->dispatch();
        std::fill(s->out.begin(), s->out.end(), 0.0);
        for (int e = 0; e < E; ++e) {
            const int b = s->offsets[e], en = s->offsets[e + 1], n = en - b;
            adapters::gather_rows(s->xg.data() + (size_t)b * C, s->inp.data(), s->perm.data(), b, en, K, C);
            adapters::lora_gated_forward((double *)nullptr, s->h.data() + (size_t)b * R, s->hg.data() + (size_t)b * R,
                                         s->xg.data() + (size_t)b * C, s->gg.data() + b,
                                         s->A.data() + (size_t)e * R * C, (const double *)nullptr, sc, n, C, OC, R);
        }
        s->add_up_projection();
        return dot(s->out.data(), s->G.data(), s->out.size());
    };
    c.backward = [s, N, C, OC, R, E, K, sc] {
        std::fill(s->dgg.begin(), s->dgg.end(), 0.0);
        std::fill(s->dh.begin(), s->dh.end(), std::nan(""));
        for (int e = 0; e < E; ++e) {
            const int b = s->offsets[e], en = s->offsets[e + 1], n = en - b;
            adapters::gather_rows(s->dyg.data() + (size_t)b * OC, s->G.data(), s->perm.data(), b, en, K, OC);
            adapters::lora_gated_backward(
                (double *)nullptr, s->dA.data() + (size_t)e * R * C, s->dB.data() + (size_t)e * OC * R,
                s->dgg.data() + b, s->dh.data() + (size_t)b * R, s->dyg.data() + (size_t)b * OC,
                s->xg.data() + (size_t)b * C, s->h.data() + (size_t)b * R, s->hg.data() + (size_t)b * R,
                s->gg.data() + b, s->A.data() + (size_t)e * R * C, s->B.data() + (size_t)e * OC * R, sc, n, C, OC, R);
        }
        s->add_input_gradient();
    };
    return c;
}

// LoRA experts on their token rows in place (lora_rows_forward/backward, MoeSite's path at ranks
// 8 and 16): no gathered blocks, the up-projection and the input gradient by experts_addmm as above.
GradCase case_dispatch_in_place() {
    auto s = std::make_shared<GatedMixture>(43);
    const int N = kN, C = kC, OC = kOC, R = kR, E = kE, K = kK;
    const double sc = 0.8;
    GradCase c = s->grad_case("dispatch_lora_in_place_mixture", s);
    c.loss = [s, N, C, OC, R, E, K, sc] {
        s->dispatch();
        std::fill(s->out.begin(), s->out.end(), 0.0);
        for (int e = 0; e < E; ++e)
            adapters::lora_rows_forward(s->h.data() + (size_t)s->offsets[e] * R,
                                        s->hg.data() + (size_t)s->offsets[e] * R, s->inp.data(),
                                        s->gg.data() + s->offsets[e], s->A.data() + (size_t)e * R * C, sc,
                                        s->perm.data(), s->offsets[e], s->offsets[e + 1], K, C, R);
        s->add_up_projection();
        return dot(s->out.data(), s->G.data(), s->out.size());
    };
    c.backward = [s, N, C, OC, R, E, K, sc] {
        std::fill(s->dgg.begin(), s->dgg.end(), 0.0);
        std::fill(s->dh.begin(), s->dh.end(), std::nan(""));
        for (int e = 0; e < E; ++e) {
            const int b = s->offsets[e];
            adapters::lora_rows_backward(s->dA.data() + (size_t)e * R * C, s->dB.data() + (size_t)e * OC * R,
                                         s->dgg.data() + b, s->dh.data() + (size_t)b * R, s->G.data(), s->inp.data(),
                                         s->h.data() + (size_t)b * R, s->hg.data() + (size_t)b * R, s->gg.data() + b,
                                         s->B.data() + (size_t)e * OC * R, sc, s->perm.data(), b, s->offsets[e + 1], K,
                                         C, OC, R);
        }
        s->add_input_gradient();
    };
    return c;
}

} // namespace

TEST_CASE("gradcheck: adapter kernels and sparse dispatch") {
    vector<GradCase> cases;
    cases.push_back(case_lora());
    cases.push_back(case_bottleneck());
    cases.push_back(case_dispatch());
    cases.push_back(case_dispatch_gated());
    cases.push_back(case_dispatch_rows());
    cases.push_back(case_dispatch_in_place());
    check_all(cases);
}

TEST_CASE("dispatch_plan groups (token, slot) pairs by expert in token order") {
    const int N = 4, K = 2, E = 3;
    vector<int32_t> idx = {2, 0, 1, -1, 2, 1, 0, 2}, perm(N * K), off(E + 1);
    const int n = adapters::dispatch_plan(perm.data(), off.data(), idx.data(), N, K, E);
    CHECK(n == 7);
    CHECK(off == vector<int32_t>{0, 2, 4, 7});
    CHECK(vector<int32_t>(perm.begin(), perm.begin() + n) == vector<int32_t>{1, 6, 2, 5, 0, 4, 7});
}
