// fuzz_spec — libFuzzer target for the spec parser and validator (moe/spec/spec.hpp).
//
// Input: JSON text, optionally followed by override lines, each introduced by "\n#set ":
//
//   { "train": { "lr": 0.1 } }
//   #set train.epochs=3
//
// Each input is parsed (nlohmann, no exceptions), then
//   1. parse_spec(j) — it may only throw moe::Error (SpecError);
//   2. on success: to_json(spec) is dumped to text, parsed and parsed as a spec again, and must
//      give the same JSON (the resolved spec stored in every run file must read back as itself);
//   3. every "#set" line and one override derived from the input (a key of spec_reference(), a
//      value from a table of awkward literals) go through apply_override(copy of j), then 1.-2.
// A json exception escaping the library counts as a finding: the apps report it as
// "internal error" (exit 1) instead of a spec error (exit 2). Anything else is one too:
// a crash, a sanitizer report, any other exception, a round trip that changes the spec.
//
// Validation looks at the file system (data directories, base run files); that is fine here.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_common.hpp"
#include "moe/core/error.hpp"
#include "moe/spec/spec.hpp"

using nlohmann::json;

const char * const fuzz::kTarget = "fuzz_spec";
using fuzz::finding;
using fuzz::guarded;

namespace {

// parse_spec, and on success the to_json -> text -> parse_spec round trip.
void check_spec(const json & j) {
    moe::spec::Spec s;
    if (!guarded("parse_spec", [&] { s = moe::spec::parse_spec(j, "fuzz"); })) return;
    json out, again;
    std::string text;
    if (!guarded("to_json/dump", [&] {
            out = moe::spec::to_json(s);
            text = out.dump(2);
        }))
        return;
    again = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (again.is_discarded()) finding("round trip", "to_json(spec).dump() is not valid JSON:\n" + text);
    moe::spec::Spec s2;
    bool ok = true;
    try {
        s2 = moe::spec::parse_spec(again, "fuzz-roundtrip");
    } catch (const moe::Error & e) {
        ok = false;
        finding("round trip", std::string("the resolved spec does not parse again: ") + e.what() + "\n" + text);
    }
    if (ok && moe::spec::to_json(s2) != out)
        finding("round trip",
                "to_json(parse_spec(to_json(s))) != to_json(s):\n" + text + "\n---\n" + moe::spec::to_json(s2).dump(2));
}

void check_override(const json & j, const std::string & assignment) {
    json copy = j;
    if (!guarded("apply_override", [&] { moe::spec::apply_override(copy, assignment); })) return;
    check_spec(copy);
}

const std::vector<std::string> & reference_keys() {
    static const std::vector<std::string> keys = [] {
        std::vector<std::string> k;
        for (const auto & row : moe::spec::spec_reference()) {
            std::string p = row.path;
            for (size_t at; (at = p.find("[]")) != std::string::npos;) p.replace(at, 2, "[0]");
            k.push_back(p);
        }
        return k;
    }();
    return keys;
}

// Values that sit on the edges of the checks and conversions.
constexpr const char * kValues[] = {
    "0",
    "1",
    "-1",
    "2",
    "0.5",
    "-0.0",
    "1e-320",
    "1e308",
    "-1e308",
    "1e999",
    "-1e999",
    "nan",
    "2147483647",
    "2147483648",
    "-2147483649",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "1e19",
    "-1e19",
    "true",
    "null",
    "[]",
    "{}",
    "[1,2]",
    "[-1]",
    "[\"a\"]",
    "{\"a\":1}",
    "\"\"",
    "\"x\"",
    "",
    "topk",
    "cosine",
    "\xff\xfe",
    "a\"b",
    "[1e300]",
    "[2147483648]",
    "{\"kind\":\"rotate90\"}",
};

uint64_t fnv1a(const uint8_t * d, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; ++i) h = (h ^ d[i]) * 1099511628211ull;
    return h;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    const std::string_view in(reinterpret_cast<const char *>(data), size);
    static constexpr std::string_view kSep = "\n#set ";
    const size_t first = in.find(kSep);
    const std::string_view body = in.substr(0, first);
    std::vector<std::string> overrides;
    for (size_t at = first; at != std::string_view::npos;) {
        const size_t from = at + kSep.size();
        const size_t next = in.find(kSep, from);
        std::string_view ov = in.substr(from, next == std::string_view::npos ? std::string_view::npos : next - from);
        while (!ov.empty() && (ov.back() == '\n' || ov.back() == '\r')) ov.remove_suffix(1);
        overrides.emplace_back(ov);
        at = next;
    }

    json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
        if (overrides.empty()) return 0;
        j = json::object(); // overrides alone still build a spec
    }
    check_spec(j);
    for (const auto & ov : overrides) check_override(j, ov);

    const auto & keys = reference_keys();
    const uint64_t h = fnv1a(data, size);
    const std::string & key = keys[h % keys.size()];
    const size_t nv = sizeof(kValues) / sizeof(kValues[0]);
    check_override(j, key + "=" + kValues[(h >> 32) % nv]);
    return 0;
}
