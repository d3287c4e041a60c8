// Spec parsing/validation/overrides and the optimizers, schedules and clipping.
#include <doctest/doctest.h>

#include <cmath>

#include "moe/core/error.hpp"
#include "moe/core/glob.hpp"
#include "moe/core/rng.hpp"
#include "moe/optim/optim.hpp"
#include "moe/spec/spec.hpp"

using namespace moe;
using nlohmann::json;

static json minimal() { return json::parse(R"({"data": {"source": "synthetic"}, "model": {"kind": "mlp"}})"); }

TEST_CASE("spec: defaults are filled and round-trip through to_json") {
    spec::Spec s = spec::parse_spec(minimal(), "t.json");
    CHECK(s.train.lr == doctest::Approx(1e-3));
    CHECK(s.train.optimizer == "adamw");
    CHECK(s.model.mlp.hidden == std::vector<int>{256, 128});
    json j = spec::to_json(s);
    spec::Spec again = spec::parse_spec(j, "round-trip");
    CHECK(spec::to_json(again) == j);
    CHECK(j["routing"]["router"] == "topk");
}

TEST_CASE("spec: every problem is reported at once with its JSON path") {
    json j = minimal();
    j["train"] = {{"lr", "fast"}, {"epochs", -1}, {"optimiser", "sgd"}};
    j["data"]["tasks"] = json::array({json{{"transforms", json::array({json{{"kind", "twist"}}})}}});
    try {
        spec::parse_spec(j, "t.json");
        FAIL("no error");
    } catch (const SpecError & e) {
        std::string m = e.what();
        CHECK(e.problems().size() == 4);
        CHECK(m.find("train.lr: expected a number, got a string") != std::string::npos);
        CHECK(m.find("train.epochs: value -1 out of range") != std::string::npos);
        CHECK(m.find("train.optimiser: unknown key (did you mean 'optimizer'?)") != std::string::npos);
        CHECK(m.find("data.tasks[0].transforms[0].kind: 'twist' is not one of") != std::string::npos);
        CHECK(e.code() == ErrorCode::spec);
    }
}

TEST_CASE("spec: overrides parse JSON values, create keys and index arrays") {
    json j = minimal();
    j["data"]["tasks"] = json::array({json::object(), json::object()});
    spec::apply_override(j, "train.lr=0.05");
    spec::apply_override(j, "model.mlp.hidden=[3,4]");
    spec::apply_override(j, "exp.name=hello world");
    spec::apply_override(j, "data.tasks[1].weight=0.5");
    spec::apply_override(j, "data.tasks.0.name=a");
    spec::Spec s = spec::parse_spec(j, "t");
    CHECK(s.train.lr == doctest::Approx(0.05));
    CHECK(s.model.mlp.hidden == std::vector<int>{3, 4});
    CHECK(s.exp.name == "hello world");
    CHECK(s.data.tasks[1].weight == doctest::Approx(0.5));
    CHECK(s.data.tasks[0].name == "a");
    CHECK_THROWS_AS(spec::apply_override(j, "data.tasks.5.weight=1"), SpecError);
    CHECK_THROWS_AS(spec::apply_override(j, "novalue"), SpecError);
    // an empty part of the key, or an index into an array the spec does not have, is an error
    // (not a key "" or an object {"0": ...} that a later check would blame on the spec file)
    CHECK_THROWS_AS(spec::apply_override(j, "train..lr=1"), SpecError);
    CHECK_THROWS_AS(spec::apply_override(j, "train.=1"), SpecError);
    CHECK_THROWS_AS(spec::apply_override(j, "data.tasks[]=1"), SpecError);
    CHECK_THROWS_AS(spec::apply_override(j, "stream.nothing.0.x=1"), SpecError);
    json arr = json::array();
    CHECK_THROWS_AS(spec::apply_override(arr, "exp.name=x"), SpecError); // the spec must be an object
}

TEST_CASE("spec: contradictory adapter settings") {
    json j = minimal();
    j["adapters"] = {{"sites", {"layers.*"}}, {"experts", 4}};
    j["routing"] = {{"router", "topk"}, {"k", 5}};
    j["train"] = {{"batch_size", 10}, {"grad_accum", 3}};
    try {
        spec::parse_spec(j, "t");
        FAIL("no error");
    } catch (const SpecError & e) {
        std::string m = e.what();
        CHECK(m.find("routing.k: k = 5 exceeds the 4 experts") != std::string::npos);
        CHECK(m.find("train.grad_accum") != std::string::npos);
    }
}

TEST_CASE("spec reference lists every key with a default and a meaning") {
    auto rows = spec::spec_reference();
    CHECK(rows.size() > 80);
    bool lr = false, router = false;
    for (auto & r : rows) {
        CHECK(!r.doc.empty());
        lr |= r.path == "train.lr" && r.default_value == "0.001";
        router |= r.path == "routing.router" && r.default_value == "\"topk\"";
    }
    CHECK(lr);
    CHECK(router);
}

TEST_CASE("glob patterns") {
    CHECK(glob_match("blocks.*.mlp.fc1", "blocks.3.mlp.fc1"));
    CHECK_FALSE(glob_match("blocks.*.mlp.fc1", "blocks.3.mlp.fc2"));
    CHECK(glob_match("*", "anything.at.all"));
    CHECK(glob_match("layers.?", "layers.7"));
    CHECK_FALSE(glob_match("layers.?", "layers.17"));
}

TEST_CASE("rng: deterministic per (seed, name), different across names") {
    Rng a(7, "x.weight"), b(7, "x.weight"), c(7, "y.weight");
    CHECK(a.next_u64() == b.next_u64());
    CHECK(a.next_u64() != c.next_u64());
    Rng r(1);
    double m = 0, v = 0;
    for (int i = 0; i < 20000; ++i) {
        double x = r.normal();
        m += x;
        v += x * x;
    }
    CHECK(std::fabs(m / 20000) < 0.03);
    CHECK(std::fabs(v / 20000 - 1) < 0.05);
}

TEST_CASE("AdamW and SGD match hand-computed PyTorch updates") {
    ParamStore<double> st;
    int id = st.declare("w", {2}, true, Init::Constant(1.0));
    st.allocate(0);
    optim::OptimConfig oc;
    oc.kind = "adamw";
    oc.lr = 0.1;
    oc.weight_decay = 0.5;
    optim::Optimizer<double> opt(oc, st, {});
    st.grad(id)[0] = 2.0;
    st.grad(id)[1] = -1.0;
    opt.step(1.0);
    // step 1: p *= 1 - lr*wd = 0.95; m_hat = g, v_hat = g^2 -> p -= lr * g/(|g|+eps)
    CHECK(st.value(id)[0] == doctest::Approx(0.95 - 0.1).epsilon(1e-9));
    CHECK(st.value(id)[1] == doctest::Approx(0.95 + 0.1).epsilon(1e-9));

    ParamStore<double> s2;
    int j = s2.declare("w", {1}, true, Init::Constant(1.0));
    s2.allocate(0);
    optim::OptimConfig sc;
    sc.kind = "sgd";
    sc.lr = 0.1;
    sc.momentum = 0.9;
    sc.weight_decay = 0.0;
    optim::Optimizer<double> sgd(sc, s2, {});
    s2.grad(j)[0] = 1.0;
    sgd.step(1.0); // buf = 1, p = 0.9
    sgd.step(1.0); // buf = 0.9 + 1 = 1.9, p = 0.9 - 0.19 = 0.71
    CHECK(s2.value(j)[0] == doctest::Approx(0.71));
}

TEST_CASE("parameter groups: first matching pattern sets the learning rate") {
    ParamStore<double> st;
    int a = st.declare("site.router.weight", {1}, true, Init::Constant(1.0));
    int b = st.declare("site.experts.lora_a", {1}, true, Init::Constant(1.0));
    st.allocate(0);
    optim::OptimConfig sc;
    sc.kind = "sgd";
    sc.lr = 0.1;
    sc.momentum = 0;
    optim::Optimizer<double> sgd(sc, st, {{"*.router.*", 1.0, 1.0, -1}});
    st.grad(a)[0] = 1;
    st.grad(b)[0] = 1;
    sgd.step(0.5);
    CHECK(st.value(a)[0] == doctest::Approx(0.5));  // 1 - 1.0 * 0.5
    CHECK(st.value(b)[0] == doctest::Approx(0.95)); // 1 - 0.1 * 0.5
}

TEST_CASE("schedules and clipping") {
    optim::ScheduleConfig c{"cosine", 10, 0.1, 1000, 0.1};
    CHECK(optim::schedule_factor(c, 0, 110) == doctest::Approx(0.1)); // warmup (step+1)/10
    CHECK(optim::schedule_factor(c, 9, 110) == doctest::Approx(1.0));
    CHECK(optim::schedule_factor(c, 10, 110) == doctest::Approx(1.0));
    CHECK(optim::schedule_factor(c, 60, 110) == doctest::Approx(0.55)); // half way: 0.1 + 0.9*0.5
    CHECK(optim::schedule_factor(c, 110, 110) == doctest::Approx(0.1));
    optim::ScheduleConfig st{"step", 0, 0, 100, 0.5};
    CHECK(optim::schedule_factor(st, 250, 1000) == doctest::Approx(0.25));
    std::vector<float> g = {3, 4};
    double n = optim::clip_grad_norm(std::span<float>(g), 1.0);
    CHECK(n == doctest::Approx(5.0));
    CHECK(std::hypot(g[0], g[1]) == doctest::Approx(1.0).epsilon(1e-5));
}
