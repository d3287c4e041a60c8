// test_io.cpp — the HDF5 run file: write, commit, read back; temp-file hygiene; error reporting.
#include <doctest/doctest.h>
#include <hdf5.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "moe/core/error.hpp"
#include "moe/core/params.hpp"
#include "moe/io/run_file.hpp"
#include "moe/train/run_setup.hpp"
#include "unit/temp_dir.hpp"

namespace fs = std::filesystem;
using moe::io::RunReader;
using moe::io::RunWriter;
using moe::test::TempDir;

namespace {

// Runs f, expects a moe::Error with ErrorCode::io, returns its message ("" if none thrown).
template <typename F>
std::string io_error(F && f) {
    try {
        f();
    } catch (const moe::Error & e) {
        CHECK(e.code() == moe::ErrorCode::io);
        return e.what();
    } catch (const std::exception & e) {
        FAIL_CHECK("unexpected exception type: " << e.what());
        return "";
    }
    FAIL_CHECK("no exception thrown");
    return "";
}

bool contains(const std::string & s, const std::string & sub) { return s.find(sub) != std::string::npos; }

std::string slurp_text(const std::string & path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

template <typename T>
moe::ParamStore<T> small_store(uint64_t seed) {
    moe::ParamStore<T> st;
    st.declare("layers.0.weight", {2, 3}, true, moe::Init::Uniform(1.0));
    st.declare("embed.pos", {4}, false, moe::Init::Normal(0.5));
    st.allocate(seed);
    return st;
}

const std::string kSpec = R"({"model":{"kind":"mlp","hidden":[8]},"train":{"lr":0.001},"note":"ünïcødé"})";

// Writes the reference run used by several tests.
void write_reference_run(const std::string & out, const moe::ParamStore<float> & store) {
    RunWriter w(out, "moe-test");
    w.write_string("spec", kSpec);
    for (int i = 0; i < 3; ++i) {
        w.append("metrics/train/step", i + 1);
        w.append("metrics/train/loss", 2.0 - 0.25 * i);
    }
    const float r0[3] = {1, 2, 3}, r1[3] = {4, 5, 6}, r2[3] = {7, 8, 9};
    w.append_row("routing/blocks.0.moe/load", r0);
    w.append_row("routing/blocks.0.moe/load", r1);
    w.flush();
    w.append("metrics/train/step", 4);
    w.append("metrics/train/step", 5);
    w.append("metrics/train/loss", 1.25);
    w.append("metrics/train/loss", 1.0);
    w.append_row("routing/blocks.0.moe/load", r2);
    w.write_params(store);
    const std::vector<int64_t> ints = {1, -2, 3, 40000000000LL, 5, 6};
    w.write_array("stream/expansions", std::span<const int64_t>(ints), {2, 3});
    const std::vector<double> acc = {0.5, 0.75, 1.0, 0.25};
    w.write_array("stream/accuracy", std::span<const double>(acc), {2, 2});
    w.set_attr("/", "seed", 42.0);
    w.set_attr("metrics/train/loss", "unit", "nats"); // series still buffered: attr must not break it
    w.set_attr("stream", "kind", "expand");           // existing group
    w.set_attr("extra/group", "made", "here");        // group created on demand
    w.commit();
}

} // namespace

TEST_CASE("io: write a run, commit, read it back") {
    TempDir dir("io");
    const std::string out = dir.file("run.h5");
    auto store = small_store<float>(7);
    write_reference_run(out, store);

    CHECK(fs::exists(out));
    CHECK(moe::io::temporaries_of(out).empty());

    RunReader r(out);
    CHECK(r.path() == out);
    CHECK(r.spec_json() == kSpec);
    CHECK(r.attr_string("/", "format") == "moe-lab-run");
    CHECK(r.attr_string("/", "format_version") == std::to_string(moe::io::kRunFormatVersion));
    CHECK(r.attr_string("/", "tool") == "moe-test");
    CHECK_FALSE(r.attr_string("/", "version").empty());
    CHECK_FALSE(r.attr_string("/", "git").empty());
    const std::string created = r.attr_string("/", "created");
    REQUIRE(created.size() == 20); // 2024-01-02T03:04:05Z
    CHECK(created[4] == '-');
    CHECK(created[10] == 'T');
    CHECK(created.back() == 'Z');
    CHECK(r.attr_string("/", "seed") == "42");

    // 1-D series across two flushes (the second flushed by commit)
    CHECK(r.shape("metrics/train/step") == std::vector<int64_t>{5});
    CHECK(r.read_doubles("metrics/train/step") == std::vector<double>{1, 2, 3, 4, 5});
    CHECK(r.read_doubles("metrics/train/loss") == std::vector<double>{2.0, 1.75, 1.5, 1.25, 1.0});
    CHECK(r.attr_string("metrics/train/loss", "unit") == "nats");

    // 2-D row series
    CHECK(r.shape("routing/blocks.0.moe/load") == std::vector<int64_t>{3, 3});
    CHECK(r.read_floats("routing/blocks.0.moe/load") == std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9});

    // arrays, any numeric type converted
    CHECK(r.shape("stream/expansions") == std::vector<int64_t>{2, 3});
    CHECK(r.read_doubles("stream/expansions") == std::vector<double>{1, -2, 3, 40000000000.0, 5, 6});
    CHECK(r.read_floats("stream/accuracy") == std::vector<float>{0.5f, 0.75f, 1.0f, 0.25f});
    CHECK(r.attr_string("stream", "kind") == "expand");
    CHECK(r.attr_string("extra/group", "made") == "here");

    // parameters: shape, values, trainable
    CHECK(r.shape("params/layers.0.weight") == std::vector<int64_t>{2, 3});
    CHECK(r.shape("params/embed.pos") == std::vector<int64_t>{4});
    auto w = r.read_floats("params/layers.0.weight");
    REQUIRE(w.size() == 6);
    for (int i = 0; i < 6; ++i) CHECK(w[i] == store.value(0)[i]);
    CHECK(r.attr_string("params/layers.0.weight", "trainable") == "1");
    CHECK(r.attr_string("params/embed.pos", "trainable") == "0");

    CHECK(r.has("params/embed.pos"));
    CHECK(r.has("/metrics/train"));
    CHECK_FALSE(r.has("params/nope"));
    CHECK_FALSE(r.has("nope/deeper/still"));
    CHECK_FALSE(r.has("spec/child")); // intermediate is a dataset

    // missing objects and attributes name the file and the object
    std::string msg = io_error([&] { r.read_doubles("metrics/train/nope"); });
    CHECK(contains(msg, out));
    CHECK(contains(msg, "metrics/train/nope"));
    msg = io_error([&] { r.attr_string("params/embed.pos", "nope"); });
    CHECK(contains(msg, "params/embed.pos"));
    CHECK(contains(msg, "nope"));
    msg = io_error([&] { r.read_string("metrics/train/loss"); });
    CHECK(contains(msg, "metrics/train/loss"));

    // load_params round trip into a differently initialised store
    auto other = small_store<float>(99);
    REQUIRE(other.value(0)[0] != store.value(0)[0]);
    r.load_params(other, {});
    for (int id = 0; id < 2; ++id)
        for (size_t i = 0; i < store.info(id).size; ++i) CHECK(other.value(id)[i] == store.value(id)[i]);
}

TEST_CASE("io: series datasets are chunked with an unlimited first dimension") {
    TempDir dir("io");
    const std::string out = dir.file("run.h5");
    auto store = small_store<float>(1);
    write_reference_run(out, store);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    hid_t f = H5Fopen(out.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    REQUIRE(f >= 0);
    for (const char * name : {"/metrics/train/loss", "/routing/blocks.0.moe/load"}) {
        CAPTURE(name);
        hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
        REQUIRE(ds >= 0);
        hid_t sp = H5Dget_space(ds);
        hsize_t dims[2] = {0, 0}, maxdims[2] = {0, 0};
        int rank = H5Sget_simple_extent_dims(sp, dims, maxdims);
        CHECK(rank >= 1);
        CHECK(maxdims[0] == H5S_UNLIMITED);
        hid_t dcpl = H5Dget_create_plist(ds);
        CHECK(H5Pget_layout(dcpl) == H5D_CHUNKED);
        hid_t t = H5Dget_type(ds);
        CHECK(H5Tget_size(t) == (rank == 1 ? 8u : 4u)); // float64 1-D, float32 rows
        H5Tclose(t);
        H5Pclose(dcpl);
        H5Sclose(sp);
        H5Dclose(ds);
    }
    // parameters are float32
    hid_t ds = H5Dopen2(f, "/params/layers.0.weight", H5P_DEFAULT);
    REQUIRE(ds >= 0);
    hid_t t = H5Dget_type(ds);
    CHECK(H5Tget_class(t) == H5T_FLOAT);
    CHECK(H5Tget_size(t) == 4u);
    H5Tclose(t);
    H5Dclose(ds);
    H5Fclose(f);
}

TEST_CASE("io: writer destroyed without commit leaves nothing behind") {
    TempDir dir("io");
    const std::string out = dir.file("aborted.h5");
    std::string tmp;
    try {
        RunWriter w(out, "moe-test");
        tmp = w.temp_path();
        // "<out>.tmp-<pid>-<16 hex digits>": the pid for remove_stale_temporaries, the rest unpredictable
        const std::string pre = out + ".tmp-" + std::to_string(::getpid()) + "-";
        REQUIRE(tmp.size() == pre.size() + 16);
        CHECK(tmp.compare(0, pre.size(), pre) == 0);
        CHECK(tmp.find_first_not_of("0123456789abcdef", pre.size()) == std::string::npos);
        CHECK(moe::io::temporaries_of(out) == std::vector<std::string>{tmp});
        CHECK(w.final_path() == out);
        w.write_string("spec", "{}");
        w.append("metrics/train/loss", 1.0);
        w.flush();
        CHECK(fs::exists(tmp));
        CHECK_FALSE(fs::exists(out));
        throw std::runtime_error("simulated failure mid-run");
    } catch (const std::runtime_error & e) { CHECK(std::string(e.what()) == "simulated failure mid-run"); }
    CHECK_FALSE(fs::exists(tmp));
    CHECK_FALSE(fs::exists(out));
    CHECK(fs::is_empty(dir.path));
}

TEST_CASE("io: remove_live_temporaries unlinks the temporary files being written, and only those") {
    TempDir dir("io");
    const std::string done = dir.file("done.h5"), a = dir.file("a.h5"), b = dir.file("b.h5");
    {
        RunWriter w(done, "moe-test");
        w.write_string("spec", "{}");
        w.commit();
    }
    {
        RunWriter wa(a, "moe-test"), wb(b, "moe-test");
        CHECK(fs::exists(wa.temp_path()));
        CHECK(fs::exists(wb.temp_path()));
        moe::io::remove_live_temporaries(); // what the second SIGINT does before _exit
        CHECK_FALSE(fs::exists(wa.temp_path()));
        CHECK_FALSE(fs::exists(wb.temp_path()));
        CHECK(fs::is_regular_file(done)); // committed files are not temporaries
    }
    // the slots are free again: a new writer's temporary is tracked, a committed one no longer
    RunWriter w2(a, "moe-test");
    w2.write_string("spec", "{}");
    w2.commit();
    moe::io::remove_live_temporaries();
    CHECK(fs::is_regular_file(a));
    CHECK(fs::is_regular_file(done));
}

TEST_CASE("io: remove_stale_temporaries removes the temporaries of dead writers of this output, and only those") {
    TempDir dir("io");
    const pid_t dead = ::fork(); // a process id that no longer exists
    if (dead == 0) ::_exit(0);
    REQUIRE(dead > 0);
    int status = 0;
    REQUIRE(::waitpid(dead, &status, 0) == dead);
    const std::string d = std::to_string(dead), self = std::to_string(::getpid());
    const std::string out = dir.file("run.h5");
    auto touch = [&](const std::string & name) {
        std::ofstream(dir.file(name)) << "x";
        return dir.file(name);
    };
    const std::vector<std::string> gone = {
        touch("run.h5.tmp-" + d),                        // the names of older versions
        touch("run.h5.ckpt.tmp-" + d),                   //
        touch("run.h5.tmp-" + d + "-0123456789abcdef"),  // today's names
        touch("run.h5.ckpt.tmp-" + d + "-00ff00ff00ff"), //
    };
    const std::string victim = touch("victim.h5");
    fs::create_symlink(victim, dir.file("run.h5.tmp-" + d + "-abcdef")); // a planted link: not a writer's
    const std::vector<std::string> kept = {
        touch("run.h5.tmp-" + self),                       // this process's own writer
        touch("run.h5.tmp-" + self + "-0123456789abcdef"), //
        touch("run.h5.tmp-1"),                             // a live process (init)
        touch("run.h5.tmp-1-0123456789abcdef"),            //
        touch("run.h5.tmp-" + d + "x"),                    // not a pid
        touch("run.h5.tmp-" + d + "-XYZ"),                 // not hex after the pid
        touch("run.h5.tmp-" + d + "-"),                    // nothing after the pid
        touch("run.h5.tmp-"),                              // no pid
        touch("other.h5.tmp-" + d),                        // another output's
        touch("run.h5.ckpt"),                              // the checkpoint itself
        touch("run.h5.lock"),                              // its lock file
        touch("xrun.h5.tmp-" + d),                         // a name that only ends like it
        dir.file("run.h5.tmp-" + d + "-abcdef"),           // the link
        victim,
    };
    CHECK(moe::io::temporaries_of(out).size() == 7); // run.h5.tmp-*: 2 gone, 4 kept by pid, the link
    moe::io::remove_stale_temporaries(out);
    for (const auto & g : gone) CHECK_MESSAGE(!fs::exists(g), g);
    for (const auto & k : kept) CHECK_MESSAGE(fs::exists(fs::symlink_status(k)), k);
    CHECK(fs::is_symlink(dir.file("run.h5.tmp-" + d + "-abcdef")));
    CHECK(slurp_text(victim) == "x");
    moe::io::remove_stale_temporaries(dir.file("missing_dir/run.h5")); // a directory that does not exist: nothing
}

TEST_CASE("io: writer refuses a missing or non-directory parent") {
    TempDir dir("io");
    const std::string missing_dir = (dir.path / "no_such_dir").string();
    std::string msg = io_error([&] { RunWriter w(missing_dir + "/run.h5", "moe-test"); });
    CHECK(contains(msg, missing_dir));
    CHECK(contains(msg, "does not exist"));
    CHECK(contains(msg, "run.h5"));

    const std::string plain = dir.file("plain.txt");
    std::ofstream(plain) << "x";
    msg = io_error([&] { RunWriter w(plain + "/run.h5", "moe-test"); });
    CHECK(contains(msg, plain));
    CHECK(contains(msg, "not a directory"));
    CHECK(fs::is_regular_file(plain));
}

TEST_CASE("io: writer is closed after commit; bad row widths and shapes are errors") {
    TempDir dir("io");
    const std::string out = dir.file("run.h5");
    RunWriter w(out, "moe-test");
    const float a[2] = {1, 2}, b[3] = {1, 2, 3};
    w.append_row("routing/x/load", a);
    std::string msg = io_error([&] { w.append_row("routing/x/load", b); });
    CHECK(contains(msg, "routing/x/load"));
    CHECK(contains(msg, "width"));
    const std::vector<float> v = {1, 2, 3};
    msg = io_error([&] { w.write_array("bad", std::span<const float>(v), {2, 2}); });
    CHECK(contains(msg, "(2,2)"));
    // overwrite replaces the dataset (new shape) and the attribute
    w.write_array("arr", std::span<const float>(v), {3});
    w.write_array("arr", std::span<const float>(v.data(), 2), {1, 2});
    w.set_attr("arr", "k", "old");
    w.set_attr("arr", "k", "new");
    w.commit();
    CHECK(fs::exists(out));
    msg = io_error([&] { w.append("metrics/train/loss", 1.0); });
    CHECK(contains(msg, "committed"));
    io_error([&] { w.commit(); });

    RunReader r(out);
    CHECK(r.shape("arr") == std::vector<int64_t>{1, 2});
    CHECK(r.read_floats("arr") == std::vector<float>{1, 2});
    CHECK(r.attr_string("arr", "k") == "new");
    CHECK(r.read_floats("routing/x/load") == std::vector<float>{1, 2});
    // no spec was written: spec_json names the missing object
    msg = io_error([&] { r.spec_json(); });
    CHECK(contains(msg, "spec"));
}

std::vector<char> slurp(const std::string & path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
void spit(const std::string & path, const std::vector<char> & bytes) {
    std::ofstream o(path, std::ios::binary);
    o.write(bytes.data(), std::streamsize(bytes.size()));
}
// Sets MOE_RUN_FILE_CHECK for the lifetime of the object.
struct CheckOff {
    CheckOff() { ::setenv("MOE_RUN_FILE_CHECK", "0", 1); }
    ~CheckOff() { ::unsetenv("MOE_RUN_FILE_CHECK"); }
};

TEST_CASE("io: reader rejects missing, non-HDF5, truncated and foreign files") {
    TempDir dir("io");
    const std::string missing = dir.file("missing.h5");
    std::string msg = io_error([&] { RunReader r(missing); });
    CHECK(contains(msg, missing));
    CHECK(contains(msg, "no such file"));

    const std::string text = dir.file("text.h5");
    std::ofstream(text) << "this is not an HDF5 file at all\n";
    msg = io_error([&] { RunReader r(text); });
    CHECK(contains(msg, text));
    CHECK(contains(msg, "not a moe-lab run file"));
    {
        CheckOff off;
        msg = io_error([&] { RunReader r(text); });
        CHECK(contains(msg, "not an HDF5 file"));
    }

    const std::string good = dir.file("good.h5");
    auto store = small_store<float>(3);
    write_reference_run(good, store);
    const std::vector<char> bytes = slurp(good);
    REQUIRE(bytes.size() > 4096);

    // the integrity header: four text lines in HDF5's 512-byte user block
    const std::string header(bytes.data(), strnlen(bytes.data(), 512));
    CHECK(header.rfind("moe-lab run file\nformat 2\nbytes " + std::to_string(bytes.size()) + "\ncrc32 ", 0) == 0);
    CHECK(std::all_of(bytes.begin() + long(header.size()), bytes.begin() + 512, [](char c) { return c == 0; }));
    CHECK(std::string(bytes.data() + 512, 4) == "\x89HDF");

    // truncated inside the header, then after it
    for (size_t keep : {size_t(100), bytes.size() / 2, bytes.size() - 1}) {
        const std::string cut = dir.file("cut" + std::to_string(keep) + ".h5");
        spit(cut, std::vector<char>(bytes.begin(), bytes.begin() + long(keep)));
        msg = io_error([&] { RunReader r(cut); });
        CHECK(contains(msg, cut));
        CHECK(contains(msg, "truncated run file"));
    }
    // bytes appended
    {
        const std::string longer = dir.file("longer.h5");
        auto b = bytes;
        b.push_back('x');
        spit(longer, b);
        msg = io_error([&] { RunReader r(longer); });
        CHECK(contains(msg, "damaged run file: " + std::to_string(b.size()) + " bytes, its header says " +
                                std::to_string(bytes.size())));
    }
    // one flipped bit anywhere after the header: the checksum catches it before libhdf5 reads it
    for (size_t at : {size_t(512), size_t(600), bytes.size() / 3, bytes.size() - 1}) {
        const std::string flip = dir.file("flip" + std::to_string(at) + ".h5");
        auto b = bytes;
        b[at] = char(b[at] ^ 0x10);
        spit(flip, b);
        msg = io_error([&] { RunReader r(flip); });
        CHECK(contains(msg, flip));
        CHECK(contains(msg, "checksum mismatch"));
        CHECK(contains(msg, "MOE_RUN_FILE_CHECK=0"));
    }
    // a damaged header line, a newer format
    {
        auto b = bytes;
        b[header.find("bytes ") + 1] = 'X';
        spit(dir.file("hdr.h5"), b);
        msg = io_error([&] { RunReader r(dir.file("hdr.h5")); });
        CHECK(contains(msg, "damaged moe-lab run-file header"));
        b = bytes;
        b[header.find("format 2") + 7] = '9';
        spit(dir.file("newer.h5"), b);
        msg = io_error([&] { RunReader r(dir.file("newer.h5")); });
        CHECK(contains(msg, "run-file format 9 is newer"));
    }
    // a value changed on purpose in the raw data: refused, then read as it is with the check off
    {
        const int id = store.find("layers.0.weight");
        REQUIRE(id >= 0);
        const float v0 = store.value(id)[0];
        auto b = bytes;
        const char * p = reinterpret_cast<const char *>(&v0);
        auto it = std::search(b.begin() + 512, b.end(), p, p + 4);
        REQUIRE(it != b.end());
        const float changed = 123.5f;
        std::memcpy(&*it, &changed, 4);
        const std::string edited = dir.file("edited.h5");
        spit(edited, b);
        msg = io_error([&] { RunReader r(edited); });
        CHECK(contains(msg, "checksum mismatch"));
        CheckOff off;
        RunReader r(edited);
        CHECK(r.read_floats("params/layers.0.weight")[0] == changed);
    }

    // a valid HDF5 file that is not a moe-lab run: no header; with the check off, no format attribute
    const std::string foreign = dir.file("foreign.h5");
    {
        hid_t f = H5Fcreate(foreign.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        REQUIRE(f >= 0);
        H5Fclose(f);
    }
    msg = io_error([&] { RunReader r(foreign); });
    CHECK(contains(msg, foreign));
    CHECK(contains(msg, "HDF5 file without moe-lab's integrity header"));
    CheckOff off;
    msg = io_error([&] { RunReader r(foreign); });
    CHECK(contains(msg, "is not a moe-lab run file"));
}

TEST_CASE("io: two readers of one file at once") {
    TempDir dir("io");
    const std::string out = dir.file("run.h5");
    auto store = small_store<float>(2);
    write_reference_run(out, store);
    RunReader a(out), b(out);
    CHECK(a.read_floats("params/layers.0.weight") == b.read_floats("params/layers.0.weight"));
    CHECK(a.spec_json() == kSpec);
}

TEST_CASE("io: load_params reports every shape mismatch and missing tensor at once") {
    TempDir dir("io");
    const std::string out = dir.file("run.h5");
    auto store = small_store<float>(5);
    write_reference_run(out, store);
    RunReader r(out);

    moe::ParamStore<float> wrong;
    wrong.declare("layers.0.weight", {3, 3}, true, moe::Init::Constant(0.5));
    wrong.declare("embed.pos", {4}, false, moe::Init::Constant(0.5));
    wrong.declare("head.bias", {2}, true, moe::Init::Constant(0.5));
    wrong.allocate(1);
    std::string msg = io_error([&] { r.load_params(wrong, {}); });
    CHECK(contains(msg, out));
    CHECK(contains(msg, "params/layers.0.weight: run file has shape (2,3), model expects (3,3)"));
    CHECK(contains(msg, "params/head.bias"));
    CHECK(contains(msg, "missing"));
    CHECK_FALSE(contains(msg, "params/embed.pos")); // that one is fine
    // nothing was loaded: the store is untouched on error
    CHECK(wrong.value(1)[0] == 0.5f);

    // a subset by name loads only the named tensors
    r.load_params(wrong, {"embed.pos"});
    for (int i = 0; i < 4; ++i) CHECK(wrong.value(1)[i] == store.value(1)[i]);
    CHECK(wrong.value(2)[0] == 0.5f);

    // a requested name the model does not have is reported too
    msg = io_error([&] { r.load_params(wrong, {"embed.pos", "no.such"}); });
    CHECK(contains(msg, "no.such"));
}

TEST_CASE("io: double parameter stores are written as float32 and loaded back") {
    TempDir dir("io");
    const std::string out = dir.file("run.h5");
    auto store = small_store<double>(11);
    {
        RunWriter w(out, "moe-test");
        w.write_params(store, "ckpt/params");
        w.commit();
    }
    RunReader r(out);
    CHECK(r.has("ckpt/params/layers.0.weight"));
    CHECK(r.attr_string("ckpt/params/embed.pos", "trainable") == "0");
    auto f = r.read_floats("ckpt/params/layers.0.weight");
    REQUIRE(f.size() == 6);
    for (int i = 0; i < 6; ++i) CHECK(f[i] == static_cast<float>(store.value(0)[i]));
    // load_params reads /params/<name>, which this file does not have
    auto other = small_store<double>(12);
    std::string msg = io_error([&] { r.load_params(other, {}); });
    CHECK(contains(msg, "params/layers.0.weight"));
    CHECK(contains(msg, "params/embed.pos"));
}

TEST_CASE("io: no HDF5 identifiers stay open after writers and readers are gone") {
    TempDir dir("io");
    const std::string out = dir.file("run.h5");
    auto store = small_store<float>(2);
    write_reference_run(out, store);
    {
        RunReader r(out);
        CHECK(r.read_doubles("metrics/train/loss").size() == 5);
        io_error([&] { r.read_doubles("nope"); });
        io_error([&] { r.attr_string("spec", "nope"); });
        CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) >= 1); // the reader's file is open
    }
    {
        RunWriter w(dir.file("aborted.h5"), "moe-test");
        w.append("metrics/train/loss", 1.0);
        w.flush();
    }
    CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0);
}

// ------------------------------------------------------------------------------ hostile outputs

namespace {

// A file outside the outputs that planted links point to; it must keep its bytes.
std::string make_victim(const TempDir & dir, const std::string & name = "victim.txt") {
    const std::string v = dir.file(name);
    std::ofstream(v) << "precious bytes\n";
    return v;
}

// Runs f in a child process; returns its exit status (f's return value, or 100 + a signal).
template <typename F>
int in_child(F && f) {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(f());
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

// The moe::Error code and message of f (code -1: nothing thrown).
template <typename F>
std::pair<int, std::string> error_of(F && f) {
    try {
        f();
    } catch (const moe::Error & e) { return {int(e.code()), e.what()}; }
    return {-1, ""};
}

} // namespace

TEST_CASE("io: links planted at the old temporary names and at the final name are never followed") {
    TempDir dir("io");
    const std::string out = dir.file("run.h5"), csv = dir.file("table.csv");
    const std::string victim = make_victim(dir), hard = make_victim(dir, "hard.txt");
    const std::string pid = std::to_string(::getpid());
    // what the writers of older versions opened with O_TRUNC: OUT.tmp-PID, OUT.ckpt.tmp-PID
    fs::create_symlink(victim, out + ".tmp-" + pid);
    fs::create_hard_link(hard, out + ".ckpt.tmp-" + pid);
    fs::create_symlink(victim, csv + ".tmp-" + pid);
    auto store = small_store<float>(3);
    write_reference_run(out, store);
    moe::io::write_text_atomic(csv, "a,b\n1,2\n");
    {
        RunWriter ck(out + ".ckpt", "moe-test");
        ck.write_string("spec", "{}");
        ck.commit();
    }
    CHECK(slurp_text(victim) == "precious bytes\n");
    CHECK(slurp_text(hard) == "precious bytes\n");
    CHECK(fs::is_symlink(out + ".tmp-" + pid));
    CHECK(fs::hard_link_count(hard) == 2);
    CHECK(RunReader(out).spec_json() == kSpec);
    CHECK(slurp_text(csv) == "a,b\n1,2\n");

    // a hard link at the final name: the rename replaces the name, the other file keeps its bytes
    fs::remove(out);
    fs::create_hard_link(hard, out);
    write_reference_run(out, store);
    CHECK(slurp_text(hard) == "precious bytes\n");
    CHECK(RunReader(out).spec_json() == kSpec);
    fs::remove(csv);
    fs::create_hard_link(hard, csv);
    moe::io::write_text_atomic(csv, "c\n");
    CHECK(slurp_text(hard) == "precious bytes\n");
    CHECK(slurp_text(csv) == "c\n");

    // a symbolic link at the final name is refused, before and after the work
    const std::string link = dir.file("link.h5");
    fs::create_symlink(victim, link);
    std::string msg = io_error([&] { RunWriter w(link, "moe-test"); });
    CHECK(contains(msg, "it exists and is a symbolic link"));
    msg = io_error([&] { moe::io::write_text_atomic(link, "x"); });
    CHECK(contains(msg, "it exists and is a symbolic link"));
    CHECK(slurp_text(victim) == "precious bytes\n");
}

TEST_CASE("io: what appears at the final path during the work is refused at the rename") {
    TempDir dir("io");
    const std::string victim = make_victim(dir);
    for (const char * kind : {"symlink", "fifo", "directory"}) {
        CAPTURE(kind);
        const std::string out = dir.file(std::string("late_") + kind + ".h5");
        std::string msg = io_error([&] {
            RunWriter w(out, "moe-test");
            w.write_string("spec", "{}");
            if (std::string(kind) == "symlink")
                fs::create_symlink(victim, out);
            else if (std::string(kind) == "fifo")
                REQUIRE(::mkfifo(out.c_str(), 0644) == 0);
            else
                fs::create_directory(out);
            w.commit();
        });
        CHECK(contains(msg, "cannot write run file " + out + ": it exists and is a"));
        CHECK(moe::io::temporaries_of(out).empty());
        CHECK(slurp_text(victim) == "precious bytes\n");
    }
    CHECK(fs::is_symlink(dir.file("late_symlink.h5")));
    CHECK(fs::is_fifo(dir.file("late_fifo.h5")));
}

TEST_CASE("io: temporary names are unpredictable and created exclusively") {
    TempDir dir("io");
    const std::string out = dir.file("run.h5");
    const std::string a = moe::io::temp_path_for(out), b = moe::io::temp_path_for(out);
    CHECK(a != b);
    CHECK(contains(a, out + ".tmp-" + std::to_string(::getpid()) + "-"));
    // two writers of one output in one process: two temporaries
    RunWriter w1(out, "moe-test"), w2(out, "moe-test");
    CHECK(w1.temp_path() != w2.temp_path());
    CHECK(moe::io::temporaries_of(out).size() == 2);
    struct stat st {};
    REQUIRE(::stat(w1.temp_path().c_str(), &st) == 0);
    CHECK((st.st_mode & 0077 & ~0044) == 0); // at most 0644
}

TEST_CASE("io: a file-size limit (ulimit -f) is a write error: EFBIG, the temporary removed") {
    TempDir dir("io");
    const std::string out = dir.file("big.h5"), csv = dir.file("big.csv");
    const int rc = in_child([&] {
        ::signal(SIGXFSZ, SIG_IGN); // as the binaries do (apps/common run_guarded)
        struct rlimit lim {
            8192, 8192
        };
        if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) return 10;
        auto [code, msg] = error_of([&] {
            RunWriter w(out, "moe-test");
            std::vector<float> big(64 * 1024, 1.0f);
            w.write_array("big", std::span<const float>(big), {int64_t(big.size())});
            w.commit();
        });
        if (code != int(moe::ErrorCode::io) || !contains(msg, "File too large") || !contains(msg, out)) return 11;
        std::tie(code, msg) = error_of([&] { moe::io::write_text_atomic(csv, std::string(20000, 'x')); });
        if (code != int(moe::ErrorCode::io) || !contains(msg, "File too large") || !contains(msg, csv)) return 12;
        return 0;
    });
    CHECK(rc == 0);
    CHECK(fs::is_empty(dir.path)); // no output, no temporary
}

TEST_CASE("io: check_new_output refuses an existing file unless --force") {
    TempDir dir("io");
    const std::string out = dir.file("run.h5");
    moe::io::check_new_output(out, false); // absent
    std::ofstream(out) << "x";
    auto [code, msg] = error_of([&] { moe::io::check_new_output(out, false, "--csv"); });
    CHECK(code == int(moe::ErrorCode::spec));
    CHECK(msg == "the output " + out + " exists; --force replaces it");
    moe::io::check_new_output(out, true);
    fs::create_symlink(out, dir.file("link.h5")); // links, FIFOs, directories: refused by the writers
    moe::io::check_new_output(dir.file("link.h5"), false);
    moe::io::check_new_output(dir.path.string(), false);
}

TEST_CASE("io: OutputLock: one writer per output, across processes, released when the holder dies") {
    TempDir dir("io");
    const std::string out = dir.file("run.h5"), lock_file = out + ".lock";
    CHECK(moe::io::lock_path_for(out) == lock_file);
    {
        moe::io::OutputLock lock(out);
        CHECK(lock.held());
        CHECK(slurp_text(lock_file) == std::to_string(::getpid()) + "\n");
        // a second lock (another open file description: what another process gets) is refused
        auto [code, msg] = error_of([&] { moe::io::OutputLock again(out); });
        CHECK(code == int(moe::ErrorCode::spec));
        CHECK(msg == "the output " + out + " is being written by another process (PID " + std::to_string(::getpid()) +
                         "), which holds its lock file " + lock_file);
        moe::io::OutputLock moved(std::move(lock));
        CHECK(moved.held());
        CHECK_FALSE(lock.held());
    }
    CHECK_FALSE(fs::exists(lock_file)); // removed by its holder

    // a holder in another process; killed, its lock is free again and its lock file taken over
    int ready[2], done[2];
    REQUIRE(::pipe(ready) == 0);
    REQUIRE(::pipe(done) == 0);
    const pid_t child = ::fork();
    if (child == 0) {
        moe::io::OutputLock lock(out);
        char c = 'r';
        (void)!::write(ready[1], &c, 1);
        (void)!::read(done[0], &c, 1); // until killed
        ::_exit(0);
    }
    char c = 0;
    REQUIRE(::read(ready[0], &c, 1) == 1);
    auto [code, msg] = error_of([&] { moe::io::OutputLock mine(out); });
    CHECK(code == int(moe::ErrorCode::spec));
    CHECK(contains(msg, "(PID " + std::to_string(child) + ")"));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK(fs::exists(lock_file)); // left by the killed holder
    {
        moe::io::OutputLock mine(out);
        CHECK(mine.held());
        CHECK(slurp_text(lock_file) == std::to_string(::getpid()) + "\n");
    }
    CHECK_FALSE(fs::exists(lock_file));
    for (int fd : {ready[0], ready[1], done[0], done[1]}) ::close(fd);

    // remove_live_temporaries (a second SIGINT) removes the lock file of a held lock too
    {
        moe::io::OutputLock lock(out);
        moe::io::remove_live_temporaries();
        CHECK_FALSE(fs::exists(lock_file));
    }
}

TEST_CASE("io: OutputLock never writes through what is planted at the lock file's name") {
    TempDir dir("io");
    const std::string out = dir.file("run.h5"), lock_file = out + ".lock";
    const std::string victim = make_victim(dir);
    auto refused = [&](const std::string & what) {
        auto [code, msg] = error_of([&] { moe::io::OutputLock lock(out); });
        CHECK(code == int(moe::ErrorCode::io));
        CHECK(contains(msg, "cannot write run file " + out + ": cannot lock it with " + lock_file + ": " + what));
        CHECK(slurp_text(victim) == "precious bytes\n");
    };
    fs::create_symlink(victim, lock_file);
    refused("it is a symbolic link");
    CHECK(fs::is_symlink(lock_file));
    fs::remove(lock_file);
    fs::create_symlink(dir.file("nowhere"), lock_file); // dangling: nothing is created through it
    refused("it is a symbolic link");
    CHECK_FALSE(fs::exists(dir.file("nowhere")));
    fs::remove(lock_file);
    fs::create_hard_link(victim, lock_file);
    refused("it has 2 hard links");
    fs::remove(lock_file);
    REQUIRE(::mkfifo(lock_file.c_str(), 0644) == 0);
    refused("it is not a regular file");
    fs::remove(lock_file);
    std::ofstream(lock_file) << "notes of mine\n";
    refused("it exists and is not a lock file of moe-lab");
    CHECK(slurp_text(lock_file) == "notes of mine\n");
    fs::remove(lock_file);
    // the output's own checks come first, with the writer's messages
    std::string msg = io_error([&] { moe::io::OutputLock lock(dir.file("missing/run.h5")); });
    CHECK(contains(msg, "cannot write run file " + dir.file("missing/run.h5") + ": directory " + dir.file("missing") +
                            " does not exist"));
    fs::create_symlink(victim, out);
    msg = io_error([&] { moe::io::OutputLock lock(out); });
    CHECK(contains(msg, "it exists and is a symbolic link"));
    CHECK_FALSE(fs::exists(fs::symlink_status(lock_file)));
}

TEST_CASE("io: claim_outputs: locked, then inputs, then an existing output or checkpoint only with --force") {
    TempDir dir("io");
    const std::string out = dir.file("run.h5"), ckpt = out + ".ckpt", spec = dir.file("spec.json");
    std::ofstream(spec) << "{}";
    const std::vector<std::pair<std::string, std::string>> inputs = {{"the spec file", spec}};
    using moe::train::claim_outputs;
    {
        auto lock = claim_outputs(out, ckpt, inputs, {});
        CHECK(lock.held());
        auto [code, msg] = error_of([&] { claim_outputs(out, ckpt, inputs, {true, true}); });
        CHECK(code == int(moe::ErrorCode::spec));
        CHECK(contains(msg, "is being written by another process"));
    }
    auto [code, msg] = error_of([&] { claim_outputs(spec, spec + ".ckpt", inputs, {true}); });
    CHECK(code == int(moe::ErrorCode::spec));
    CHECK(contains(msg, "is the spec file")); // even with --force
    std::ofstream(out) << "x";
    std::tie(code, msg) = error_of([&] { claim_outputs(out, ckpt, inputs, {}); });
    CHECK(msg == "the output " + out + " exists; --force replaces it");
    claim_outputs(out, ckpt, inputs, {true});        // --force
    claim_outputs(out, ckpt, inputs, {false, true}); // --resume: the run's own
    fs::remove(out);
    std::ofstream(ckpt) << "x";
    std::tie(code, msg) = error_of([&] { claim_outputs(out, ckpt, inputs, {}); });
    CHECK(code == int(moe::ErrorCode::spec));
    CHECK(msg == ckpt + " is the checkpoint of an unfinished run of " + out +
                     "; --resume continues it, --force starts over and replaces it");
    claim_outputs(out, ckpt, inputs, {true});
    claim_outputs(out, ckpt, inputs, {false, true});
    CHECK_FALSE(fs::exists(out + ".lock"));
}
