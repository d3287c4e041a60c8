// safetensors_write.cpp — writing F32 tensors as a safetensors file (moe/io/safetensors.hpp),
// laid out as huggingface/safetensors' `prepare`/`serialize` lay it out: tensors sorted by name
// (one dtype, so alignment does not reorder them), offsets contiguous from 0, compact JSON with
// "__metadata__" first and the fields dtype, shape, data_offsets, the header padded with spaces
// to a multiple of 8 so that the data area starts 8-byte aligned; written atomically.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/core/error.hpp"
#include "moe/io/outputs.hpp"
#include "moe/io/safetensors.hpp"

namespace moe::io {

namespace {

[[noreturn]] void bad(const std::string & msg) { throw Error(ErrorCode::internal, "write_safetensors: " + msg); }

// A JSON string literal of s; refuses text that is not UTF-8.
std::string json_str(const std::string & s, const std::string & what) {
    try {
        return nlohmann::json(s).dump();
    } catch (const nlohmann::json::exception &) { bad(what + " is not valid UTF-8"); }
}

struct Laid {
    std::string head; // 8-byte length + padded header
    std::vector<std::string_view> data;
};

Laid lay_out(const std::vector<StTensorOut> & tensors, const std::map<std::string, std::string> & metadata) {
    static_assert(std::endian::native == std::endian::little, "the data area is little-endian floats");
    std::vector<const StTensorOut *> order;
    std::set<std::string> seen;
    for (const auto & t : tensors) {
        if (t.name.empty()) bad("a tensor has an empty name");
        if (t.name == "__metadata__") bad("'__metadata__' is reserved and cannot name a tensor");
        if (!seen.insert(t.name).second) bad("tensor '" + t.name + "' is given twice");
        order.push_back(&t);
    }
    std::sort(order.begin(), order.end(), [](const auto * a, const auto * b) { return a->name < b->name; });

    std::map<std::string, std::string> meta = metadata;
    meta.emplace("format", "pt"); // kept when the caller set it
    std::string h = "{\"__metadata__\":{";
    bool first = true;
    for (const auto & [k, v] : meta) {
        h += (first ? "" : ",") + json_str(k, "metadata key '" + k + "'") + ":" +
             json_str(v, "the value of metadata key '" + k + "'");
        first = false;
    }
    h += "}";
    Laid out;
    uint64_t at = 0;
    for (const auto * t : order) {
        uint64_t n = 1;
        std::string shape;
        for (const int64_t d : t->shape) {
            if (d < 0) bad("tensor '" + t->name + "' has a negative dimension");
            if (__builtin_mul_overflow(n, uint64_t(d), &n) || n > (UINT64_MAX >> 3))
                bad("tensor '" + t->name + "' is too large");
            shape += (shape.empty() ? "" : ",") + std::to_string(d);
        }
        if (n > 0 && t->data == nullptr) bad("tensor '" + t->name + "' has no data");
        const uint64_t bytes = 4 * n;
        h += "," + json_str(t->name, "tensor name '" + t->name + "'") + ":{\"dtype\":\"F32\",\"shape\":[" + shape +
             "],\"data_offsets\":[" + std::to_string(at) + "," + std::to_string(at + bytes) + "]}";
        at += bytes;
        if (n > 0) out.data.emplace_back(reinterpret_cast<const char *>(t->data), size_t(bytes));
    }
    h += "}";
    h.append((8 - h.size() % 8) % 8, ' ');
    out.head.resize(8);
    uint64_t len = h.size();
    for (int i = 0; i < 8; ++i, len >>= 8) out.head[i] = char(len & 0xFF);
    out.head += h;
    return out;
}

} // namespace

void write_safetensors(const std::string & path, const std::vector<StTensorOut> & tensors,
                       const std::map<std::string, std::string> & metadata) {
    const Laid l = lay_out(tensors, metadata);
    std::vector<std::string_view> pieces{l.head};
    pieces.insert(pieces.end(), l.data.begin(), l.data.end());
    write_bytes_atomic(path, pieces);
}

std::string safetensors_bytes(const std::vector<StTensorOut> & tensors,
                              const std::map<std::string, std::string> & metadata) {
    const Laid l = lay_out(tensors, metadata);
    std::string s = l.head;
    for (const auto & d : l.data) s += d;
    return s;
}

} // namespace moe::io
