// The spec against hostile input: nesting depth, duplicate keys at any depth.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "moe/core/error.hpp"
#include "moe/spec/spec.hpp"
#include "unit/temp_dir.hpp"

using namespace moe;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

void write(const std::string & path, const std::string & text) { std::ofstream(path, std::ios::binary) << text; }

// The message of the SpecError that f throws ("" when it throws none).
template <typename F>
std::string spec_error(F && f) {
    try {
        f();
    } catch (const SpecError & e) {
        CHECK(e.code() == ErrorCode::spec);
        return e.what();
    }
    return "";
}

bool has(const std::string & text, const std::string & part) { return text.find(part) != std::string::npos; }

// A valid spec without files: synthetic data, a small MLP, LoRA experts at every hidden layer.
json adapted() {
    return json::parse(R"({"data": {"source": "synthetic"}, "model": {"kind": "mlp", "mlp": {"hidden": [4]}},
                           "adapters": {"sites": ["layers.*"], "experts": 4, "rank": 2}})");
}

std::string repeat(const std::string & s, size_t n) {
    std::string out;
    out.reserve(s.size() * n);
    for (size_t i = 0; i < n; ++i) out += s;
    return out;
}

} // namespace

TEST_CASE("spec nesting is bounded: an error naming the line, column and limit, in linear time") {
    test::TempDir td("spec_depth");
    const std::string p = td.file("deep.json");
    SUBCASE("200 KB of nested arrays") {
        const size_t n = 100000; // 200 KB: '[' * n + ']' * n under one key
        write(p, "{\"a\": " + repeat("[", n) + repeat("]", n) + "}");
        const std::string m = spec_error([&] { spec::load_spec(p, {}); });
        // level 1 is the root object, the arrays start at column 7: the 64th is level 65
        CHECK(has(m, "deep.json: 1 problem"));
        CHECK(has(m, "nested deeper than 64 levels at line 1, column 70"));
    }
    SUBCASE("nested objects, one a line") {
        write(p, repeat("{\"a\":\n", 5000) + "1" + repeat("}", 5000));
        const std::string m = spec_error([&] { spec::load_spec(p, {}); });
        CHECK(has(m, "nested deeper than 64 levels at line 65, column 1"));
    }
    SUBCASE("64 levels are allowed (the spec is then wrong for other reasons); brackets in strings do not count") {
        write(p,
              "{\"a\": " + repeat("[", 63) + repeat("]", 63) + ", \"exp\": {\"name\": \"" + repeat("[{", 200) + "\"}}");
        const std::string m = spec_error([&] { spec::load_spec(p, {}); });
        CHECK(has(m, "a: unknown key"));
        CHECK_FALSE(has(m, "nested deeper"));
        write(p, "{\"a\": " + repeat("[", 64) + repeat("]", 64) + "}");
        CHECK(has(spec_error([&] { spec::load_spec(p, {}); }), "nested deeper than 64 levels at line 1, column 70"));
    }
    SUBCASE("a syntax error before the depth is reached is reported as such") {
        write(p, "{\"a\": 1,, \"b\": " + repeat("[", 100) + "}");
        CHECK(has(spec_error([&] { spec::load_spec(p, {}); }), "invalid JSON at line 1, column 9"));
    }
    SUBCASE("--set: a deep value or a key of too many parts") {
        json j = adapted();
        CHECK(has(spec_error([&] { spec::apply_override(j, "train.freeze=" + repeat("[", 70) + repeat("]", 70)); }),
                  "train.freeze: the value nests arrays and objects deeper than a spec may (64 levels"));
        CHECK(has(spec_error([&] { spec::apply_override(j, repeat("a.", 80) + "b=1"); }), "a key of 81 parts"));
        spec::apply_override(j, "train.freeze=[\"head.*\"]"); // shallow values still pass
        CHECK(j["train"]["freeze"][0] == "head.*");
    }
}

TEST_CASE("duplicate keys are reported with their paths at any depth") {
    test::TempDir td("spec_dups");
    const std::string p = td.file("dup.json");
    write(p, R"({"train": {"lr": 1, "lr": 2}, "data": {"tasks": [{}, {"transforms": [{"kind": "invert"},
              {"kind": "invert", "kind": "hflip"}]}]}, "exp": {}, "exp": {}})");
    const std::string m = spec_error([&] { spec::load_spec(p, {}); });
    CHECK(has(m, "3 problems"));
    CHECK(has(m, "train.lr: duplicate key"));
    CHECK(has(m, "data.tasks[1].transforms[1].kind: duplicate key"));
    CHECK(has(m, "exp: duplicate key"));
}

