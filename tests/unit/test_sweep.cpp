// Sweep files (moe/spec/sweep.hpp): expansion order, run names, duplicates refused, bad keys
// named with their JSON path, and every run's overrides checked against its spec.
#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <vector>

#include "moe/core/error.hpp"
#include "moe/spec/sweep.hpp"
#include "unit/temp_dir.hpp"

using namespace moe;

namespace {

// The problems of a sweep that does not parse, as "path: message" lines.
std::string problems(const std::string & text) {
    try {
        (void)spec::parse_sweep(text, "s.json");
    } catch (const SpecError & e) {
        std::string out;
        for (const auto & p : e.problems()) out += p.path + ": " + p.message + "\n";
        return out;
    }
    return "";
}

std::vector<std::string> names(const spec::Sweep & s) {
    std::vector<std::string> out;
    for (const auto & r : s.runs) out.push_back(r.name);
    return out;
}

} // namespace

TEST_CASE("sweep: grid x seeds expands in file order, first key slowest, seeds innermost") {
    const auto s = spec::parse_sweep(R"({"spec": "a.json", "out_dir": "runs/x",
        "grid": {"train.lr": [0.01, 0.001], "routing.router": ["topk", "soft"]}, "seeds": [1, 2]})",
                                     "dir/my_sweep.json");
    CHECK(s.name == "my_sweep");
    REQUIRE(s.runs.size() == 8);
    CHECK(names(s) == std::vector<std::string>{"lr0.01_routertopk_s1", "lr0.01_routertopk_s2", "lr0.01_routersoft_s1",
                                               "lr0.01_routersoft_s2", "lr0.001_routertopk_s1", "lr0.001_routertopk_s2",
                                               "lr0.001_routersoft_s1", "lr0.001_routersoft_s2"});
    CHECK(s.runs[2].overrides == std::vector<std::string>{"train.lr=0.01", "routing.router=\"soft\"", "exp.seed=1",
                                                          "exp.name=\"lr0.01_routersoft_s1\""});
    CHECK(s.runs[2].out == "runs/x/lr0.01_routersoft_s1.h5");
    CHECK(s.runs[2].spec == "a.json");
    // the same text gives the same list (deterministic)
    const auto again = spec::parse_sweep(R"({"spec": "a.json", "out_dir": "runs/x",
        "grid": {"train.lr": [0.01, 0.001], "routing.router": ["topk", "soft"]}, "seeds": [1, 2]})",
                                         "dir/my_sweep.json");
    CHECK(names(again) == names(s));
}

TEST_CASE("sweep: explicit runs with their own specs, common set, naming rule, --out-dir") {
    const auto s = spec::parse_sweep(R"({"name": "mole", "out_dir": "runs/mole", "set": {"train.epochs": 1},
        "runs": [{"name": "topk", "spec": "topk.json"}, {"name": "r16", "spec": "none.json", "set": {"adapters.rank": 16}}],
        "seeds": [3], "run_name": "{name}-{train.epochs}-s{seed}"})",
                                     "m.json", "/tmp/elsewhere");
    CHECK(names(s) == std::vector<std::string>{"topk-1-s3", "r16-1-s3"});
    CHECK(s.runs[1].spec == "none.json");
    CHECK(s.runs[1].overrides ==
          std::vector<std::string>{"train.epochs=1", "adapters.rank=16", "exp.seed=3", "exp.name=\"r16-1-s3\""});
    CHECK(s.runs[0].out == "/tmp/elsewhere/topk-1-s3.h5");
    // an exp.name given by the sweep is kept; a lone run is named after the sweep
    const auto one = spec::parse_sweep(R"({"spec": "a.json", "out_dir": "o", "set": {"exp.name": "x"}})", "solo.json");
    CHECK(names(one) == std::vector<std::string>{"solo"});
    CHECK(one.runs[0].overrides == std::vector<std::string>{"exp.name=\"x\""});
    // unsafe characters in a value become '_'
    const auto odd = spec::parse_sweep(R"({"spec": "a.json", "out_dir": "o", "grid": {"data.dir": ["a/b c"]}})", "s.json");
    CHECK(names(odd) == std::vector<std::string>{"dira_b_c"});
}

TEST_CASE("sweep: duplicates are refused") {
    // the same override set twice
    CHECK(problems(R"({"spec": "a.json", "out_dir": "o", "grid": {"train.lr": [0.1, 0.1]}})")
              .find("a duplicate run") != std::string::npos);
    // two runs that the naming rule cannot tell apart
    const auto p = problems(R"({"spec": "a.json", "out_dir": "o", "grid": {"train.lr": [0.1, 0.2]}, "run_name": "x"})");
    CHECK(p.find("run x: the run name 'x' is also the name of run x") != std::string::npos);
    // a duplicate key in the file, with its path
    CHECK(problems(R"({"spec": "a.json", "out_dir": "o", "grid": {"train.lr": [1], "train.lr": [2]}})")
              .find("grid.train.lr: duplicate key") != std::string::npos);
    // one key in two places
    CHECK(problems(R"({"spec": "a.json", "out_dir": "o", "set": {"train.lr": 1}, "grid": {"train.lr": [2]}})")
              .find("grid.train.lr: 'train.lr' is also in set") != std::string::npos);
    CHECK(problems(R"({"spec": "a.json", "out_dir": "o", "set": {"exp.seed": 1}, "seeds": [2]})")
              .find("set.exp.seed: exp.seed is swept by seeds") != std::string::npos);
}

TEST_CASE("sweep: bad keys and values are named with their JSON path, all at once") {
    const auto p = problems(R"({"spec": 3, "out_dir": "", "gird": {}, "grid": {"train.lr": []},
        "seeds": [1, -2], "runs": [{"name": "a", "sett": {}}, 5], "program": "moe-eval", "run_name": "{nope}"})");
    CHECK(p.find("gird: unknown key") != std::string::npos);
    CHECK(p.find("spec: must be a string") != std::string::npos);
    CHECK(p.find("out_dir: required") != std::string::npos);
    CHECK(p.find("grid.train.lr: must be a non-empty list") != std::string::npos);
    CHECK(p.find("seeds[1]: must be a non-negative integer") != std::string::npos);
    CHECK(p.find("runs[0].sett: unknown key") != std::string::npos);
    CHECK(p.find("runs[0].spec: no spec") != std::string::npos);
    CHECK(p.find("runs[1]: must be an object") != std::string::npos);
    CHECK(p.find("program: 'moe-eval' is not one of") != std::string::npos);
    CHECK(problems(R"({"spec": "a.json", "out_dir": "o", "run_name": "{nope}"})").find("run_name: '{nope}' names nothing") !=
          std::string::npos);
    CHECK(problems("[1]").find("one JSON object") != std::string::npos);
    CHECK(problems("{").find("not valid JSON") != std::string::npos);
}

TEST_CASE("sweep: check_sweep validates every run's --set keys against its spec before anything runs") {
    test::TempDir dir("sweep");
    const std::string spec = (dir.path / "tiny.json").string();
    std::ofstream(spec) << R"({"model": {"kind": "mlp"}, "train": {"epochs": 1}})";
    const std::string good = R"({"spec": ")" + spec + R"(", "out_dir": "o", "grid": {"train.lr": [0.1, 0.01]}})";
    CHECK_NOTHROW(spec::check_sweep(spec::parse_sweep(good, "good.json")));
    const std::string bad = R"({"spec": ")" + spec + R"(", "out_dir": "o", "grid": {"train.lrr": [0.1], "train.epochs": [1, "x"]}})";
    const auto sw = spec::parse_sweep(bad, "bad.json");
    try {
        spec::check_sweep(sw);
        FAIL("a bad key passed");
    } catch (const SpecError & e) {
        std::string all;
        for (const auto & p : e.problems()) all += p.path + ": " + p.message + "\n";
        CHECK(e.source() == "bad.json");
        CHECK(all.find("run lrr0.1_epochs1: train.lrr") != std::string::npos);
        CHECK(all.find("run lrr0.1_epochsx: train.epochs") != std::string::npos);
    }
    // a missing spec file is named too
    const auto missing = spec::parse_sweep(R"({"spec": "/nonexistent/x.json", "out_dir": "o"})", "m.json");
    CHECK_THROWS_AS(spec::check_sweep(missing), SpecError);
}
