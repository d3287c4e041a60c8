// fuzz_safetensors — libFuzzer target for the safetensors reader and writer
// (moe/io/safetensors.hpp).
//
// Input: the bytes of a safetensors file (seeds: tests/fixtures/safetensors/*.safetensors).
//   1. SafetensorsFile::from_bytes — it may only throw moe::Error;
//   2. on success: the layout it accepted must hold (tensors sorted by name and unique, each
//      span inside the data area and equal to its byte size, the spans covering the data area
//      exactly), and every F32/F16/BF16 tensor is read, any other refused with moe::Error;
//   3. the readable tensors, as F32, go through safetensors_bytes and from_bytes again and must
//      come back bit for bit, with the metadata (plus format) unchanged.
// Anything else is a finding: a crash, a sanitizer report, another exception, a layout the
// checks should have refused, a round trip that changes a bit.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "moe/core/error.hpp"
#include "moe/io/safetensors.hpp"

const char * const fuzz::kTarget = "fuzz_safetensors";
using fuzz::finding;
using fuzz::guarded;
using namespace moe::io;

namespace {

bool same_bits(const std::vector<float> & a, const std::vector<float> & b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

void check_layout(const SafetensorsFile & st) {
    std::vector<std::pair<uint64_t, uint64_t>> spans;
    for (size_t i = 0; i < st.tensors().size(); ++i) {
        const auto & t = st.tensors()[i];
        if (i > 0 && !(st.tensors()[i - 1].name < t.name)) finding("layout", "tensors not sorted or not unique");
        if (t.begin > t.end || t.end > st.data_size()) finding("layout", "span outside the data area: " + t.name);
        const uint64_t bits = t.elements() * uint64_t(st_dtype_bits(t.dtype));
        if (bits / 8 != t.end - t.begin) finding("layout", "span is not the byte size: " + t.name);
        spans.emplace_back(t.begin, t.end);
    }
    std::sort(spans.begin(), spans.end());
    uint64_t at = 0;
    for (const auto & [b, e] : spans) {
        if (b != at) finding("layout", "overlap or hole accepted");
        at = e;
    }
    if (at != st.data_size()) finding("layout", "bytes after the last tensor accepted");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    std::optional<SafetensorsFile> opened;
    if (!guarded("from_bytes", [&] {
            opened.emplace(SafetensorsFile::from_bytes(std::string(reinterpret_cast<const char *>(data), size), "fuzz"));
        }))
        return 0;
    const SafetensorsFile & st = *opened;
    check_layout(st);

    std::vector<std::vector<float>> values;
    std::vector<StTensorOut> outs;
    for (const auto & t : st.tensors()) {
        std::vector<float> v;
        const bool ok = guarded("read_f32", [&] { v = st.read_f32(t.name); });
        if (ok != st_dtype_readable(t.dtype)) finding("read_f32", "readable dtype refused or other dtype read: " + t.name);
        if (!ok) continue;
        if (v.size() != t.elements()) finding("read_f32", "wrong element count: " + t.name);
        values.push_back(std::move(v));
    }
    size_t k = 0;
    for (const auto & t : st.tensors())
        if (st_dtype_readable(t.dtype)) outs.push_back({t.name, t.shape, values[k++].data()});

    std::string bytes;
    if (!guarded("safetensors_bytes", [&] { bytes = safetensors_bytes(outs, st.metadata()); })) return 0;
    std::optional<SafetensorsFile> back;
    try {
        back.emplace(SafetensorsFile::from_bytes(bytes, "round trip"));
    } catch (const moe::Error & e) { finding("round trip", std::string("the writer's bytes are refused: ") + e.what()); }
    const SafetensorsFile & again = *back;
    auto meta = st.metadata();
    meta.emplace("format", "pt");
    if (again.metadata() != meta) finding("round trip", "metadata changed");
    if (again.tensors().size() != outs.size()) finding("round trip", "tensor count changed");
    k = 0;
    for (const auto & t : st.tensors()) {
        if (!st_dtype_readable(t.dtype)) continue;
        const StTensorInfo * u = again.find(t.name);
        if (!u || u->shape != t.shape || u->dtype != StDtype::F32) finding("round trip", "tensor changed: " + t.name);
        if (!same_bits(again.read_f32(t.name), values[k++])) finding("round trip", "values changed: " + t.name);
    }
    return 0;
}
