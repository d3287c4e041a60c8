// Known answers for every registered part, through the part itself (the kernels have their own
// golden tests in test_routing_golden.cpp): each router's selection and gates, each loss's value,
// each expert kind's output and each model family's logits, against values computed
// independently — the golden values of tests/tools/golden_routing.py (the formulas of the
// reference implementations, in plain Python), small cases worked out by hand, and a plain-loop
// reference of the vision transformer. Every table is keyed by the part's registry name; the
// completeness test (test_registry.cpp) fails when a registered part has no entry here.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "coverage.hpp"
#include "moe/adapters/registry.hpp"
#include "moe/models/registry.hpp"
#include "moe/nn/kernels.hpp"
#include "moe/routing/loss.hpp"
#include "moe/routing/registry.hpp"
#include "moe/routing/routing.hpp"
#include "moe/sites/poly_site.hpp"

using namespace moe;
using std::vector;

namespace {

// golden_routing.py's logits: T = 4 tokens, E = 4 experts
const vector<double> LOGITS = {2.0, 1.0, 0.5, -1.0, 0.1, 0.3, 2.2, 0.0, 1.5, 1.4, -0.3, 0.2, -0.5, 0.0, 0.4, 1.8};
// its AdaMoE case: one token, 4 true + 4 null experts
const vector<double> ADAMOE = {1.0, 0.2, -0.5, 0.1, 0.9, 0.8, 0.85, -2.0};

vector<double> softmax(const vector<double> & z, int N, int P) {
    vector<double> p(z.size());
    nn::softmax_forward(p.data(), z.data(), N, P);
    return p;
}

// ---------------------------------------------------------------------------------------- routers
struct RouterKat {
    std::function<void(routing::RouterConfig &)> config; // on top of the registry's example
    int64_t step = 0;
    bool train = true;
    vector<double> logits = LOGITS;
    int N = 4, E = 4;
    vector<double> bias;    // sigmoid_bias: the selection bias
    vector<int32_t> idx;    // expected (N, K)
    vector<double> gate;    // expected (N, K)
    vector<int64_t> counts; // expected (P) when given
};

const std::multimap<std::string, RouterKat> & router_kats() {
    static const std::multimap<std::string, RouterKat> kats = {
        {"none", {nullptr, 0, true, LOGITS, 4, 4, {}, {0, 0, 0, 0}, {1, 1, 1, 1}, {}}},
        {"soft",
         {nullptr,
          0,
          true,
          LOGITS,
          4,
          4,
          {},
          {0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3},
          {0.60946003759887712, 0.22420781804820114, 0.1359889157935055, 0.030343228559416225, 0.088555055310559794,
           0.10816138880534412, 0.72315562828285751, 0.080127927601238505, 0.42686371163819914, 0.3862422586919545,
           0.070560096955934223, 0.11633393271391212, 0.066301975581976036, 0.10931347743144439, 0.16307654541728037,
           0.66130800156929936},
          {}}},
        // golden: Mixtral renormalised top-2, token 0 experts [0, 1], w [0.731059, 0.268941]
        {"topk",
         {[](routing::RouterConfig & c) { c.k = 2; },
          0,
          true,
          LOGITS,
          4,
          4,
          {},
          {0, 1, 2, 1, 0, 1, 3, 2},
          {0.7310585786300049, 0.2689414213699951, 0.86989152563700223, 0.13010847436299786, 0.52497918747894001,
           0.47502081252106004, 0.8021838885585818, 0.19781611144141828},
          {2, 3, 2, 1}}},
        // top-1, capacity ceil(1 * 4 / 4) = 1: token 2 (top-1 expert 0, already full) is dropped
        {"switch",
         {[](routing::RouterConfig & c) { c.capacity_factor = 1.0; },
          0,
          true,
          LOGITS,
          4,
          4,
          {},
          {0, 2, -1, 3},
          {0.60946003759887712, 0.72315562828285751, 0, 0.66130800156929936},
          {}}},
        // the smallest prefix reaching 0.8 (the crossing expert included)
        {"topp",
         {[](routing::RouterConfig & c) { c.top_p = 0.8; },
          0,
          true,
          LOGITS,
          4,
          4,
          {},
          {0, 1, -1, -1, 2, 1, -1, -1, 0, 1, -1, -1, 3, 2, -1, -1},
          {0.60946003759887712, 0.22420781804820114, 0, 0, 0.72315562828285751, 0.10816138880534412, 0, 0,
           0.42686371163819914, 0.3862422586919545, 0, 0, 0.66130800156929936, 0.16307654541728037, 0, 0},
          {}}},
        // golden: DynMoLE weights token 0 [0.60946, 0.224208, 0, 0] (top_p 0.75, keep_top_k 2, threshold 0.9)
        {"dynmole",
         {nullptr,
          0,
          true,
          LOGITS,
          4,
          4,
          {},
          {0, 1, -1, -1, 2, 1, -1, -1, 0, 1, -1, -1, 3, 2, -1, -1},
          {0.60946003759887712, 0.22420781804820114, 0, 0, 0.72315562828285751, 0.10816138880534412, 0, 0,
           0.42686371163819914, 0.3862422586919545, 0, 0, 0.66130800156929936, 0.16307654541728037, 0, 0},
          {}}},
        // golden: capacity factor 2, k_c = 2; expert 0 takes tokens [0, 2], expert 3 tokens [3, 2]
        {"expert_choice",
         {[](routing::RouterConfig & c) { c.capacity_factor = 2.0; },
          0,
          true,
          LOGITS,
          4,
          4,
          {},
          {0, 1, -1, -1, -1, -1, 2, -1, 0, 1, -1, 3, -1, -1, 2, 3},
          {0.60946003759887712, 0.22420781804820114, 0, 0, 0, 0, 0.72315562828285751, 0, 0.42686371163819914,
           0.3862422586919545, 0, 0.11633393271391212, 0, 0, 0.16307654541728037, 0.66130800156929936},
          {}}},
        // golden: AdaMoE, 4 true + 4 null, top-4 selects [0, 4, 6, 5]: true weights {0: 1.0}
        {"null_experts",
         {[](routing::RouterConfig & c) {
              c.null_experts = 4;
              c.k = 4;
          },
          0,
          true,
          ADAMOE,
          1,
          4,
          {},
          {0, -1, -1, -1},
          {1, 0, 0, 0},
          {1, 0, 0, 0, 1, 1, 1, 0}}},
        // golden: DeepSeek-V3, bias [0, 0, 0.3, 0]: token 0 selects [2, 0] with the unbiased σ renormalised
        {"sigmoid_bias",
         {[](routing::RouterConfig & c) {
              c.k = 2;
              c.route_scale = 1.0;
          },
          0,
          true,
          LOGITS,
          4,
          4,
          {0, 0, 0.3, 0},
          {2, 0, 2, 1, 0, 1, 2, 3},
          {0.41407395797600771, 0.58592604202399234, 0.61046611358527969, 0.38953388641472042, 0.50475089000000817,
           0.49524910999999178, 0.41095045393566959, 0.58904954606433046},
          {2, 2, 3, 1}}},
        // k grows from k_start 1 to 3 over 10 steps: step 0 routes top-1 (gate 1), step 10 top-3
        {"random_fixed", {nullptr, 0, true, LOGITS, 4, 4, {}, {0, 2, 0, 3}, {1, 1, 1, 1}, {}}},
        {"random_fixed",
         {nullptr,
          10,
          false,
          LOGITS,
          4,
          4,
          {},
          {0, 1, 2, 2, 1, 0, 0, 1, 3, 3, 2, 1},
          {0.62853171921176254, 0.23122389762214909, 0.14024438316608848, 0.78614804164787377, 0.11758307709385107,
           0.096268881258275096, 0.45926983577975461, 0.41556453238875235, 0.12516563183149304, 0.70826753862041636,
           0.1746566246821892, 0.11707583669739444},
          {}}},
    };
    return kats;
}

// Poly / MHR (router "task") is a site of its own: its output for one task with the golden eval
// weights of Φ = [0.2, -0.4, 1.0], w = [0.326853, 0.238563, 0.434584].
void check_task() {
    ParamStore<double> st;
    sites::PolySite<double> site;
    adapters::AdapterConfig ac;
    ac.experts = 3; // skills
    ac.rank = 1;
    routing::RouterConfig rc;
    rc.kind = "task";
    rc.n_tasks = 2;
    site.declare(st, "l", 2, 2, ac, rc, [](const std::string &) { return true; });
    st.allocate(1);
    site.bind(st);
    site.plan(1, 1);
    const vector<double> A = {1.0, 2.0, -1.0, 0.5, 0.25, -2.0}; // (S, R, C)
    const vector<double> B = {0.5, -1.0, 2.0, 1.0, -0.5, 0.75}; // (S, OC, R)
    std::copy(A.begin(), A.end(), st.value(st.find("l.experts.lora_a")));
    std::copy(B.begin(), B.end(), st.value(st.find("l.experts.lora_b")));
    double * phi = st.value(st.find("l.router.module_logits")); // (n_tasks, S)
    const double row1[3] = {0.2, -0.4, 1.0};
    std::copy(row1, row1 + 3, phi + 3);
    const int32_t task = 1;
    site.set_context({&task, 1, 0, 0});
    const vector<double> x = {3.0, -1.0};
    vector<double> out(2, 0.0);
    site.forward(out.data(), x.data(), 1, false);
    const double w[3] = {0.326853, 0.238563, 0.434584};
    double a0 = 0, a1 = 0, b0 = 0, b1 = 0; // the mixed A_t (1,2) and B_t (2,1)
    for (int s = 0; s < 3; ++s) {
        a0 += w[s] * A[2 * s];
        a1 += w[s] * A[2 * s + 1];
        b0 += w[s] * B[2 * s];
        b1 += w[s] * B[2 * s + 1];
    }
    const double h = x[0] * a0 + x[1] * a1; // scale 1/r = 1
    CHECK(out[0] == doctest::Approx(h * b0).epsilon(2e-6));
    CHECK(out[1] == doctest::Approx(h * b1).epsilon(2e-6));
}

// ------------------------------------------------------------------------------------------ losses
// The value of each loss part on the golden logits, with the selection of the router named.
struct LossKat {
    int kind;
    std::function<void(routing::BalanceConfig &, routing::RouterConfig &)> config;
    double value;
};

const std::multimap<std::string, LossKat> & loss_kats() {
    static const std::multimap<std::string, LossKat> kats = {
        {"lbl",
         {routing::kLbl,
          [](auto & b, auto & r) {
              b.lbl = "mixtral";
              r.kind = "topk";
          },
          1.984953}},
        {"lbl",
         {routing::kLbl,
          [](auto & b, auto & r) {
              b.lbl = "megatron";
              r.kind = "topk";
          },
          0.992476}},
        {"lbl",
         {routing::kLbl,
          [](auto & b, auto & r) {
              b.lbl = "switch";
              r.kind = "topk";
          },
          1.090814}},
        {"z_loss",
         {routing::kZLoss,
          [](auto & b, auto & r) {
              b.z_coef = 0.001;
              r.kind = "topk";
          },
          5.756369}},
        {"dynmole_loss", {routing::kDynmoleLoss, [](auto &, auto & r) { r.kind = "dynmole"; }, 0.00810178}},
        // hand-computed: the null counts (1, 1, 1, 0) replaced by their mean 0.75, f = c / 4,
        // L = 8 * sum_e f_e p_e
        {"null_loss",
         {routing::kNullLoss,
          [](auto &, auto & r) {
              r.kind = "null_experts";
              r.null_experts = 4;
              r.k = 4;
          },
          1.2626731716609827}},
    };
    return kats;
}

double loss_value(const LossKat & k) {
    routing::BalanceConfig bc;
    routing::RouterConfig rc;
    k.config(bc, rc);
    const bool adamoe = rc.kind == "null_experts";
    const vector<double> & z = adamoe ? ADAMOE : LOGITS;
    const int N = adamoe ? 1 : 4, E = 4, P = adamoe ? 8 : 4;
    auto router = routing::make_router<double>(rc);
    router->plan(N, E);
    const vector<double> p = softmax(z, N, P);
    const int K = router->slots(E, P);
    vector<int32_t> idx((size_t)N * E);
    vector<double> gate((size_t)N * E), lse(N);
    vector<int64_t> counts(P, 0);
    routing::RouteContext c;
    c.N = N;
    c.E = E;
    c.P = P;
    c.train = true;
    const int used = router->route(idx.data(), gate.data(), counts.data(), p.data(), c);
    (void)K;
    auto part = routing::loss_entry(k.kind).make_double(bc, rc, false);
    REQUIRE(part);
    part->plan(N, E, P);
    routing::RouterOutputs<double> o;
    o.logits = z.data();
    o.probs = p.data();
    o.lse = lse.data();
    o.idx = idx.data();
    o.counts = counts.data();
    o.w_dense = router->dense_weights();
    o.N = N;
    o.P = P;
    o.E = E;
    o.K = used;
    o.train = true;
    return part->forward(o);
}

// ------------------------------------------------------------------------------------ expert kinds
// One expert on one row, worked out by hand: set the tensors, run the dense and the routed path.
struct ExpertKat {
    std::map<std::string, vector<double>> tensors; // expert 0's, by weight name
    double alpha;
    vector<double> x, y; // (1, 2) -> (1, 2)
};

const std::multimap<std::string, ExpertKat> & expert_kats() {
    static const std::multimap<std::string, ExpertKat> kats = {
        // h = A x = 1*3 + 2*4 = 11 ; y = (alpha / r) B h = 2 * (0.5, -1) * 11
        {"lora", {{{"lora_a", {1, 2}}, {"lora_b", {0.5, -1}}}, 2.0, {3, 4}, {11, -22}}},
        // h = relu(1*3 - 1*1 + 0.5) = 2.5 ; y = (2, 3) * 2.5 + (0.1, 0.2)
        {"bottleneck",
         {{{"down_w", {1, -1}}, {"down_b", {0.5}}, {"up_w", {2, 3}}, {"up_b", {0.1, 0.2}}}, 1.0, {3, 1}, {5.1, 7.7}}},
        // the ReLU closed: only the up bias
        {"bottleneck",
         {{{"down_w", {1, -1}}, {"down_b", {0.5}}, {"up_w", {2, 3}}, {"up_b", {0.1, 0.2}}}, 1.0, {0, 2}, {0.1, 0.2}}},
    };
    return kats;
}

void check_expert(const std::string & kind, const ExpertKat & k) {
    for (bool stacked : {false, true}) {
        INFO(kind << (stacked ? " routed" : " dense"));
        ParamStore<double> st;
        auto bank = adapters::make_bank<double>(kind);
        adapters::AdapterConfig ac;
        ac.kind = kind;
        ac.rank = 1;
        ac.alpha = k.alpha;
        ac.experts = 2;
        const adapters::BankLayout at{stacked, stacked ? "s.experts." : "s.sema.adapter", "."};
        bank->declare(st, at, 2, 2, 2, ac, [](const std::string &) { return true; });
        st.allocate(1);
        bank->bind(st);
        for (const auto & [w, v] : k.tensors) // expert 0's values (stacked: its first rows)
            std::copy(v.begin(), v.end(), st.value(st.find(at.name(0, w))));
        vector<double> y(2, 0.0);
        if (!stacked) {
            bank->plan_dense(1);
            bank->forward_dense(0, y.data(), k.x.data(), 1);
        } else { // one token, one slot to expert 0, gate 0.5: half the expert's output
            bank->plan_routed(1, 1);
            const int32_t idx = 0, perm = 0, offsets[3] = {0, 1, 1};
            const double gate = 0.5;
            bank->forward_routed(y.data(), k.x.data(), {&idx, &gate, &perm, offsets, 1, 1, 1});
            for (auto & v : y) v *= 2;
        }
        CHECK(y[0] == doctest::Approx(k.y[0]).epsilon(1e-12));
        CHECK(y[1] == doctest::Approx(k.y[1]).epsilon(1e-12));
    }
}

// ---------------------------------------------------------------------------------- model families
// Logits of each family with fixed weights against a plain-loop reference written from the
// formulas (Linear y = W x + b, LayerNorm eps 1e-5, exact GELU, softmax attention with 1/sqrt(hs),
// pre-LN blocks, patches row-major with inner order (channel, row, column), CLS first).
double gelu(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
vector<double> linear(const vector<double> & x, int N, int C, const double * W, const double * b, int OC) {
    vector<double> y((size_t)N * OC);
    for (int n = 0; n < N; ++n)
        for (int o = 0; o < OC; ++o) {
            double s = b ? b[o] : 0;
            for (int c = 0; c < C; ++c) s += W[(size_t)o * C + c] * x[(size_t)n * C + c];
            y[(size_t)n * OC + o] = s;
        }
    return y;
}
vector<double> layernorm(const vector<double> & x, int N, int C, const double * w, const double * b) {
    vector<double> y(x.size());
    for (int n = 0; n < N; ++n) {
        double m = 0, v = 0;
        for (int c = 0; c < C; ++c) m += x[(size_t)n * C + c];
        m /= C;
        for (int c = 0; c < C; ++c) v += (x[(size_t)n * C + c] - m) * (x[(size_t)n * C + c] - m);
        v /= C;
        for (int c = 0; c < C; ++c)
            y[(size_t)n * C + c] = (x[(size_t)n * C + c] - m) / std::sqrt(v + 1e-5) * w[c] + b[c];
    }
    return y;
}

struct ModelKat {
    models::ModelConfig cfg;
    models::InputShape in;
};

const std::map<std::string, ModelKat> & model_kats() {
    static const std::map<std::string, ModelKat> kats = [] {
        std::map<std::string, ModelKat> m;
        ModelKat mlp;
        mlp.cfg.kind = "mlp";
        mlp.cfg.mlp.hidden = {3, 2};
        mlp.in = {4, 0, 0, 0};
        m["mlp"] = mlp;
        ModelKat vit;
        vit.cfg.kind = "vit";
        vit.cfg.vit = {2, 4, 2, 2, 6}; // patch 2, width 4, depth 2, heads 2, mlp 6
        vit.in = {16, 1, 4, 4};
        m["vit"] = vit;
        return m;
    }();
    return kats;
}

// the reference logits (B = 2 samples, V = 3)
vector<double> reference_logits(const std::string & kind, ParamStore<double> & st, const vector<double> & x, int B,
                                const ModelKat & k) {
    auto W = [&](const std::string & n) { return st.value(st.find(n)); };
    const int V = 3;
    if (kind == "mlp") {
        vector<double> h = x;
        int C = k.in.d;
        for (size_t i = 0; i < k.cfg.mlp.hidden.size(); ++i) {
            const int OC = k.cfg.mlp.hidden[i];
            const std::string n = "layers." + std::to_string(i);
            h = linear(h, B, C, W(n + ".weight"), W(n + ".bias"), OC);
            for (auto & v : h) v = gelu(v);
            C = OC;
        }
        return linear(h, B, C, W("head.weight"), W("head.bias"), V);
    }
    const auto & c = k.cfg.vit;
    const int ps = c.patch, D = c.width, G = k.in.height / ps, P = G * G, Tn = P + 1, NH = c.heads, hs = D / NH;
    vector<double> xs((size_t)B * Tn * D);
    for (int b = 0; b < B; ++b) {
        vector<double> patch((size_t)P * ps * ps);
        for (int gy = 0; gy < G; ++gy)
            for (int gx = 0; gx < G; ++gx)
                for (int py = 0; py < ps; ++py)
                    for (int px = 0; px < ps; ++px)
                        patch[(size_t)(gy * G + gx) * ps * ps + py * ps + px] =
                            x[(size_t)b * 16 + (gy * ps + py) * k.in.width + gx * ps + px];
        const auto emb = linear(patch, P, ps * ps, W("patch_embed.proj.weight"), W("patch_embed.proj.bias"), D);
        for (int t = 0; t < Tn; ++t)
            for (int d = 0; d < D; ++d)
                xs[((size_t)b * Tn + t) * D + d] =
                    (t == 0 ? W("patch_embed.cls")[d] : emb[(size_t)(t - 1) * D + d]) + W("patch_embed.pos")[t * D + d];
    }
    const int N = B * Tn;
    for (int l = 0; l < c.depth; ++l) {
        const std::string n = "blocks." + std::to_string(l);
        const auto l1 = layernorm(xs, N, D, W(n + ".ln1.weight"), W(n + ".ln1.bias"));
        const auto qkv = linear(l1, N, D, W(n + ".attn.qkv.weight"), W(n + ".attn.qkv.bias"), 3 * D);
        vector<double> y((size_t)N * D, 0.0);
        for (int b = 0; b < B; ++b)
            for (int h = 0; h < NH; ++h)
                for (int t = 0; t < Tn; ++t) {
                    vector<double> a(Tn);
                    double mx = -1e300, sum = 0;
                    for (int u = 0; u < Tn; ++u) {
                        double s = 0;
                        for (int i = 0; i < hs; ++i)
                            s += qkv[((size_t)b * Tn + t) * 3 * D + h * hs + i] *
                                 qkv[((size_t)b * Tn + u) * 3 * D + D + h * hs + i];
                        a[u] = s / std::sqrt(double(hs));
                        mx = std::max(mx, a[u]);
                    }
                    for (auto & v : a) {
                        v = std::exp(v - mx);
                        sum += v;
                    }
                    for (int i = 0; i < hs; ++i) {
                        double s = 0;
                        for (int u = 0; u < Tn; ++u)
                            s += a[u] / sum * qkv[((size_t)b * Tn + u) * 3 * D + 2 * D + h * hs + i];
                        y[((size_t)b * Tn + t) * D + h * hs + i] = s;
                    }
                }
        const auto ao = linear(y, N, D, W(n + ".attn.proj.weight"), W(n + ".attn.proj.bias"), D);
        for (size_t i = 0; i < xs.size(); ++i) xs[i] += ao[i];
        const auto l2 = layernorm(xs, N, D, W(n + ".ln2.weight"), W(n + ".ln2.bias"));
        auto hdn = linear(l2, N, D, W(n + ".mlp.fc1.weight"), W(n + ".mlp.fc1.bias"), c.mlp_dim);
        for (auto & v : hdn) v = gelu(v);
        const auto mo = linear(hdn, N, c.mlp_dim, W(n + ".mlp.fc2.weight"), W(n + ".mlp.fc2.bias"), D);
        for (size_t i = 0; i < xs.size(); ++i) xs[i] += mo[i];
    }
    vector<double> cls((size_t)B * D);
    for (int b = 0; b < B; ++b)
        for (int d = 0; d < D; ++d) cls[(size_t)b * D + d] = xs[(size_t)b * Tn * D + d];
    const auto cn = layernorm(cls, B, D, W("norm.weight"), W("norm.bias"));
    return linear(cn, B, D, W("head.weight"), W("head.bias"), V);
}

template <typename M>
std::vector<std::string> keys(const M & m) {
    std::vector<std::string> out;
    for (const auto & [k, v] : m)
        if (out.empty() || out.back() != k) out.push_back(k);
    return out;
}

} // namespace

namespace moe::test {
std::vector<std::string> known_answer_routers() {
    auto k = keys(router_kats());
    k.push_back("task"); // check_task
    return k;
}
std::vector<std::string> known_answer_losses() { return keys(loss_kats()); }
std::vector<std::string> known_answer_experts() { return keys(expert_kats()); }
std::vector<std::string> known_answer_models() {
    auto k = keys(model_kats());
    k.push_back("gpt"); // test_gpt.cpp: the reference page's tiny GPT-2 and LLaMA
    return k;
}
} // namespace moe::test

TEST_CASE("known answers: every router's selection and gates") {
    for (const auto & [name, k] : router_kats()) {
        INFO(name << " at step " << k.step);
        const routing::RouterEntry & e = routing::router_entry(name);
        routing::RouterConfig rc;
        rc.kind = name;
        if (e.example) e.example(rc);
        if (k.config) k.config(rc);
        auto router = routing::make_router<double>(rc);
        const int E = k.E, P = router->columns(E), N = k.N;
        ParamStore<double> st;
        router->declare(st, "s", E);
        st.allocate(1);
        router->bind(st);
        if (!k.bias.empty()) std::copy(k.bias.begin(), k.bias.end(), st.value(st.find("s.router.expert_bias")));
        router->plan(N, E);
        vector<double> p(k.logits.size());
        if (e.traits.sigmoid)
            routing::sigmoid_forward(p.data(), k.logits.data(), (int64_t)p.size());
        else
            nn::softmax_forward(p.data(), k.logits.data(), N, P);
        const int slots = std::max(router->slots(E, P), 4);
        vector<int32_t> idx((size_t)N * slots, -7);
        vector<double> gate((size_t)N * slots, -7);
        vector<int64_t> counts(P, 0);
        routing::RouteContext c;
        c.N = N;
        c.E = E;
        c.P = P;
        c.step = k.step;
        c.train = k.train;
        const int K = !router->has_weights(E) ? routing::route_to_first(idx.data(), gate.data(), N)
                                              : router->route(idx.data(), gate.data(), counts.data(), p.data(), c);
        REQUIRE((size_t)N * K == k.idx.size());
        for (size_t i = 0; i < k.idx.size(); ++i) {
            CHECK(idx[i] == k.idx[i]);
            CHECK(gate[i] == doctest::Approx(k.gate[i]).epsilon(1e-12));
        }
        if (!k.counts.empty()) CHECK(counts == k.counts);
    }
    check_task();
}

TEST_CASE("known answers: every loss's value") {
    for (const auto & [name, k] : loss_kats()) {
        INFO(name);
        CHECK(loss_value(k) == doctest::Approx(k.value).epsilon(6e-7));
    }
}

TEST_CASE("known answers: every expert kind's output") {
    for (const auto & [name, k] : expert_kats()) check_expert(name, k);
}

TEST_CASE("known answers: every model family's logits against a plain-loop reference") {
    for (const auto & [name, k] : model_kats()) {
        INFO(name);
        ParamStore<double> st;
        auto m = models::make_model<double>(k.cfg, k.in, 3, st, [](const std::string &) { return true; });
        st.allocate(23);
        m->bind(st);
        for (int id = 0; id < st.size(); ++id) { // every tensor non-trivial (LayerNorm weights too)
            double * v = st.value(id);
            for (size_t i = 0; i < st.info(id).size; ++i) v[i] = 0.6 * std::sin(0.37 * double(i) + 1.3 * id);
        }
        const int B = 2;
        m->plan(B);
        vector<double> x((size_t)B * k.in.d);
        for (size_t i = 0; i < x.size(); ++i) x[i] = std::cos(0.9 * double(i));
        const double * z = m->forward_features(x.data(), B, false);
        const auto ref = reference_logits(name, st, x, B, k);
        for (int i = 0; i < B * 3; ++i) CHECK(z[i] == doctest::Approx(ref[i]).epsilon(1e-10));
    }
}
