// safetensors_header.cpp — the rules of a safetensors header (safetensors_internal.hpp): JSON
// without duplicate keys, every tensor entry exactly {dtype, shape, data_offsets} with a dtype
// of the format, a shape of non-negative integers whose byte size (checked for overflow) is
// the span of its offsets, offsets inside the data area, and the data area covered exactly
// once (no overlap, no hole, nothing after the last tensor); "__metadata__" an object of
// strings. The order of the checks follows huggingface/safetensors' `validate`.
#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "internal.hpp"
#include "safetensors_internal.hpp"

namespace moe::io::detail {

using nlohmann::json;

namespace {

std::string squote(const std::string & s) { return "'" + s + "'"; }

} // namespace

std::string type_of(const json & j) {
    if (j.is_number_unsigned()) return "a non-negative integer";
    if (j.is_number_integer()) return "a negative integer";
    if (j.is_number_float()) return "a number with a fraction or exponent";
    if (j.is_array()) return "an array";
    if (j.is_object()) return "an object";
    if (j.is_null()) return "null";
    return std::string("a ") + j.type_name();
}

std::string st_shape_str(const std::vector<int64_t> & shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

json parse_json_unique(std::string_view text, const std::string & file, const std::string & what) {
    // one frame per open object: its keys so far and the key it sits under
    struct Frame {
        std::set<std::string> keys;
        std::string under;
    };
    std::vector<Frame> stack;
    std::string last_key, dup, dup_where;
    auto cb = [&](int, json::parse_event_t ev, json & parsed) {
        if (ev == json::parse_event_t::object_start) {
            stack.push_back({{}, stack.empty() ? std::string() : last_key});
        } else if (ev == json::parse_event_t::object_end) {
            if (!stack.empty()) stack.pop_back();
        } else if (ev == json::parse_event_t::key && !stack.empty()) {
            last_key = parsed.get<std::string>();
            if (!stack.back().keys.insert(last_key).second && dup.empty()) {
                dup = last_key;
                dup_where = stack.size() == 1 ? "the top-level object" : "the object under " + squote(stack.back().under);
            }
        }
        return true;
    };
    // nlohmann stops at a NUL byte as at the end of the input; JSON text never holds one
    if (const size_t nul = text.find('\0'); nul != std::string_view::npos)
        fail(file + ": " + what + " is not valid JSON (a NUL byte at byte " + std::to_string(nul) + " of " +
             std::to_string(text.size()) + ")");
    json j;
    try {
        j = json::parse(text.begin(), text.end(), cb);
    } catch (const json::parse_error & e) {
        std::string why = e.what();
        const size_t at = why.find("parse error");
        if (at != std::string::npos) why = why.substr(at);
        fail(file + ": " + what + " is not valid JSON (" + why + ")");
    } catch (const json::exception & e) { fail(file + ": " + what + " is not valid JSON (" + e.what() + ")"); }
    if (!dup.empty()) fail(file + ": " + what + ": key " + squote(dup) + " appears twice in " + dup_where);
    return j;
}

void parse_st_header(std::string_view header, uint64_t data_size, const std::string & file,
                     std::vector<StTensorInfo> & tensors, std::map<std::string, std::string> & metadata) {
    tensors.clear();
    metadata.clear();
    const json j = parse_json_unique(header, file, "the safetensors header");
    if (!j.is_object()) fail(file + ": the safetensors header is " + type_of(j) + ", expected a JSON object");
    for (const auto & [name, v] : j.items()) {
        if (name == "__metadata__") {
            if (!v.is_object())
                fail(file + ": __metadata__ is " + type_of(v) + ", expected an object of strings to strings");
            for (const auto & [k, s] : v.items()) {
                if (!s.is_string())
                    fail(file + ": __metadata__ " + squote(k) + " is " + type_of(s) +
                         ", expected a string (the format allows only string values)");
                metadata[k] = s.get<std::string>();
            }
            continue;
        }
        const std::string pre = file + ": tensor " + squote(name) + ": ";
        if (!v.is_object()) fail(pre + "entry is " + type_of(v) + ", expected an object {dtype, shape, data_offsets}");
        for (const auto & [k, x] : v.items())
            if (k != "dtype" && k != "shape" && k != "data_offsets")
                fail(pre + "unexpected field " + squote(k) + " (expected only dtype, shape and data_offsets)");
        for (const char * k : {"dtype", "shape", "data_offsets"})
            if (!v.contains(k)) fail(pre + "missing field '" + k + "'");
        StTensorInfo t;
        t.name = name;
        const json & dt = v["dtype"];
        if (!dt.is_string()) fail(pre + "dtype is " + type_of(dt) + ", expected a string such as \"F32\"");
        if (!st_dtype_from_name(dt.get<std::string>(), t.dtype))
            fail(pre + "unknown dtype " + squote(dt.get<std::string>()) +
                 " (expected one of BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ, "
                 "F8_E5M2FNUZ, I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64)");
        const json & sh = v["shape"];
        if (!sh.is_array()) fail(pre + "shape is " + type_of(sh) + ", expected an array of non-negative integers");
        uint64_t elems = 1;
        bool overflow = false;
        for (size_t i = 0; i < sh.size(); ++i) {
            const json & d = sh[i];
            if (!d.is_number_unsigned())
                fail(pre + "shape[" + std::to_string(i) + "] is " + type_of(d) + ", expected a non-negative integer");
            const uint64_t n = d.get<uint64_t>();
            if (n > uint64_t(INT64_MAX)) fail(pre + "shape[" + std::to_string(i) + "] = " + std::to_string(n) + " is too large");
            t.shape.push_back(int64_t(n));
            if (__builtin_mul_overflow(elems, n, &elems)) overflow = true;
        }
        const uint64_t bits = uint64_t(st_dtype_bits(t.dtype));
        uint64_t total_bits = 0;
        if (overflow || __builtin_mul_overflow(elems, bits, &total_bits))
            fail(pre + "shape " + st_shape_str(t.shape) + " of " + st_dtype_name(t.dtype) +
                 " overflows a 64-bit byte count");
        if (total_bits % 8 != 0)
            fail(pre + std::to_string(elems) + " elements of " + st_dtype_name(t.dtype) + " are " +
                 std::to_string(total_bits) + " bits, not a whole number of bytes");
        const json & off = v["data_offsets"];
        if (!off.is_array() || off.size() != 2)
            fail(pre + "data_offsets is " + type_of(off) + (off.is_array() ? " of " + std::to_string(off.size()) : "") +
                 ", expected [begin, end]");
        for (int i = 0; i < 2; ++i)
            if (!off[i].is_number_unsigned())
                fail(pre + "data_offsets[" + std::to_string(i) + "] is " + type_of(off[i]) +
                     ", expected a non-negative integer");
        t.begin = off[0].get<uint64_t>();
        t.end = off[1].get<uint64_t>();
        const std::string offs = "[" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "]";
        if (t.end < t.begin) fail(pre + "data_offsets " + offs + " end before they begin");
        if (t.end > data_size)
            fail(pre + "data_offsets " + offs + " run past the end of the data area (" + std::to_string(data_size) +
                 " bytes; a truncated file?)");
        if (t.end - t.begin != total_bits / 8)
            fail(pre + "data_offsets " + offs + " span " + std::to_string(t.end - t.begin) + " bytes, but shape " +
                 st_shape_str(t.shape) + " of " + st_dtype_name(t.dtype) + " needs " + std::to_string(total_bits / 8));
        tensors.push_back(std::move(t));
    }
    // the data area must be covered exactly once
    std::vector<const StTensorInfo *> by_off;
    for (const auto & t : tensors) by_off.push_back(&t);
    std::sort(by_off.begin(), by_off.end(), [](const StTensorInfo * a, const StTensorInfo * b) {
        return a->begin != b->begin ? a->begin < b->begin : a->end != b->end ? a->end < b->end : a->name < b->name;
    });
    uint64_t at = 0;
    const StTensorInfo * prev = nullptr;
    for (const auto * t : by_off) {
        if (t->begin < at)
            fail(file + ": tensor " + squote(t->name) + " (data_offsets [" + std::to_string(t->begin) + ", " +
                 std::to_string(t->end) + "]) overlaps tensor " + squote(prev->name) + " ([" +
                 std::to_string(prev->begin) + ", " + std::to_string(prev->end) + "])");
        if (t->begin > at)
            fail(file + ": bytes [" + std::to_string(at) + ", " + std::to_string(t->begin) +
                 ") of the data area belong to no tensor (a hole before tensor " + squote(t->name) + ")");
        at = t->end;
        prev = t;
    }
    if (at != data_size)
        fail(file + ": bytes [" + std::to_string(at) + ", " + std::to_string(data_size) +
             ") at the end of the data area belong to no tensor" +
             (tensors.empty() ? std::string(" (the header lists none)") : std::string()));
    std::sort(tensors.begin(), tensors.end(), [](const auto & a, const auto & b) { return a.name < b.name; });
}

} // namespace moe::io::detail
