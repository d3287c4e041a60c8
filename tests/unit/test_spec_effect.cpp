// Settings without effect (moe/spec/effect.hpp), parameter patterns that match nothing
// (moe/train/param_patterns.hpp), relative paths made absolute (moe/spec/paths.hpp) and the
// "did you mean" ranking they share (moe/core/closest.hpp).
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "moe/core/closest.hpp"
#include "moe/spec/effect.hpp"
#include "moe/spec/paths.hpp"
#include "moe/spec/spec.hpp"
#include "moe/train/param_patterns.hpp"

using namespace moe;
using nlohmann::json;

namespace {

json adapted(const std::string & routing, const std::string & loss = "{}") {
    return json::parse(R"({"data": {"source": "synthetic"}, "model": {"kind": "mlp", "mlp": {"hidden": [4]}},
                           "adapters": {"sites": ["layers.*"], "experts": 4, "rank": 2}, "routing": )" +
                       routing + R"(, "loss": )" + loss + "}");
}

struct Found {
    std::vector<SpecProblem> errs, warns;
};

Found effect(const json & j, bool from_set = false) {
    Found f;
    spec::check_effect(spec::parse_spec(j, "t"), j, from_set, f.errs, f.warns);
    return f;
}

} // namespace

TEST_CASE("closest: ranked by edit distance, duplicates dropped") {
    CHECK(edit_distance("kitten", "sitting") == 3);
    CHECK(closest("haed.*", {"layers.*", "head.*", "head.*", "heads.*"}, 2) == std::vector<std::string>{"head.*", "heads.*"});
}

TEST_CASE("effect: another router's key is an error off its default, a warning at it") {
    auto f = effect(adapted(R"({"router": "switch", "k": 1})"));
    REQUIRE(f.errs.size() == 1);
    CHECK(f.errs[0].path == "routing.k");
    CHECK(f.errs[0].message.find("drop routing.k") != std::string::npos);
    f = effect(adapted(R"({"router": "switch", "k": 2})"));
    CHECK(f.errs.empty());
    REQUIRE(f.warns.size() == 1);
    CHECK(f.warns[0].path == "routing.k");
    f = effect(adapted(R"({"router": "switch", "k": 1})"), true);
    CHECK(f.errs.at(0).message.find("--set routing.k=2") != std::string::npos);
    CHECK(effect(adapted(R"({"router": "topk", "k": 1})")).errs.empty()); // topk reads k
}

TEST_CASE("effect: losses the router does not bring, lbl_coef without lbl, keep_top_k beyond E") {
    CHECK(effect(adapted(R"({"router": "topk"})", R"({"null_coef": 0.1})")).errs.at(0).path == "loss.null_coef");
    CHECK(effect(adapted(R"({"router": "null_experts", "null_experts": 1})", R"({"null_coef": 0.1})")).errs.empty());
    CHECK(effect(adapted(R"({"router": "topk"})", R"({"lbl_coef": 0.1})")).errs.at(0).path == "loss.lbl_coef");
    CHECK(effect(adapted(R"({"router": "topk"})", R"({"lbl": "mixtral", "lbl_coef": 0.1})")).errs.empty());
    CHECK(effect(adapted(R"({"router": "dynmole", "keep_top_k": 5})")).errs.at(0).path == "routing.keep_top_k");
    CHECK(effect(adapted(R"({"router": "dynmole", "keep_top_k": 3})")).errs.empty());
    // without adapters the routing sections are not read: nothing to report
    json base = adapted(R"({"router": "switch", "k": 1})");
    base["adapters"]["sites"] = json::array();
    CHECK(effect(base).errs.empty());
}

TEST_CASE("param patterns: a glob matching no parameter names its key and a close name") {
    spec::Spec s;
    s.train.freeze = {"layers.0.*", "layer.1.*"};
    s.train.groups = {{"*.ruoter.*"}};
    const auto p = train::unmatched_param_patterns(s, {"layers.0.weight", "layers.1.weight", "layers.0.router.weight"});
    REQUIRE(p.size() == 2);
    CHECK(p[0].path == "train.freeze[1]");
    CHECK(p[0].message.find("did you mean 'layers.1.*'") != std::string::npos);
    CHECK(p[1].path == "train.groups[0].pattern");
    CHECK(p[1].message.find("'*.router.*'") != std::string::npos);
}

TEST_CASE("paths: relative paths made absolute, empty ones kept, old relative ones found") {
    spec::Spec s;
    s.base = "runs/base.h5";
    s.data.train_path = "/abs/train.csv";
    const auto a = spec::absolute_paths(s);
    CHECK(a.base == (std::filesystem::current_path() / "runs/base.h5").string());
    CHECK(a.data.train_path == "/abs/train.csv");
    CHECK(a.data.dir.empty());
    const json j = spec::to_json(s);
    CHECK(spec::relative_paths(j) == std::vector<std::string>{"base"});
    CHECK(spec::relative_paths(spec::absolute_paths(j)).empty());
    CHECK(spec::relative_paths_hint(j).at(0).find("relative to the directory the run was trained in") !=
          std::string::npos);
}
