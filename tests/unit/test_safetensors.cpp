// test_safetensors.cpp — the safetensors reader and writer (moe/io/safetensors.hpp): exact F16
// and BF16 conversions from hand-computed bit patterns, the 296-byte file of the reference
// page's golden values read back, the writer's exact bytes and round trip, every hostile header
// refused with the file and the tensor or field named, and sharded checkpoints.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "moe/core/error.hpp"
#include "moe/core/sha256.hpp"
#include "moe/io/outputs.hpp"
#include "moe/io/safetensors.hpp"
#include "moe/io/temporaries.hpp"
#include "unit/temp_dir.hpp"

using moe::io::SafetensorsCheckpoint;
using moe::io::SafetensorsFile;
using moe::io::StTensorOut;
using moe::test::TempDir;

namespace {

// Runs f, expects a moe::Error of the given code, returns its message ("" if none thrown).
template <typename F>
std::string error_of(F && f, moe::ErrorCode code = moe::ErrorCode::io) {
    try {
        f();
    } catch (const moe::Error & e) {
        CHECK(e.code() == code);
        return e.what();
    } catch (const std::exception & e) {
        FAIL_CHECK("unexpected exception type: " << e.what());
        return "";
    }
    FAIL_CHECK("no exception thrown");
    return "";
}

std::string unhex(const std::string & h) {
    std::string s;
    for (size_t i = 0; i + 1 < h.size(); i += 2) s += char(std::stoi(h.substr(i, 2), nullptr, 16));
    return s;
}

std::string le64(uint64_t n) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i, n >>= 8) s[i] = char(n & 0xFF);
    return s;
}

// A file of the given header text (its length as N) and data area.
std::string st_file(const std::string & header, const std::string & data) { return le64(header.size()) + header + data; }

std::string slurp(const std::string & path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
void spit(const std::string & path, const std::string & bytes) {
    std::ofstream out(path, std::ios::binary);
    out << bytes;
}

// The message of from_bytes(file) ("" when it opens).
std::string refusal(const std::string & file) {
    return error_of([&] { SafetensorsFile::from_bytes(file, "x.safetensors"); });
}

uint32_t bits(float f) { return std::bit_cast<uint32_t>(f); }

// lm_golden.txt section 4: four tensors (I64, F32, BF16, F16) written by the Python reference
const std::string kGoldenHeader =
    "{\"__metadata__\":{\"format\":\"pt\"},\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
    "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[8,20]},\"w\":{\"dtype\":\"BF16\",\"shape\":[2,2],"
    "\"data_offsets\":[20,28]},\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[28,32]}}    ";
const std::string kGoldenData = "07000000000000000000803f000020c000005040803f003f80be4940003800bc";

} // namespace

TEST_CASE("safetensors: F16 to float is exact, subnormals, infinities and NaN payloads included") {
    using moe::io::f16_bits_to_float;
    CHECK(f16_bits_to_float(0x3C00) == 1.0f);
    CHECK(f16_bits_to_float(0xC000) == -2.0f);
    CHECK(f16_bits_to_float(0x3555) == 0.333251953125f); // 1365 / 4096
    CHECK(f16_bits_to_float(0x7BFF) == 65504.0f);        // largest normal
    CHECK(f16_bits_to_float(0x0400) == std::ldexp(1.0f, -14)); // smallest normal
    CHECK(f16_bits_to_float(0x0001) == std::ldexp(1.0f, -24)); // smallest subnormal
    CHECK(f16_bits_to_float(0x03FF) == std::ldexp(1023.0f, -24)); // largest subnormal
    CHECK(f16_bits_to_float(0x8200) == -std::ldexp(1.0f, -15));
    CHECK(bits(f16_bits_to_float(0x0000)) == 0x00000000u);
    CHECK(bits(f16_bits_to_float(0x8000)) == 0x80000000u); // -0
    CHECK(bits(f16_bits_to_float(0x7C00)) == 0x7F800000u); // +inf
    CHECK(bits(f16_bits_to_float(0xFC00)) == 0xFF800000u); // -inf
    CHECK(bits(f16_bits_to_float(0x7E00)) == 0x7FC00000u); // quiet NaN
    CHECK(bits(f16_bits_to_float(0x7C01)) == 0x7F802000u); // NaN payload kept
    CHECK(bits(f16_bits_to_float(0xFE01)) == 0xFFC02000u);
    // every finite half converts to the value its fields give
    for (uint32_t h = 0; h < 0x10000; ++h) {
        const int e = int(h >> 10) & 31, m = int(h & 0x3FF);
        if (e == 31) continue;
        const double v = (e ? std::ldexp(1024.0 + m, e - 25) : std::ldexp(double(m), -24)) * ((h & 0x8000) ? -1 : 1);
        if (double(moe::io::f16_bits_to_float(uint16_t(h))) != v) {
            FAIL_CHECK("half 0x" << std::hex << h);
            break;
        }
    }
}

TEST_CASE("safetensors: BF16 to float is the upper half of the float") {
    using moe::io::bf16_bits_to_float;
    CHECK(bf16_bits_to_float(0x3F80) == 1.0f);
    CHECK(bf16_bits_to_float(0xBE80) == -0.25f);
    CHECK(bf16_bits_to_float(0x4049) == 3.140625f);
    CHECK(bits(bf16_bits_to_float(0x3DCD)) == 0x3DCD0000u); // 0.1 rounded to nearest even
    CHECK(bits(bf16_bits_to_float(0x0001)) == 0x00010000u); // a float subnormal
    CHECK(bits(bf16_bits_to_float(0x7F80)) == 0x7F800000u);
    CHECK(bits(bf16_bits_to_float(0xFF80)) == 0xFF800000u);
    CHECK(bits(bf16_bits_to_float(0x7FC1)) == 0x7FC10000u);
}

TEST_CASE("safetensors: the reference page's golden file reads back") {
    const std::string file = le64(256) + kGoldenHeader + unhex(kGoldenData);
    REQUIRE(file.size() == 296);
    CHECK(moe::sha256_hex(file) == "5726a66861faed50ec71cc31fa4927c85109330473dc6dfbd756e5af4405ba5a");
    const auto st = SafetensorsFile::from_bytes(file, "golden.safetensors");
    CHECK(st.header_size() == 256);
    CHECK(st.data_size() == 32);
    CHECK(st.metadata() == std::map<std::string, std::string>{{"format", "pt"}});
    REQUIRE(st.tensors().size() == 4);
    CHECK(st.tensors()[0].name == "a"); // sorted by name
    CHECK(st.tensors()[3].name == "w");
    const auto * w = st.find("w");
    REQUIRE(w);
    CHECK(w->dtype == moe::io::StDtype::BF16);
    CHECK(w->shape == std::vector<int64_t>{2, 2});
    CHECK(w->begin == 20);
    CHECK(w->end == 28);
    CHECK(st.read_f32("b") == std::vector<float>{1.0f, -2.5f, 3.25f});
    CHECK(st.read_f32("w") == std::vector<float>{1.0f, 0.5f, -0.25f, 3.140625f});
    CHECK(st.read_f32("a") == std::vector<float>{0.5f, -1.0f});
    const auto m = error_of([&] { st.read_f32("i"); });
    CHECK(m == "golden.safetensors: tensor 'i' has dtype I64; moe-lab reads F32, F16 and BF16 tensors");
    CHECK(error_of([&] { st.read_f32("nope"); }) == "golden.safetensors: no tensor 'nope'");
    // the two rejections of the reference page: one byte short, a zeroed header
    CHECK(refusal(file.substr(0, 295)) ==
          "x.safetensors: tensor 'a': data_offsets [28, 32] run past the end of the data area (31 bytes; a truncated file?)");
    std::string zeroed = file;
    std::fill(zeroed.begin() + 8, zeroed.begin() + 264, '\0');
    CHECK(refusal(zeroed).find("x.safetensors: the safetensors header is not valid JSON") == 0);
}

TEST_CASE("safetensors: the writer's bytes are the reference layout, and they read back") {
    const float a = 2.0f, b[1] = {1.0f};
    const std::vector<StTensorOut> ts = {{"b", {1}, b}, {"a", {}, &a}};
    const std::string bytes = moe::io::safetensors_bytes(ts);
    const std::string header = "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[],"
                               "\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
    const size_t padded = (header.size() + 7) / 8 * 8;
    CHECK(bytes.substr(8, header.size()) == header);
    CHECK(bytes.substr(8 + header.size(), padded - header.size()) == std::string(padded - header.size(), ' '));
    CHECK(bytes.substr(0, 8) == le64(padded));
    CHECK(bytes.substr(8 + padded) == unhex("000000400000803f"));

    TempDir dir("safetensors_rt");
    const std::string path = dir.file("model.safetensors");
    std::vector<float> big(3 * 70000);
    for (size_t i = 0; i < big.size(); ++i) big[i] = float(i) * 0.25f - 7.0f;
    const std::vector<float> lm = {-0.0f, 1e-45f, 3.4e38f, -1.5f, 0.1f, 7.0f};
    const std::vector<StTensorOut> model = {
        {"wte.weight", {3, 70000}, big.data()}, // more than one read chunk
        {"h.0.ln_1.weight", {2, 3}, lm.data()},
        {"empty", {2, 0}, nullptr},
        {"scalar", {}, &a},
    };
    moe::io::write_safetensors(path, model, {{"spec", "{\"a\": 1}"}});
    CHECK(moe::io::temporaries_of(path).empty());
    CHECK(slurp(path) == moe::io::safetensors_bytes(model, {{"spec", "{\"a\": 1}"}}));
    const auto st = SafetensorsFile::open(path);
    CHECK(st.header_size() % 8 == 0);
    CHECK(st.metadata() == std::map<std::string, std::string>{{"format", "pt"}, {"spec", "{\"a\": 1}"}});
    REQUIRE(st.tensors().size() == 4);
    CHECK(st.read_f32("wte.weight") == big);
    const auto back = st.read_f32("h.0.ln_1.weight");
    REQUIRE(back.size() == lm.size());
    for (size_t i = 0; i < lm.size(); ++i) CHECK(bits(back[i]) == bits(lm[i]));
    CHECK(st.read_f32("empty").empty());
    CHECK(st.find("empty")->shape == std::vector<int64_t>{2, 0});
    CHECK(st.read_f32("scalar") == std::vector<float>{2.0f});
    // a caller's own format is kept
    CHECK(moe::io::safetensors_bytes({}, {{"format", "np"}}).find("{\"__metadata__\":{\"format\":\"np\"}}") == 8);

    // shortened after it was opened: the read says so
    std::filesystem::resize_file(path, std::filesystem::file_size(path) - 4);
    CHECK(error_of([&] { st.read_f32("wte.weight"); }).find("was it truncated after it was opened?") !=
          std::string::npos);
}

TEST_CASE("safetensors: the writer refuses bad arguments and leaves nothing behind") {
    TempDir dir("safetensors_wbad");
    const std::string path = dir.file("m.safetensors");
    const float x[2] = {1, 2};
    auto bad = [&](const std::vector<StTensorOut> & ts) {
        return error_of([&] { moe::io::write_safetensors(path, ts); }, moe::ErrorCode::internal);
    };
    CHECK(bad({{"a", {2}, x}, {"a", {2}, x}}) == "write_safetensors: tensor 'a' is given twice");
    CHECK(bad({{"", {2}, x}}) == "write_safetensors: a tensor has an empty name");
    CHECK(bad({{"__metadata__", {2}, x}}).find("reserved") != std::string::npos);
    CHECK(bad({{"a", {-1}, x}}) == "write_safetensors: tensor 'a' has a negative dimension");
    CHECK(bad({{"a", {2}, nullptr}}) == "write_safetensors: tensor 'a' has no data");
    CHECK(bad({{"a\xff", {2}, x}}).find("is not valid UTF-8") != std::string::npos);
    CHECK(!std::filesystem::exists(path));
    const auto m = error_of([&] { moe::io::write_safetensors(dir.file("missing/m.safetensors"), {{"a", {2}, x}}); });
    CHECK(m.find("cannot write " + dir.file("missing/m.safetensors")) == 0);
    CHECK(moe::io::temporaries_of(path).empty());
}

TEST_CASE("safetensors: hostile headers are refused with the file and the tensor or field named") {
    const std::string d8(8, '\0');
    auto one = [](const std::string & entry) { return "{\"t\":" + entry + "}"; };
    // the header length
    CHECK(refusal("abc") == "x.safetensors: 3 bytes, shorter than the 8-byte header length of a safetensors file");
    CHECK(refusal(le64(100) + "{}") == "x.safetensors: header length 100 runs past the end of the file (10 bytes "
                                       "leave at most 2 for the header; truncated?)");
    CHECK(refusal(le64(~0ull) + "{}").find("header length 18446744073709551615 exceeds the limit of 100000000") !=
          std::string::npos);
    CHECK(refusal(le64(100000001) + std::string(64, ' ')).find("exceeds the limit") != std::string::npos);
    CHECK(refusal(le64(0)) == "x.safetensors: header length 0, expected a JSON object");
    // the JSON
    CHECK(refusal(st_file("{\"t\":", "")).find("x.safetensors: the safetensors header is not valid JSON (parse error") ==
          0);
    CHECK(refusal(st_file("[1]", "")) == "x.safetensors: the safetensors header is an array, expected a JSON object");
    CHECK(refusal(st_file("{\"\xff\":1}", "")).find("not valid JSON") != std::string::npos);
    CHECK(refusal(st_file("{} x", "")).find("not valid JSON") != std::string::npos);
    CHECK(refusal(st_file(std::string("{}\0\0", 4), "")) ==
          "x.safetensors: the safetensors header is not valid JSON (a NUL byte at byte 2 of 4)");
    // duplicates: a tensor name, a field
    const std::string e = "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}";
    CHECK(refusal(st_file("{\"a\":" + e + ",\"a\":" + e + "}", std::string(4, '\0'))) ==
          "x.safetensors: the safetensors header: key 'a' appears twice in the top-level object");
    CHECK(refusal(st_file(one("{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}"), d8)) ==
          "x.safetensors: the safetensors header: key 'dtype' appears twice in the object under 't'");
    // the entry
    CHECK(refusal(st_file(one("[]"), "")) ==
          "x.safetensors: tensor 't': entry is an array, expected an object {dtype, shape, data_offsets}");
    CHECK(refusal(st_file(one("{\"dtype\":\"F32\",\"shape\":[1]}"), "")) ==
          "x.safetensors: tensor 't': missing field 'data_offsets'");
    CHECK(refusal(st_file(one("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}"), d8)) ==
          "x.safetensors: tensor 't': unexpected field 'x' (expected only dtype, shape and data_offsets)");
    // dtype
    CHECK(refusal(st_file(one("{\"dtype\":\"F31\",\"shape\":[1],\"data_offsets\":[0,4]}"), d8))
              .find("x.safetensors: tensor 't': unknown dtype 'F31' (expected one of BOOL, F4,") == 0);
    CHECK(refusal(st_file(one("{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}"), d8))
              .find("unknown dtype 'f32'") != std::string::npos);
    CHECK(refusal(st_file(one("{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}"), d8)) ==
          "x.safetensors: tensor 't': dtype is a non-negative integer, expected a string such as \"F32\"");
    // shape
    CHECK(refusal(st_file(one("{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}"), d8)) ==
          "x.safetensors: tensor 't': shape[0] is a negative integer, expected a non-negative integer");
    CHECK(refusal(st_file(one("{\"dtype\":\"F32\",\"shape\":[1,2.0],\"data_offsets\":[0,8]}"), d8)) ==
          "x.safetensors: tensor 't': shape[1] is a number with a fraction or exponent, expected a non-negative integer");
    CHECK(refusal(st_file(one("{\"dtype\":\"F32\",\"shape\":7,\"data_offsets\":[0,4]}"), d8)) ==
          "x.safetensors: tensor 't': shape is a non-negative integer, expected an array of non-negative integers");
    CHECK(refusal(st_file(one("{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}"), "")) ==
          "x.safetensors: tensor 't': shape [4294967296, 4294967296] of F32 overflows a 64-bit byte count");
    CHECK(refusal(st_file(one("{\"dtype\":\"F32\",\"shape\":[4611686018427387904,2],\"data_offsets\":[0,0]}"), ""))
              .find("overflows a 64-bit byte count") != std::string::npos);
    CHECK(refusal(st_file(one("{\"dtype\":\"F32\",\"shape\":[18446744073709551616],\"data_offsets\":[0,0]}"), ""))
              .find("shape[0] is a number with a fraction or exponent") != std::string::npos);
    CHECK(refusal(st_file(one("{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}"), "\0\0")) ==
          "x.safetensors: tensor 't': 3 elements of F4 are 12 bits, not a whole number of bytes");
    // offsets
    CHECK(refusal(st_file(one("{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}"), d8)) ==
          "x.safetensors: tensor 't': data_offsets [0, 8] span 8 bytes, but shape [3] of F32 needs 12");
    CHECK(refusal(st_file(one("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}"), d8)) ==
          "x.safetensors: tensor 't': data_offsets [4, 12] run past the end of the data area (8 bytes; a truncated file?)");
    CHECK(refusal(st_file(one("{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}"), d8)) ==
          "x.safetensors: tensor 't': data_offsets [8, 4] end before they begin");
    CHECK(refusal(st_file(one("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}"), d8)) ==
          "x.safetensors: tensor 't': data_offsets is an array of 1, expected [begin, end]");
    CHECK(refusal(st_file(one("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,-8]}"), d8)) ==
          "x.safetensors: tensor 't': data_offsets[1] is a negative integer, expected a non-negative integer");
    // coverage of the data area
    const std::string a04 = "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}";
    CHECK(refusal(st_file("{" + a04 + ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[2,10]}}",
                          std::string(10, '\0'))) ==
          "x.safetensors: tensor 'b' (data_offsets [2, 10]) overlaps tensor 'a' ([0, 4])");
    CHECK(refusal(st_file("{" + a04 + ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                          std::string(4, '\0'))) ==
          "x.safetensors: tensor 'b' (data_offsets [0, 4]) overlaps tensor 'a' ([0, 4])");
    CHECK(refusal(st_file("{" + a04 + ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                          std::string(12, '\0'))) ==
          "x.safetensors: bytes [4, 8) of the data area belong to no tensor (a hole before tensor 'b')");
    CHECK(refusal(st_file("{" + a04 + "}", d8)) ==
          "x.safetensors: bytes [4, 8) at the end of the data area belong to no tensor");
    CHECK(refusal(st_file("{}", d8)) ==
          "x.safetensors: bytes [0, 8) at the end of the data area belong to no tensor (the header lists none)");
    // metadata
    CHECK(refusal(st_file("{\"__metadata__\":{\"n\":1}}", "")) ==
          "x.safetensors: __metadata__ 'n' is a non-negative integer, expected a string (the format allows only "
          "string values)");
    CHECK(refusal(st_file("{\"__metadata__\":{\"n\":{\"a\":\"b\"}}}", "")).find("__metadata__ 'n' is an object") !=
          std::string::npos);
    CHECK(refusal(st_file("{\"__metadata__\":[]}", "")) ==
          "x.safetensors: __metadata__ is an array, expected an object of strings to strings");
    CHECK(refusal(st_file("{\"__metadata__\":null}", "")).find("__metadata__ is null") != std::string::npos);
}

TEST_CASE("safetensors: what the reference reader accepts is accepted") {
    // whitespace around the object (writers may pad), N not a multiple of 8, an empty and a
    // 0-rank tensor, an empty file body
    const auto st = SafetensorsFile::from_bytes(
        st_file("\n\t{\"e\":{\"dtype\":\"U8\",\"shape\":[0,5],\"data_offsets\":[0,0]},"
                "\"s\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[0,2]},"
                "\"u\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}} \r\n\t",
                unhex("003c0102")),
        "ok.safetensors");
    CHECK(st.tensors().size() == 3);
    CHECK(st.metadata().empty());
    CHECK(st.read_f32("s") == std::vector<float>{1.0f});
    CHECK(error_of([&] { st.read_f32("e"); }).find("tensor 'e' has dtype U8") != std::string::npos); // even empty
    CHECK(error_of([&] { st.read_f32("u"); }) ==
          "ok.safetensors: tensor 'u' has dtype U8; moe-lab reads F32, F16 and BF16 tensors");
    CHECK(SafetensorsFile::from_bytes(st_file("{}", ""), "e").tensors().empty());
}

TEST_CASE("safetensors: open names missing files and directories") {
    TempDir dir("safetensors_open");
    CHECK(error_of([&] { SafetensorsFile::open(dir.file("none.safetensors")); }) ==
          dir.file("none.safetensors") + ": no such file");
    CHECK(error_of([&] { SafetensorsFile::open(dir.path.string()); }) ==
          dir.path.string() + ": is a directory, expected a safetensors file");
    REQUIRE(::mkfifo(dir.file("fifo.safetensors").c_str(), 0600) == 0); // must not block
    CHECK(error_of([&] { SafetensorsFile::open(dir.file("fifo.safetensors")); }) ==
          dir.file("fifo.safetensors") + ": not a regular file, expected a safetensors file");
    CHECK(error_of([&] { SafetensorsCheckpoint::open(dir.path.string()); }) ==
          dir.path.string() + ": a directory without model.safetensors.index.json or model.safetensors");
    const float x[1] = {3};
    moe::io::write_safetensors(dir.file("model.safetensors"), {{"x", {1}, x}});
    const auto ck = SafetensorsCheckpoint::open(dir.path.string());
    CHECK(ck.names() == std::vector<std::string>{"x"});
    CHECK(ck.read_f32("x") == std::vector<float>{3});
}

TEST_CASE("safetensors: a sharded checkpoint through model.safetensors.index.json") {
    TempDir dir("safetensors_shards");
    const float a[2] = {1, 2}, b[3] = {3, 4, 5}, c[1] = {6};
    const std::string s1 = "model-00001-of-00002.safetensors", s2 = "model-00002-of-00002.safetensors";
    moe::io::write_safetensors(dir.file(s1), {{"a", {2}, a}, {"b", {3}, b}});
    moe::io::write_safetensors(dir.file(s2), {{"c", {1}, c}});
    const std::string index = dir.file("model.safetensors.index.json");
    auto write_index = [&](const std::string & weight_map) {
        spit(index, "{\"metadata\":{\"total_size\":24},\"weight_map\":" + weight_map + "}");
    };
    write_index("{\"a\":\"" + s1 + "\",\"b\":\"" + s1 + "\",\"c\":\"" + s2 + "\"}");
    {
        const auto ck = SafetensorsCheckpoint::open(dir.path.string());
        CHECK(ck.files().size() == 2);
        CHECK(ck.names() == std::vector<std::string>{"a", "b", "c"});
        CHECK(ck.read_f32("b") == std::vector<float>{3, 4, 5});
        CHECK(ck.read_f32("c") == std::vector<float>{6});
        const SafetensorsFile * f = nullptr;
        REQUIRE(ck.find("c", &f));
        CHECK(f->path() == dir.file(s2));
        CHECK(ck.find("d") == nullptr);
        CHECK(SafetensorsCheckpoint::open(index).names().size() == 3);
    }
    auto refused = [&] { return error_of([&] { SafetensorsCheckpoint::open(index); }); };
    write_index("{\"a\":\"" + s1 + "\",\"b\":\"" + s1 + "\"}"); // s2 is not a shard then
    CHECK(SafetensorsCheckpoint::open(index).names() == std::vector<std::string>{"a", "b"});
    moe::io::write_safetensors(dir.file(s2), {{"c", {1}, c}, {"d", {1}, c}});
    write_index("{\"a\":\"" + s1 + "\",\"b\":\"" + s1 + "\",\"c\":\"" + s2 + "\"}");
    CHECK(refused() == dir.file(s2) + ": tensor 'd' is not in the weight_map of " + index);
    moe::io::write_safetensors(dir.file(s2), {{"c", {1}, c}});
    write_index("{\"a\":\"" + s1 + "\",\"b\":\"" + s2 + "\",\"c\":\"" + s2 + "\"}");
    CHECK(refused() == index + ": weight_map maps tensor 'b' to " + s2 + ", but it is in " + dir.file(s1));
    write_index("{\"a\":\"" + s1 + "\",\"b\":\"" + s1 + "\",\"c\":\"" + s2 + "\",\"d\":\"" + s2 + "\"}");
    CHECK(refused() == index + ": weight_map maps tensor 'd' to " + s2 + ", which has no tensor of that name");
    write_index("{\"a\":\"" + s1 + "\",\"b\":\"" + s1 + "\",\"c\":\"model-3.safetensors\"}");
    CHECK(refused() == dir.file("model-3.safetensors") + ": no such file (a shard listed in " + index + ")");
    write_index("{\"a\":\"../" + s1 + "\"}");
    CHECK(refused() == index + ": weight_map 'a' names '../" + s1 + "', expected the name of a file in the index's directory");
    write_index("{\"a\":\"" + s1 + "\",\"a\":\"" + s1 + "\"}");
    CHECK(refused() == index + ": the index: key 'a' appears twice in the object under 'weight_map'");
    write_index("[]");
    CHECK(refused() == index + ": weight_map is an array, expected an object of tensor names to files");
    write_index("{\"a\":1}");
    CHECK(refused() == index + ": weight_map 'a' is a non-negative integer, expected a file name");
    write_index("{}");
    CHECK(refused() == index + ": weight_map is empty, expected at least one tensor");
    spit(index, "{\"metadata\":{}}");
    CHECK(refused() == index + ": no 'weight_map' (tensor name -> shard file)");
    spit(index, "{\"weight_map\":");
    CHECK(refused().find(index + ": the index is not valid JSON") == 0);
    // a tensor in two shards
    moe::io::write_safetensors(dir.file(s2), {{"c", {1}, c}, {"b", {3}, b}});
    write_index("{\"a\":\"" + s1 + "\",\"b\":\"" + s1 + "\",\"c\":\"" + s2 + "\"}");
    CHECK(refused() == index + ": tensor 'b' is in two shards, " + dir.file(s1) + " and " + dir.file(s2));
    // a damaged shard is named as one
    spit(dir.file(s2), "garbage");
    CHECK(refused() == dir.file(s2) + ": 7 bytes, shorter than the 8-byte header length of a safetensors file (a "
                                      "shard listed in " + index + ")");
}

TEST_CASE("safetensors: the committed fixtures (tests/fixtures/make_safetensors.py) read back") {
    const std::string dir = std::string(MOE_TEST_DATA_DIR) + "/safetensors/";
    CHECK(slurp(dir + "golden.safetensors") == le64(256) + kGoldenHeader + unhex(kGoldenData));
    const auto sp = SafetensorsFile::open(dir + "specials.safetensors");
    const auto f16 = sp.read_f32("f16"), bf16 = sp.read_f32("bf16");
    const std::vector<uint32_t> f16_bits = {0x00000000u, 0x80000000u, 0x33800000u, 0x387FC000u,
                                            0x38800000u, 0x3F800000u, 0x3EAAA000u, 0x477FE000u,
                                            0x7F800000u, 0xFF800000u, 0x7FC00000u, 0x7F802000u};
    const std::vector<uint32_t> bf16_bits = {0x00000000u, 0x80000000u, 0x00010000u, 0x3F800000u, 0x3DCD0000u,
                                             0x40490000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u};
    REQUIRE(f16.size() == f16_bits.size());
    for (size_t i = 0; i < f16.size(); ++i) CHECK(bits(f16[i]) == f16_bits[i]);
    REQUIRE(bf16.size() == bf16_bits.size());
    for (size_t i = 0; i < bf16.size(); ++i) CHECK(bits(bf16[i]) == bf16_bits[i]);
    const auto one = SafetensorsCheckpoint::open(dir + "tiny_gpt2");
    const auto shards = SafetensorsCheckpoint::open(dir + "tiny_gpt2_sharded");
    CHECK(one.names().size() == 2 + 2 * 13 + 2); // with the two causal-mask buffers
    CHECK(shards.files().size() == 2);
    CHECK(shards.names().size() == 2 + 2 * 12 + 2);
    CHECK(shards.read_f32("transformer.h.1.mlp.c_fc.weight") == one.read_f32("h.1.mlp.c_fc.weight"));
    CHECK(one.read_f32("wte.weight").size() == 11 * 8);
}
