// The completeness test: every registered part (router, expert kind, loss, model family) has a
// gradient check, a known-answer test, a shipped spec that uses it and its documentation page.
// The registries are the tables of lib/src/{routing,adapters,models}/registry.cpp and
// lib/src/routing/loss_registry.cpp; what covers them is listed in coverage.hpp. A part added
// to a table without the rest fails here, naming what it lacks (shown below with a part that
// exists in no test, spec or page).
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "coverage.hpp"
#include "moe/train/parts.hpp"

namespace fs = std::filesystem;
using std::string;
using std::vector;

namespace {

const fs::path kSrc = fs::path(MOE_TEST_DATA_DIR).parent_path().parent_path(); // the repository

bool has(const vector<string> & v, const string & x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// Every shipped spec (experiments/**/*.json), parsed.
const vector<std::pair<string, nlohmann::json>> & shipped_specs() {
    static const auto specs = [] {
        vector<std::pair<string, nlohmann::json>> out;
        for (const auto & e : fs::recursive_directory_iterator(kSrc / "experiments")) {
            if (e.path().extension() != ".json") continue;
            std::ifstream in(e.path());
            out.push_back({fs::relative(e.path(), kSrc).string(), nlohmann::json::parse(in)});
        }
        return out;
    }();
    return specs;
}

string get(const nlohmann::json & j, const string & a, const string & b) {
    if (!j.contains(a) || !j[a].is_object() || !j[a].contains(b)) return "";
    const auto & v = j[a][b];
    return v.is_string() ? v.get<string>() : v.dump();
}

// Does some shipped spec use this part?
bool shipped(const string & kind, const string & name) {
    for (const auto & [path, j] : shipped_specs()) {
        if (kind == "routers" && get(j, "routing", "router") == name && path == "experiments/mole/" + name + ".json")
            return true;
        if (kind == "experts" && (get(j, "adapters", "kind") == name || get(j, "expand", "adapter") == name))
            return true;
        if (kind == "models" && get(j, "model", "kind") == name) return true;
        if (kind == "losses") {
            const bool z = j.contains("loss") && j["loss"].value("z_coef", 0.0) > 0;
            if (name == "lbl" && !get(j, "loss", "lbl").empty() && get(j, "loss", "lbl") != "none") return true;
            if (name == "z_loss" && z) return true;
            if (name == "dynmole_loss" && get(j, "routing", "router") == "dynmole") return true;
            if (name == "null_loss" && get(j, "routing", "router") == "null_experts" &&
                j["loss"].value("null_coef", 0.0) > 0)
                return true;
        }
    }
    return false;
}

// The docs page of a part: docs/methods/<name>.md (model families: a section of docs/models.md).
bool documented(const string & kind, const string & name) {
    if (kind != "models") return fs::exists(kSrc / "docs" / "methods" / (name + ".md"));
    std::ifstream in(kSrc / "docs" / "models.md");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str().find("## `" + name + "`") != string::npos;
}

struct Coverage {
    vector<string> known, grad;
};

Coverage coverage(const string & kind) {
    if (kind == "routers") return {moe::test::known_answer_routers(), moe::test::gradchecked_routers()};
    if (kind == "experts") return {moe::test::known_answer_experts(), moe::test::gradchecked_experts()};
    if (kind == "losses") return {moe::test::known_answer_losses(), moe::test::gradchecked_losses()};
    return {moe::test::known_answer_models(), moe::test::gradchecked_models()};
}

// What each part of `names` (of kind `kind`) lacks, one line per lack.
vector<string> missing(const string & kind, const vector<string> & names) {
    const Coverage cov = coverage(kind);
    vector<string> out;
    for (const auto & n : names) {
        if (!has(cov.grad, n)) out.push_back(kind + " " + n + ": no gradient check");
        if (!has(cov.known, n)) out.push_back(kind + " " + n + ": no known-answer test");
        if (!shipped(kind, n))
            out.push_back(kind + " " + n + ": no shipped spec uses it" +
                          (kind == "routers" ? " (experiments/mole/" + n + ".json)" : ""));
        if (!documented(kind, n))
            out.push_back(kind + " " + n + ": no documentation (" +
                          (kind == "models" ? string("a section of docs/models.md") : "docs/methods/" + n + ".md") +
                          ")");
    }
    return out;
}

} // namespace

TEST_CASE("completeness: every registered part has its gradient check, known answers, shipped spec and docs") {
    for (const auto & kind : moe::train::part_kinds()) {
        INFO(kind);
        const auto names = moe::train::part_names(kind);
        CHECK(!names.empty());
        for (const auto & m : missing(kind, names)) FAIL_CHECK(m);
    }
}

TEST_CASE("completeness: a part that is only in the table is reported for every element it lacks") {
    for (const auto & kind : moe::train::part_kinds()) {
        const auto m = missing(kind, {"ghost"});
        CHECK(m.size() == 4);
        for (const char * what : {"no gradient check", "no known-answer test", "no shipped spec", "no documentation"})
            CHECK(std::any_of(m.begin(), m.end(), [&](const string & s) { return s.find(what) != string::npos; }));
    }
}
