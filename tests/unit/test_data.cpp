// Unit tests for moe/data: IDX / CSV / HDF5 sources, synthetic tasks, transforms, build_splits,
// Batcher.
#include <doctest/doctest.h>
#include <hdf5.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "moe/core/error.hpp"
#include "moe/data/dataset.hpp"
#include "unit/temp_dir.hpp"

namespace fs = std::filesystem;
using moe::Error;
using moe::ErrorCode;
using namespace moe::data;
using moe::test::TempDir;

namespace {

void write_bytes(const std::string & path, const std::vector<unsigned char> & bytes, bool gz) {
    if (gz) {
        gzFile f = gzopen(path.c_str(), "wb");
        REQUIRE(f != nullptr);
        REQUIRE(gzwrite(f, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
        gzclose(f);
    } else {
        std::ofstream o(path, std::ios::binary);
        o.write(reinterpret_cast<const char *>(bytes.data()), std::streamsize(bytes.size()));
    }
}

void put_be32(std::vector<unsigned char> & b, uint32_t v) {
    b.push_back(uint8_t(v >> 24));
    b.push_back(uint8_t(v >> 16));
    b.push_back(uint8_t(v >> 8));
    b.push_back(uint8_t(v));
}

// IDX file bytes: magic, dims, payload.
std::vector<unsigned char> idx_bytes(uint32_t magic, const std::vector<uint32_t> & dims,
                                     const std::vector<unsigned char> & payload) {
    std::vector<unsigned char> b;
    put_be32(b, magic);
    for (uint32_t d : dims) put_be32(b, d);
    b.insert(b.end(), payload.begin(), payload.end());
    return b;
}

// n images of (rows, cols) with pixel value (s*7 + i) % 256, labels s % 3 (+ 5 for the last).
struct TinyIdx {
    uint32_t n = 4, rows = 2, cols = 3;
    std::vector<unsigned char> pixels, labels;
    TinyIdx() {
        for (uint32_t s = 0; s < n; ++s)
            for (uint32_t i = 0; i < rows * cols; ++i) pixels.push_back(uint8_t((s * 7 + i * 40) % 256));
        for (uint32_t s = 0; s < n; ++s) labels.push_back(uint8_t(s % 3));
        labels.back() = 5;
    }
    void write(const std::string & img, const std::string & lbl, bool gz) const {
        write_bytes(img, idx_bytes(0x803, {n, rows, cols}, pixels), gz);
        write_bytes(lbl, idx_bytes(0x801, {n}, labels), gz);
    }
};

// Runs f, requires it to throw moe::Error with `code` and a message containing every `parts`.
void check_error(const std::function<void()> & f, ErrorCode code, const std::vector<std::string> & parts) {
    bool thrown = false;
    try {
        f();
    } catch (const Error & e) {
        thrown = true;
        CHECK(int(e.code()) == int(code));
        const std::string msg = e.what();
        for (const auto & p : parts) {
            INFO("message: " << msg << "  (expected to contain '" << p << "')");
            CHECK(msg.find(p) != std::string::npos);
        }
    }
    CHECK(thrown);
}

// Image data set (n, 1, H, W) with distinct pixel values.
Dataset make_image(int64_t n, int H, int W) {
    Dataset ds;
    ds.n = n;
    ds.channels = 1;
    ds.height = H;
    ds.width = W;
    ds.d = H * W;
    ds.n_classes = 3;
    for (int64_t s = 0; s < n; ++s) {
        for (int i = 0; i < ds.d; ++i) ds.x.push_back(float(s * ds.d + i + 1) / float(n * ds.d + 1));
        ds.y.push_back(int32_t(s % 3));
        ds.task.push_back(0);
    }
    return ds;
}

float px(const Dataset & ds, int64_t s, int r, int c) { return ds.x[size_t(s) * ds.d + size_t(r) * ds.width + c]; }

TransformConfig tf(const std::string & kind) {
    TransformConfig t;
    t.kind = kind;
    return t;
}

const std::string k_fashion_dir = "/usr/share/datasets/fashion-mnist";
bool have_fashion() { return fs::exists(k_fashion_dir + "/train-images-idx3-ubyte.gz"); }

double mean_of(const std::vector<float> & v) {
    double s = 0;
    for (float x : v) s += x;
    return v.empty() ? 0.0 : s / double(v.size());
}

} // namespace

// ============================================================================ IDX / Fashion-MNIST

TEST_CASE("load_idx reads plain and gzipped IDX files") {
    TempDir td("data_idx");
    TinyIdx t;
    for (bool gz : {false, true}) {
        CAPTURE(gz);
        const std::string img = td.file(gz ? "i.gz" : "i"), lbl = td.file(gz ? "l.gz" : "l");
        t.write(img, lbl, gz);
        const Dataset ds = load_idx(img, lbl);
        CHECK(ds.n == 4);
        CHECK(ds.channels == 1);
        CHECK(ds.height == 2);
        CHECK(ds.width == 3);
        CHECK(ds.d == 6);
        CHECK(ds.is_image());
        CHECK(ds.n_classes == 6); // max label 5 + 1
        REQUIRE(ds.x.size() == 24);
        for (size_t i = 0; i < 24; ++i) CHECK(ds.x[i] == doctest::Approx(t.pixels[i] / 255.0));
        CHECK(ds.y == std::vector<int32_t>{0, 1, 2, 5});
        CHECK(ds.task == std::vector<int32_t>{0, 0, 0, 0});
    }
}

TEST_CASE("load_idx rejects truncated, oversized, bad-magic and mismatched files") {
    TempDir td("data_idxbad");
    TinyIdx t;
    const std::string lbl = td.file("labels");
    write_bytes(lbl, idx_bytes(0x801, {t.n}, t.labels), false);

    SUBCASE("truncated plain") {
        std::vector<unsigned char> short_px(t.pixels.begin(), t.pixels.end() - 5);
        const std::string img = td.file("trunc-images");
        write_bytes(img, idx_bytes(0x803, {t.n, t.rows, t.cols}, short_px), false);
        check_error([&] { load_idx(img, lbl); }, ErrorCode::io, {"trunc-images", "expected 40", "got 35"});
    }
    SUBCASE("truncated gzip payload") {
        std::vector<unsigned char> short_px(t.pixels.begin(), t.pixels.end() - 1);
        const std::string img = td.file("trunc-images.gz");
        write_bytes(img, idx_bytes(0x803, {t.n, t.rows, t.cols}, short_px), true);
        check_error([&] { load_idx(img, lbl); }, ErrorCode::io, {"trunc-images.gz", "expected 40", "got 39"});
    }
    SUBCASE("cut gzip stream") {
        const std::string full = td.file("full.gz");
        write_bytes(full, idx_bytes(0x803, {t.n, t.rows, t.cols}, t.pixels), true);
        std::ifstream in(full, std::ios::binary);
        std::vector<unsigned char> gzb((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        gzb.resize(gzb.size() - 12); // drop the trailer and some data
        const std::string img = td.file("cut-images.gz");
        write_bytes(img, gzb, false);
        check_error([&] { load_idx(img, lbl); }, ErrorCode::io, {"cut-images.gz"});
    }
    SUBCASE("oversized") {
        std::vector<unsigned char> long_px = t.pixels;
        long_px.push_back(0);
        const std::string img = td.file("long-images");
        write_bytes(img, idx_bytes(0x803, {t.n, t.rows, t.cols}, long_px), false);
        check_error([&] { load_idx(img, lbl); }, ErrorCode::io, {"long-images", "expected 40", "got 41"});
    }
    SUBCASE("bad magic") {
        const std::string img = td.file("magic-images");
        write_bytes(img, idx_bytes(0x801, {t.n, t.rows, t.cols}, t.pixels), false);
        check_error([&] { load_idx(img, lbl); }, ErrorCode::io, {"magic-images", "magic"});
        // labels file with an images magic
        const std::string good = td.file("good-images");
        write_bytes(good, idx_bytes(0x803, {t.n, t.rows, t.cols}, t.pixels), false);
        check_error([&] { load_idx(good, good); }, ErrorCode::io, {"good-images", "magic"});
    }
    SUBCASE("label count differs from image count") {
        const std::string img = td.file("three-images");
        std::vector<unsigned char> px3(t.pixels.begin(), t.pixels.begin() + 18);
        write_bytes(img, idx_bytes(0x803, {3, t.rows, t.cols}, px3), false);
        check_error([&] { load_idx(img, lbl); }, ErrorCode::io, {"labels", "three-images"});
    }
    SUBCASE("missing file") {
        check_error([&] { load_idx(td.file("nope"), lbl); }, ErrorCode::io, {"nope"});
    }
}

TEST_CASE("load_fashion_mnist finds gz or plain files and explains missing ones") {
    TempDir td("data_fm");
    TinyIdx t;
    t.write(td.file("train-images-idx3-ubyte.gz"), td.file("train-labels-idx1-ubyte.gz"), true);
    t.write(td.file("t10k-images-idx3-ubyte"), td.file("t10k-labels-idx1-ubyte"), false);
    const Dataset tr = load_fashion_mnist(td.path.string(), "train");
    const Dataset te = load_fashion_mnist(td.path.string(), "t10k");
    CHECK(tr.n == 4);
    CHECK(te.n == 4);
    CHECK(tr.x == te.x);
    CHECK(tr.n_classes == 10); // at least 10 for Fashion-MNIST

    try {
        load_fashion_mnist(td.file("no-such-dir"), "train");
        FAIL("expected an error");
    } catch (const Error & e) {
        CHECK(e.code() == ErrorCode::io);
        CHECK(std::string(e.what()).find("no-such-dir") != std::string::npos);
        REQUIRE(!e.hints().empty());
        bool mentions = false;
        for (const auto & h : e.hints()) mentions |= h.find("dataset-fashion-mnist") != std::string::npos;
        CHECK(mentions);
        bool env = false;
        for (const auto & h : e.hints()) env |= h.find("MOE_FASHION_MNIST_DIR") != std::string::npos;
        CHECK(env);
    }
    check_error([&] { load_fashion_mnist(td.path.string(), "valid"); }, ErrorCode::io, {"valid-images-idx3-ubyte"});
}

TEST_CASE("fashion_mnist_dir resolution order") {
    const char * old = std::getenv("MOE_FASHION_MNIST_DIR");
    const std::string saved = old ? old : "";
    CHECK(fashion_mnist_dir("/my/dir") == "/my/dir");
    ::setenv("MOE_FASHION_MNIST_DIR", "/from/env", 1);
    CHECK(fashion_mnist_dir("") == "/from/env");
    CHECK(fashion_mnist_dir("/my/dir") == "/my/dir");
    ::unsetenv("MOE_FASHION_MNIST_DIR");
    CHECK(fashion_mnist_dir("") == "/usr/share/datasets/fashion-mnist");
    if (old) ::setenv("MOE_FASHION_MNIST_DIR", saved.c_str(), 1);
}

TEST_CASE("the installed Fashion-MNIST loads" * doctest::skip(!have_fashion())) {
    const Dataset tr = load_fashion_mnist(k_fashion_dir, "train");
    CHECK(tr.n == 60000);
    CHECK(tr.height == 28);
    CHECK(tr.width == 28);
    CHECK(tr.d == 784);
    CHECK(tr.n_classes == 10);
    const auto [lo, hi] = std::minmax_element(tr.x.begin(), tr.x.end());
    CHECK(*lo == 0.0f);
    CHECK(*hi == 1.0f);
    std::vector<int> counts(10, 0);
    for (int32_t y : tr.y) counts[size_t(y)]++;
    for (int c : counts) CHECK(c == 6000); // Fashion-MNIST training set is balanced
}

// ============================================================================ CSV

TEST_CASE("load_csv parses features, labels and task ids") {
    TempDir td("data_csv");
    SUBCASE("header, label last") {
        const std::string p = td.file("a.csv");
        std::ofstream(p) << "f1,f2,label\n1.5, -2 ,0\n\n3e-1,4,2\r\n";
        const Dataset ds = load_csv(p, -1, -2, true);
        CHECK(ds.n == 2);
        CHECK(ds.d == 2);
        CHECK(ds.channels == 0);
        CHECK_FALSE(ds.is_image());
        CHECK(ds.n_classes == 3);
        CHECK(ds.x == std::vector<float>{1.5f, -2.0f, 0.3f, 4.0f});
        CHECK(ds.y == std::vector<int32_t>{0, 2});
        CHECK(ds.task == std::vector<int32_t>{0, 0});
    }
    SUBCASE("task last, label before it") {
        const std::string p = td.file("b.csv");
        std::ofstream(p) << "1,2,3,1,0\n4,5,6,0,1\n";
        const Dataset ds = load_csv(p, -1, -1, false);
        CHECK(ds.d == 3);
        CHECK(ds.y == std::vector<int32_t>{1, 0});
        CHECK(ds.task == std::vector<int32_t>{0, 1});
        CHECK(ds.x == std::vector<float>{1, 2, 3, 4, 5, 6});
    }
    SUBCASE("label first") {
        const std::string p = td.file("c.csv");
        std::ofstream(p) << "2,0.5,0.25\n1,1,1\n";
        const Dataset ds = load_csv(p, 0, -2, false);
        CHECK(ds.y == std::vector<int32_t>{2, 1});
        CHECK(ds.x == std::vector<float>{0.5f, 0.25f, 1, 1});
    }
}

TEST_CASE("load_csv skips a UTF-8 byte-order mark and names UTF-16") {
    TempDir td("data_csvbom");
    const std::string p = td.file("bom.csv");
    SUBCASE("without a header: the first cell is a number") {
        std::ofstream(p, std::ios::binary) << "\xEF\xBB\xBF"
                                           << "0.1,0.2,1\n0.3,0.4,0\n";
        const Dataset ds = load_csv(p, -1, -2, false);
        CHECK(ds.n == 2);
        CHECK(ds.x == std::vector<float>{0.1f, 0.2f, 0.3f, 0.4f});
        CHECK(ds.y == std::vector<int32_t>{1, 0});
    }
    SUBCASE("with a header, gzip-compressed") {
        const std::string gz = td.file("bom.csv.gz");
        const std::string text = "\xEF\xBB\xBF"
                                 "a,b,label\n1,2,0\n";
        write_bytes(gz, std::vector<unsigned char>(text.begin(), text.end()), true);
        const Dataset ds = load_csv(gz, -1, -2, true);
        CHECK(ds.n == 1);
        CHECK(ds.x == std::vector<float>{1, 2});
    }
    SUBCASE("a BOM inside the file is still a bad cell, with its column") {
        std::ofstream(p, std::ios::binary) << "1,2,0\n\xEF\xBB\xBF"
                                           << "3,4,1\n";
        check_error([&] { load_csv(p, -1, -2, false); }, ErrorCode::io, {p + ":2:1:", "expected a number"});
    }
    SUBCASE("UTF-16") {
        std::ofstream(p, std::ios::binary) << "\xFF\xFE" << std::string("1\0,\0", 4);
        check_error([&] { load_csv(p, -1, -2, false); }, ErrorCode::io, {p + ": the file is UTF-16"});
    }
}

TEST_CASE("load_csv reports file, line and column") {
    TempDir td("data_csvbad");
    const std::string p = td.file("bad.csv");
    SUBCASE("ragged row") {
        std::ofstream(p) << "a,b,c\n1,2,0\n3,4\n";
        check_error([&] { load_csv(p, -1, -2, true); }, ErrorCode::io, {p + ":3:3:", "2 columns", "expected 3"});
    }
    SUBCASE("non-numeric cell") {
        std::ofstream(p) << "1,2,0\n3,x4,1\n";
        check_error([&] { load_csv(p, -1, -2, false); }, ErrorCode::io, {p + ":2:2:", "x4"});
    }
    SUBCASE("non-finite value") {
        std::ofstream(p) << "1,nan,0\n";
        check_error([&] { load_csv(p, -1, -2, false); }, ErrorCode::io, {p + ":1:2:"});
    }
    SUBCASE("negative or fractional label") {
        std::ofstream(p) << "1,2,0\n1,2,-1\n";
        check_error([&] { load_csv(p, -1, -2, false); }, ErrorCode::io, {p + ":2:3:", "label"});
        std::ofstream(p) << "1,2,1.5\n";
        check_error([&] { load_csv(p, -1, -2, false); }, ErrorCode::io, {p + ":1:3:", "label"});
    }
    SUBCASE("empty file and missing file") {
        std::ofstream(p) << "h1,h2\n";
        check_error([&] { load_csv(p, -1, -2, true); }, ErrorCode::io, {p, "no data"});
        check_error([&] { load_csv(td.file("missing.csv"), -1, -2, false); }, ErrorCode::io, {"missing.csv"});
    }
    SUBCASE("label column out of range is a spec error") {
        std::ofstream(p) << "1,2,0\n";
        check_error([&] { load_csv(p, 7, -2, false); }, ErrorCode::spec, {p});
    }
}

// ============================================================================ HDF5

namespace {
void h5_write(hid_t file, const char * name, hid_t type, const std::vector<hsize_t> & dims, const void * data) {
    hid_t space = H5Screate_simple(int(dims.size()), dims.data(), nullptr);
    hid_t ds = H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(ds >= 0);
    REQUIRE(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(ds);
    H5Sclose(space);
}
} // namespace

TEST_CASE("load_hdf5 round trip") {
    TempDir td("data_h5");
    const std::string p = td.file("data.h5");
    const std::vector<double> feats = {0.5, 1.5, 2.5, -1, -2, -3, 7, 8, 9, 0, 0, 1}; // (4,3) as double
    const std::vector<int64_t> labels = {0, 3, 1, 3};
    const std::vector<uint8_t> tasks = {0, 1, 1, 0};
    const std::vector<float> img(4 * 2 * 2, 0.25f); // (4,2,2)
    const std::vector<int32_t> bad_labels = {0, -1, 1, 2};
    {
        hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        REQUIRE(f >= 0);
        h5_write(f, "features", H5T_NATIVE_DOUBLE, {4, 3}, feats.data());
        h5_write(f, "labels", H5T_NATIVE_INT64, {4}, labels.data());
        h5_write(f, "task", H5T_NATIVE_UINT8, {4}, tasks.data());
        h5_write(f, "images", H5T_NATIVE_FLOAT, {4, 2, 2}, img.data());
        h5_write(f, "float_labels", H5T_NATIVE_FLOAT, {4}, img.data());
        h5_write(f, "bad_labels", H5T_NATIVE_INT32, {4}, bad_labels.data());
        h5_write(f, "short_labels", H5T_NATIVE_INT64, {3}, labels.data());
        H5Fclose(f);
    }
    const Dataset ds = load_hdf5(p, "features", "labels", "task");
    CHECK(ds.n == 4);
    CHECK(ds.d == 3);
    CHECK(ds.channels == 0);
    CHECK(ds.n_classes == 4);
    for (size_t i = 0; i < feats.size(); ++i) CHECK(ds.x[i] == float(feats[i]));
    CHECK(ds.y == std::vector<int32_t>{0, 3, 1, 3});
    CHECK(ds.task == std::vector<int32_t>{0, 1, 1, 0});

    const Dataset im = load_hdf5(p, "images", "labels", "");
    CHECK(im.is_image());
    CHECK(im.channels == 1);
    CHECK(im.height == 2);
    CHECK(im.width == 2);
    CHECK(im.d == 4);
    CHECK(im.task == std::vector<int32_t>{0, 0, 0, 0});

    check_error([&] { load_hdf5(p, "nope", "labels", ""); }, ErrorCode::io, {"data.h5", "nope"});
    check_error([&] { load_hdf5(p, "features", "float_labels", ""); }, ErrorCode::io, {"data.h5", "float_labels"});
    check_error([&] { load_hdf5(p, "features", "bad_labels", ""); }, ErrorCode::io, {"data.h5", "bad_labels", "1"});
    check_error([&] { load_hdf5(p, "features", "short_labels", ""); }, ErrorCode::io, {"data.h5", "short_labels"});
    check_error([&] { load_hdf5(td.file("missing.h5"), "features", "labels", ""); }, ErrorCode::io, {"missing.h5"});
    const std::string not_h5 = td.file("plain.txt");
    std::ofstream(not_h5) << "hello\n";
    check_error([&] { load_hdf5(not_h5, "features", "labels", ""); }, ErrorCode::io, {"plain.txt"});
    CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0); // every handle closed, error paths included
}

// ============================================================================ transforms

TEST_CASE("rotate90 and flips") {
    const Dataset orig = make_image(3, 4, 5); // non-square on purpose
    SUBCASE("one quarter turn is counter-clockwise") {
        Dataset ds = orig;
        apply_transform(ds, tf("rotate90"), 0);
        CHECK(ds.height == 5);
        CHECK(ds.width == 4);
        // top-right corner moves to the top-left, top-left to the bottom-left
        CHECK(px(ds, 1, 0, 0) == px(orig, 1, 0, 4));
        CHECK(px(ds, 1, 4, 0) == px(orig, 1, 0, 0));
        CHECK(px(ds, 1, 4, 3) == px(orig, 1, 3, 0));
    }
    SUBCASE("four quarter turns are the identity; k=2 equals two turns; k=-1 equals k=3") {
        Dataset ds = orig;
        for (int i = 0; i < 4; ++i) apply_transform(ds, tf("rotate90"), 0);
        CHECK(ds.x == orig.x);
        CHECK(ds.height == 4);
        Dataset a = orig, b = orig, c = orig, e = orig;
        TransformConfig t2 = tf("rotate90");
        t2.k = 2;
        apply_transform(a, t2, 0);
        apply_transform(b, tf("rotate90"), 0);
        apply_transform(b, tf("rotate90"), 0);
        CHECK(a.x == b.x);
        TransformConfig tm = tf("rotate90"), t3 = tf("rotate90");
        tm.k = -1;
        t3.k = 3;
        apply_transform(c, tm, 0);
        apply_transform(e, t3, 0);
        CHECK(c.x == e.x);
        CHECK(c.x != orig.x);
    }
    SUBCASE("hflip and vflip") {
        Dataset h = orig, v = orig;
        apply_transform(h, tf("hflip"), 0);
        apply_transform(v, tf("vflip"), 0);
        CHECK(px(h, 2, 1, 0) == px(orig, 2, 1, 4));
        CHECK(px(v, 2, 0, 1) == px(orig, 2, 3, 1));
        CHECK(h.x != orig.x);
        apply_transform(h, tf("hflip"), 0);
        apply_transform(v, tf("vflip"), 0);
        CHECK(h.x == orig.x);
        CHECK(v.x == orig.x);
        // hflip + vflip == rotate by 180
        Dataset hv = orig, r2 = orig;
        apply_transform(hv, tf("hflip"), 0);
        apply_transform(hv, tf("vflip"), 0);
        TransformConfig t2 = tf("rotate90");
        t2.k = 2;
        apply_transform(r2, t2, 0);
        CHECK(hv.x == r2.x);
    }
}

TEST_CASE("rotate by an angle") {
    const Dataset orig = make_image(2, 7, 7);
    SUBCASE("90 degrees matches rotate90") {
        Dataset a = orig, b = orig;
        TransformConfig t = tf("rotate");
        t.angle = 90.0;
        apply_transform(a, t, 0);
        apply_transform(b, tf("rotate90"), 0);
        for (int s = 0; s < 2; ++s)
            for (int r = 1; r < 6; ++r)
                for (int c = 1; c < 6; ++c) CHECK(px(a, s, r, c) == doctest::Approx(px(b, s, r, c)).epsilon(1e-5));
    }
    SUBCASE("0 degrees is the identity, 45 degrees keeps the centre and zero-fills corners") {
        Dataset a = orig;
        TransformConfig t = tf("rotate");
        apply_transform(a, t, 0);
        for (size_t i = 0; i < a.x.size(); ++i) CHECK(a.x[i] == doctest::Approx(orig.x[i]));
        Dataset b = orig;
        t.angle = 45.0;
        apply_transform(b, t, 0);
        CHECK(px(b, 0, 3, 3) == doctest::Approx(px(orig, 0, 3, 3)));
        CHECK(px(b, 0, 0, 0) == 0.0f);
        CHECK(px(b, 1, 6, 6) == 0.0f);
    }
}

TEST_CASE("invert, permute, noise, blur") {
    const Dataset orig = make_image(5, 6, 6);
    SUBCASE("invert") {
        Dataset ds = orig;
        apply_transform(ds, tf("invert"), 0);
        for (size_t i = 0; i < ds.x.size(); ++i) CHECK(ds.x[i] == doctest::Approx(1.0f - orig.x[i]));
    }
    SUBCASE("permute is a fixed permutation that depends only on its own seed") {
        Dataset train = orig, test = orig;
        TransformConfig t = tf("permute");
        t.seed = 17;
        apply_transform(train, t, 1); // build_splits passes different seeds for train and test
        apply_transform(test, t, 999);
        CHECK(train.x == test.x);
        CHECK(train.x != orig.x);
        for (int64_t s = 0; s < orig.n; ++s) {
            std::vector<float> a(orig.x.begin() + s * 36, orig.x.begin() + (s + 1) * 36);
            std::vector<float> b(train.x.begin() + s * 36, train.x.begin() + (s + 1) * 36);
            std::sort(a.begin(), a.end());
            std::sort(b.begin(), b.end());
            CHECK(a == b); // same values per sample: a permutation
        }
        // the same pixel moves to the same place in every sample
        size_t src0 = 0;
        for (size_t i = 0; i < 36; ++i)
            if (orig.x[i] == train.x[0]) src0 = i;
        for (int64_t s = 1; s < orig.n; ++s) CHECK(train.x[size_t(s) * 36] == orig.x[size_t(s) * 36 + src0]);
        Dataset other = orig;
        t.seed = 18;
        apply_transform(other, t, 1);
        CHECK(other.x != train.x);
    }
    SUBCASE("permute works on flat features") {
        Dataset flat = orig;
        flat.channels = flat.height = flat.width = 0;
        TransformConfig t = tf("permute");
        apply_transform(flat, t, 0);
        std::vector<float> a = flat.x, b = orig.x;
        std::sort(a.begin(), a.end());
        std::sort(b.begin(), b.end());
        CHECK(a == b);
        CHECK(flat.x != orig.x);
    }
    SUBCASE("noise is reproducible, seed dependent and clipped for images") {
        Dataset a = orig, b = orig, c = orig;
        TransformConfig t = tf("noise");
        t.std = 0.3;
        apply_transform(a, t, 5);
        apply_transform(b, t, 5);
        apply_transform(c, t, 6);
        CHECK(a.x == b.x);
        CHECK(a.x != c.x);
        CHECK(a.x != orig.x);
        const auto [lo, hi] = std::minmax_element(a.x.begin(), a.x.end());
        CHECK(*lo >= 0.0f);
        CHECK(*hi <= 1.0f);
        // on flat data the noise is not clipped and has about the requested std
        Dataset flat;
        flat.n = 2000;
        flat.d = 10;
        flat.x.assign(20000, 0.0f);
        flat.y.assign(2000, 0);
        flat.task.assign(2000, 0);
        apply_transform(flat, t, 1);
        double s2 = 0;
        for (float v : flat.x) s2 += double(v) * v;
        CHECK(std::sqrt(s2 / 20000.0) == doctest::Approx(0.3).epsilon(0.03));
    }
    SUBCASE("blur smooths and roughly preserves the mean") {
        Dataset ds = make_image(3, 12, 12);
        // checkerboard on sample 0
        for (int r = 0; r < 12; ++r)
            for (int c = 0; c < 12; ++c) ds.x[size_t(r) * 12 + c] = float((r + c) % 2);
        const Dataset before = ds;
        TransformConfig t = tf("blur");
        t.sigma = 1.0;
        apply_transform(ds, t, 0);
        CHECK(mean_of(ds.x) == doctest::Approx(mean_of(before.x)).epsilon(0.05));
        for (int r = 3; r < 9; ++r)
            for (int c = 3; c < 9; ++c) CHECK(std::fabs(px(ds, 0, r, c) - 0.5f) < 0.05f);
        // a constant image stays constant
        Dataset k = orig;
        std::fill(k.x.begin(), k.x.end(), 0.7f);
        apply_transform(k, t, 0);
        for (float v : k.x) CHECK(v == doctest::Approx(0.7f));
        // a sigma whose square underflows is the identity, not NaN
        Dataset tiny = before;
        t.sigma = 1e-300;
        apply_transform(tiny, t, 0);
        CHECK(tiny.x == before.x);
    }
    SUBCASE("bad transforms") {
        Dataset flat = orig;
        flat.channels = flat.height = flat.width = 0;
        for (const char * kind : {"rotate90", "rotate", "hflip", "vflip", "blur"}) {
            CAPTURE(kind);
            check_error([&] { apply_transform(flat, tf(kind), 0); }, ErrorCode::spec, {kind});
        }
        Dataset ds = orig;
        check_error([&] { apply_transform(ds, tf("shear"), 0); }, ErrorCode::spec, {"shear"});
        TransformConfig t = tf("blur");
        t.sigma = 0.0;
        check_error([&] { apply_transform(ds, t, 0); }, ErrorCode::spec, {"sigma"});
    }
}

TEST_CASE("subset_classes and append") {
    Dataset ds = make_image(9, 2, 2); // labels 0,1,2,0,1,2,...
    const Dataset kept = subset_classes(ds, {2, 0}, false);
    CHECK(kept.n == 6);
    CHECK(kept.n_classes == 3);
    CHECK(kept.y == std::vector<int32_t>{0, 2, 0, 2, 0, 2});
    CHECK(kept.x[4] == ds.x[8]); // second kept sample is source sample 2
    const Dataset rel = subset_classes(ds, {2, 0}, true);
    CHECK(rel.n_classes == 2);
    CHECK(rel.y == std::vector<int32_t>{1, 0, 1, 0, 1, 0});
    CHECK(subset_classes(ds, {}, true).n == 9);
    check_error([&] { subset_classes(ds, {3}, false); }, ErrorCode::spec, {"3"});
    check_error([&] { subset_classes(ds, {1, 1}, false); }, ErrorCode::spec, {"twice"});

    Dataset a = kept;
    append(a, rel);
    CHECK(a.n == 12);
    CHECK(a.x.size() == 48);
    CHECK(a.y.size() == 12);
    CHECK(a.n_classes == 3);
    Dataset empty;
    append(empty, kept);
    CHECK(empty.n == 6);
    CHECK(empty.d == 4);
    const Dataset other = make_image(2, 1, 4); // same d, other geometry
    check_error([&] { append(a, other); }, ErrorCode::spec, {"shape"});
}

// ============================================================================ synthetic

TEST_CASE("make_synthetic is deterministic, task-structured and uses several classes") {
    SyntheticConfig cfg;
    cfg.n_tasks = 3;
    cfg.dim = 8;
    cfg.n_classes = 4;
    cfg.hidden = 16;
    cfg.n_train = 400;
    cfg.n_test = 100;
    cfg.separation = 6.0;
    Dataset tr, te, tr2, te2, tr3, te3;
    make_synthetic(tr, te, cfg, 42);
    make_synthetic(tr2, te2, cfg, 42);
    make_synthetic(tr3, te3, cfg, 43);
    CHECK(tr.n == 1200);
    CHECK(te.n == 300);
    CHECK(tr.d == 8);
    CHECK(tr.n_classes == 4);
    CHECK_FALSE(tr.is_image());
    CHECK(tr.x == tr2.x);
    CHECK(tr.y == tr2.y);
    CHECK(te.x == te2.x);
    CHECK(tr.x != tr3.x);
    CHECK(tr.x != te.x);

    std::vector<std::vector<double>> means(3, std::vector<double>(8, 0.0));
    std::vector<std::set<int>> classes(3);
    std::vector<int> count(3, 0);
    for (int64_t s = 0; s < tr.n; ++s) {
        const int t = tr.task[s];
        REQUIRE(t >= 0);
        REQUIRE(t < 3);
        CHECK(tr.y[s] >= 0);
        CHECK(tr.y[s] < 4);
        classes[t].insert(tr.y[s]);
        count[t]++;
        for (int j = 0; j < 8; ++j) means[t][j] += tr.x[size_t(s) * 8 + j];
    }
    for (int t = 0; t < 3; ++t) {
        CHECK(count[t] == 400);
        CHECK(classes[t].size() >= 2);
        double norm2 = 0;
        for (int j = 0; j < 8; ++j) {
            means[t][j] /= 400.0;
            norm2 += means[t][j] * means[t][j];
        }
        CHECK(std::sqrt(norm2) == doctest::Approx(6.0).epsilon(0.1)); // |mu_t| = separation
    }
    // test labels come from the same teachers: same task means, shared label set
    std::set<int> test_tasks(te.task.begin(), te.task.end());
    CHECK(test_tasks.size() == 3);

    SyntheticConfig bad = cfg;
    bad.n_classes = 1;
    check_error([&] { make_synthetic(tr, te, bad, 1); }, ErrorCode::spec, {"n_classes"});
}

// ============================================================================ build_splits

TEST_CASE("build_splits on Fashion-MNIST with tasks, limits and normalisation" * doctest::skip(!have_fashion())) {
    DataConfig cfg;
    cfg.source = "fashion-mnist";
    cfg.dir = k_fashion_dir;
    cfg.train_limit = 1000;
    cfg.test_limit = 300;
    cfg.val_fraction = 0.1;
    TaskConfig a;
    a.name = "upright";
    TaskConfig b;
    b.classes = {0, 1, 2};
    b.relabel = true;
    b.weight = 0.5;
    b.transforms = {tf("rotate90")};
    TaskConfig c;
    c.name = "permuted";
    TransformConfig p = tf("permute");
    p.seed = 3;
    c.transforms = {p, tf("noise")};
    cfg.tasks = {a, b, c};

    const Splits s = build_splits(cfg, 7);
    REQUIRE(s.task_names.size() == 3);
    CHECK(s.task_names[0] == "upright");
    CHECK(s.task_names[1] == "task1");
    CHECK(s.task_names[2] == "permuted");
    const Dataset first = load_fashion_mnist(k_fashion_dir, "train");
    int64_t n_b = 0;
    for (int i = 0; i < 1000; ++i) n_b += first.y[size_t(i)] <= 2;
    const int64_t n_train_total = 1000 + std::llround(0.5 * double(n_b)) + 1000;
    CHECK(s.train.n + s.val.n == n_train_total);
    CHECK(s.val.n == std::llround(0.1 * double(n_train_total)));
    int64_t n_b_test = 0;
    const Dataset tfirst = load_fashion_mnist(k_fashion_dir, "t10k");
    for (int i = 0; i < 300; ++i) n_b_test += tfirst.y[size_t(i)] <= 2;
    CHECK(s.test.n == 300 + n_b_test + 300);
    CHECK(s.train.n_classes == 10);
    CHECK(s.val.n_classes == 10);
    CHECK(s.test.n_classes == 10);
    CHECK(s.train.d == 784);
    CHECK(s.train.is_image());

    std::vector<int64_t> per_task(3, 0);
    for (int64_t i = 0; i < s.train.n; ++i) {
        const int t = s.train.task[size_t(i)];
        REQUIRE(t >= 0);
        REQUIRE(t < 3);
        per_task[t]++;
        if (t == 1) CHECK(s.train.y[size_t(i)] < 3);
    }
    for (int64_t v : per_task) CHECK(v > 0);
    std::set<int> test_tasks(s.test.task.begin(), s.test.task.end());
    CHECK(test_tasks == std::set<int>{0, 1, 2});
    CHECK(s.test.task.front() == 0);
    CHECK(s.test.task.back() == 2);

    // standard normalisation: training features have mean 0, std 1
    double sum = 0, sum2 = 0;
    for (float v : s.train.x) sum += v;
    const double m = sum / double(s.train.x.size());
    for (float v : s.train.x) sum2 += (v - m) * (v - m);
    CHECK(std::fabs(m) < 1e-4);
    CHECK(std::sqrt(sum2 / double(s.train.x.size())) == doctest::Approx(1.0).epsilon(1e-3));
    CHECK(std::fabs(mean_of(s.test.x)) < 0.2);

    // deterministic in the seed
    const Splits s2 = build_splits(cfg, 7);
    CHECK(s2.train.x == s.train.x);
    CHECK(s2.val.y == s.val.y);
    CHECK(s2.test.x == s.test.x);
    const Splits s3 = build_splits(cfg, 8);
    CHECK(s3.train.x != s.train.x);
}

TEST_CASE("build_splits: one task by default, no normalisation, no validation" * doctest::skip(!have_fashion())) {
    DataConfig cfg;
    cfg.dir = k_fashion_dir;
    cfg.train_limit = 200;
    cfg.test_limit = 50;
    cfg.val_fraction = 0.0;
    cfg.normalize = "none";
    const Splits s = build_splits(cfg, 1);
    CHECK(s.task_names == std::vector<std::string>{"all"});
    CHECK(s.train.n == 200);
    CHECK(s.val.n == 0);
    CHECK(s.val.d == 784);
    CHECK(s.test.n == 50);
    const Dataset first = load_fashion_mnist(k_fashion_dir, "train");
    CHECK(std::equal(s.train.x.begin(), s.train.x.end(), first.x.begin())); // first 200, in order, raw
}

TEST_CASE("build_splits with synthetic, CSV and bad configurations") {
    SUBCASE("synthetic keeps the generated tasks") {
        DataConfig cfg;
        cfg.source = "synthetic";
        cfg.synthetic.n_tasks = 3;
        cfg.synthetic.dim = 6;
        cfg.synthetic.n_train = 100;
        cfg.synthetic.n_test = 20;
        cfg.val_fraction = 0.2;
        const Splits s = build_splits(cfg, 5);
        CHECK(s.task_names == std::vector<std::string>{"task0", "task1", "task2"});
        CHECK(s.train.n == 240);
        CHECK(s.val.n == 60);
        CHECK(s.test.n == 60);
        CHECK(s.train.n_classes == cfg.synthetic.n_classes);
        std::set<int> ts(s.train.task.begin(), s.train.task.end());
        CHECK(ts == std::set<int>{0, 1, 2});

        // without normalisation, train + val is exactly the generated training set
        cfg.normalize = "none";
        const Splits raw = build_splits(cfg, 5);
        Dataset gen_tr, gen_te;
        make_synthetic(gen_tr, gen_te, cfg.synthetic, 5);
        // rows (features, label, task) of data sets, sorted
        auto sorted_rows = [](std::initializer_list<const Dataset *> sets) {
            std::vector<std::vector<float>> rows;
            for (const Dataset * ds : sets)
                for (int64_t i = 0; i < ds->n; ++i) {
                    std::vector<float> row(ds->x.begin() + i * ds->d, ds->x.begin() + (i + 1) * ds->d);
                    row.push_back(float(ds->y[size_t(i)]));
                    row.push_back(float(ds->task[size_t(i)]));
                    rows.push_back(row);
                }
            std::sort(rows.begin(), rows.end());
            return rows;
        };
        CHECK(sorted_rows({&raw.train, &raw.val}) == sorted_rows({&gen_tr}));
        CHECK(sorted_rows({&raw.test}) == sorted_rows({&gen_te}));
        CHECK(std::is_sorted(raw.test.task.begin(), raw.test.task.end()));                 // tasks in blocks
        CHECK(raw.val.task != std::vector<int32_t>(raw.val.task.size(), raw.val.task[0])); // mixed tasks

        // renaming / weighting entries, one per generated task
        cfg.tasks.resize(3);
        cfg.tasks[0].name = "a";
        cfg.tasks[2].weight = 0.5;
        const Splits w = build_splits(cfg, 5);
        CHECK(w.task_names == std::vector<std::string>{"a", "task1", "task2"});
        CHECK(w.train.n + w.val.n == 250);
        cfg.tasks.resize(2);
        check_error([&] { build_splits(cfg, 5); }, ErrorCode::spec, {"tasks"});
    }
    SUBCASE("csv train and test files") {
        TempDir td("data_splitcsv");
        std::ofstream(td.file("tr.csv")) << "0,0,0\n1,1,1\n2,2,0\n3,3,1\n";
        std::ofstream(td.file("te.csv")) << "5,5,1\n";
        DataConfig cfg;
        cfg.source = "csv";
        cfg.train_path = td.file("tr.csv");
        cfg.test_path = td.file("te.csv");
        cfg.val_fraction = 0.25;
        const Splits s = build_splits(cfg, 0);
        CHECK(s.train.n == 3);
        CHECK(s.val.n == 1);
        CHECK(s.test.n == 1);
        CHECK(s.train.d == 2);
        CHECK(s.train.n_classes == 2);
        double sum = 0;
        for (float v : s.train.x) sum += v;
        CHECK(std::fabs(sum) < 1e-5);
        cfg.test_path = "";
        CHECK(build_splits(cfg, 0).test.n == 0);
    }
    SUBCASE("bad configurations") {
        DataConfig cfg;
        cfg.source = "mnist-ish";
        check_error([&] { build_splits(cfg, 0); }, ErrorCode::spec, {"mnist-ish"});
        cfg.source = "synthetic";
        cfg.normalize = "minmax";
        check_error([&] { build_splits(cfg, 0); }, ErrorCode::spec, {"minmax"});
        cfg.normalize = "none";
        cfg.val_fraction = 1.0;
        check_error([&] { build_splits(cfg, 0); }, ErrorCode::spec, {"val_fraction"});
        cfg.val_fraction = 0.1;
        cfg.source = "csv";
        check_error([&] { build_splits(cfg, 0); }, ErrorCode::spec, {"train_path"});
        cfg.source = "fashion-mnist";
        cfg.dir = "/nonexistent/fmnist";
        check_error([&] { build_splits(cfg, 0); }, ErrorCode::io, {"/nonexistent/fmnist"});
    }
}

TEST_CASE("check_finite names the first bad sample") {
    Dataset ds = make_image(4, 2, 2);
    CHECK_NOTHROW(check_finite(ds, "train"));
    ds.x[9] = std::nanf("");
    check_error([&] { check_finite(ds, "train"); }, ErrorCode::io, {"train", "sample 2"});
}

// ============================================================================ Batcher

TEST_CASE("Batcher: deterministic, epoch dependent, covers each sample once") {
    Dataset ds;
    ds.n = 103;
    ds.d = 2;
    for (int64_t s = 0; s < ds.n; ++s) {
        ds.x.push_back(float(s));
        ds.x.push_back(float(-s));
        ds.y.push_back(int32_t(s % 7));
        ds.task.push_back(int32_t(s % 2));
    }
    const int B = 10;
    auto epoch_order = [&](Batcher & b, int64_t e) {
        b.start_epoch(e);
        std::vector<int64_t> order;
        std::vector<float> x(size_t(B) * 2);
        std::vector<int32_t> y(B), t(B);
        for (int64_t i = 0; i < b.batches_per_epoch(); ++i) {
            const int n = b.fill(i, x.data(), y.data(), t.data());
            CHECK(n == (i + 1 < b.batches_per_epoch() ? B : 3));
            for (int j = 0; j < n; ++j) {
                const int64_t s = int64_t(x[size_t(j) * 2]);
                CHECK(x[size_t(j) * 2 + 1] == -float(s));
                CHECK(y[size_t(j)] == s % 7);
                CHECK(t[size_t(j)] == s % 2);
                order.push_back(s);
            }
        }
        return order;
    };
    Batcher a(ds, B, true, 11), b(ds, B, true, 11), c(ds, B, true, 12);
    CHECK(a.batches_per_epoch() == 11);
    const auto a0 = epoch_order(a, 0), a1 = epoch_order(a, 1);
    CHECK(a.epoch() == 1);
    CHECK(a0 == epoch_order(b, 0));
    CHECK(a0 != a1);
    CHECK(a0 != epoch_order(c, 0));
    std::vector<int64_t> sorted = a0;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int64_t> all(103);
    for (int64_t i = 0; i < 103; ++i) all[size_t(i)] = i;
    CHECK(sorted == all);
    sorted = a1;
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == all);
    // resuming directly at epoch 5 gives the same order as reaching it
    for (int e = 2; e <= 5; ++e) epoch_order(a, e);
    const auto a5 = epoch_order(a, 5);
    Batcher fresh(ds, B, true, 11);
    CHECK(epoch_order(fresh, 5) == a5);

    Batcher plain(ds, B, false, 11);
    CHECK(epoch_order(plain, 3) == all);

    Batcher unstarted(ds, B, true, 1);
    std::vector<float> x(20);
    CHECK_THROWS_AS(unstarted.fill(0, x.data(), nullptr, nullptr), Error);
    CHECK_THROWS_AS(Batcher(ds, 0, true, 1), Error);
}

// ============================================================================ row limits

namespace {
// The first k rows of ds, as build_splits kept them before the loaders took the limit.
void check_prefix(const Dataset & part, const Dataset & whole, int64_t k) {
    const int64_t n = std::min(k, whole.n);
    CHECK(part.n == n);
    CHECK(part.d == whole.d);
    CHECK(part.channels == whole.channels);
    CHECK(part.height == whole.height);
    CHECK(part.width == whole.width);
    CHECK(std::vector<float>(part.x) == std::vector<float>(whole.x.begin(), whole.x.begin() + n * whole.d));
    CHECK(part.y == std::vector<int32_t>(whole.y.begin(), whole.y.begin() + n));
    CHECK(part.task == std::vector<int32_t>(whole.task.begin(), whole.task.begin() + n));
}
} // namespace

TEST_CASE("every loader reads only the first limit rows, the same rows as a whole read") {
    TempDir td("data_limit");
    SUBCASE("IDX, plain and gzip") {
        TinyIdx t;
        for (bool gz : {false, true}) {
            CAPTURE(gz);
            const std::string img = td.file(gz ? "i.gz" : "i"), lbl = td.file(gz ? "l.gz" : "l");
            t.write(img, lbl, gz);
            const Dataset whole = load_idx(img, lbl);
            for (int64_t k = 1; k <= 6; ++k) check_prefix(load_idx(img, lbl, k), whole, k);
        }
        // a plain file's size is still checked against its header
        write_bytes(td.file("cut"), idx_bytes(0x803, {t.n, t.rows, t.cols}, {t.pixels.begin(), t.pixels.end() - 5}),
                    false);
        write_bytes(td.file("cutl"), idx_bytes(0x801, {t.n}, t.labels), false);
        check_error([&] { load_idx(td.file("cut"), td.file("cutl"), 1); }, ErrorCode::io,
                    {"cut: truncated IDX file: expected 40 bytes, got 35"});
    }
    SUBCASE("CSV with a header, blank lines and no final newline") {
        const std::string p = td.file("a.csv");
        std::ofstream(p) << "f1,f2,label\n1,2,0\n\n3,4,1\n  \n5,6,2\n7,8,3";
        const Dataset whole = load_csv(p, -1, -2, true);
        REQUIRE(whole.n == 4);
        for (int64_t k = 1; k <= 5; ++k) check_prefix(load_csv(p, -1, -2, true, k), whole, k);
        // a bad cell past the limit is never read
        std::ofstream(td.file("b.csv")) << "1,2,0\n3,4,1\n5,x,2\n";
        check_prefix(load_csv(td.file("b.csv"), -1, -2, false, 2), load_csv(p, -1, -2, true), 2);
    }
    SUBCASE("HDF5: features, labels (n) and (n,1), task ids") {
        const std::string p = td.file("d.h5");
        std::vector<float> feats(5 * 2 * 3);
        for (size_t i = 0; i < feats.size(); ++i) feats[i] = float(i) * 0.5f;
        const std::vector<int32_t> labels = {3, 1, 0, 2, 1}, tasks = {0, 1, 0, 1, 1};
        hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        REQUIRE(f >= 0);
        h5_write(f, "x", H5T_NATIVE_FLOAT, {5, 2, 3}, feats.data());
        h5_write(f, "y", H5T_NATIVE_INT32, {5}, labels.data());
        h5_write(f, "y2", H5T_NATIVE_INT32, {5, 1}, labels.data());
        h5_write(f, "t", H5T_NATIVE_INT32, {5}, tasks.data());
        h5_write(f, "short", H5T_NATIVE_INT32, {4}, labels.data());
        H5Fclose(f);
        const Dataset whole = load_hdf5(p, "x", "y", "t");
        for (int64_t k = 1; k <= 6; ++k) {
            CAPTURE(k);
            check_prefix(load_hdf5(p, "x", "y", "t", k), whole, k);
            check_prefix(load_hdf5(p, "x", "y2", "t", k), whole, k);
        }
        // the shapes are checked against the whole file, not the rows read
        check_error([&] { load_hdf5(p, "x", "short", "", 2); }, ErrorCode::io, {"has shape (4), expected (5)"});
        CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0);
    }
}
