// test_checkpoint.cpp — the interrupt flag, the training checkpoint (write, read back bitwise,
// atomic replacement) and the spec comparison used by --resume.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "moe/core/error.hpp"
#include "moe/core/interrupt.hpp"
#include "moe/core/params.hpp"
#include "moe/io/run_file.hpp"
#include "moe/train/trainer.hpp"
#include "unit/temp_dir.hpp"

namespace fs = std::filesystem;
using moe::test::TempDir;
using moe::train::TrainCheckpoint;

namespace {

// Two trainable tensors (the second not a multiple of the 16-element alignment) and a frozen one.
moe::ParamStore<float> make_store(uint64_t seed) {
    moe::ParamStore<float> st;
    st.declare("layers.0.weight", {3, 5}, true, moe::Init::Uniform(1.0));
    st.declare("layers.0.experts.router.bias", {7}, true, moe::Init::Normal(0.5)); // a dotted name
    st.declare("layers.0.router.expert_bias", {4}, false, moe::Init::Normal(0.5));
    st.allocate(seed);
    return st;
}

bool same_bits(const float * a, const float * b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

TrainCheckpoint make_checkpoint(const moe::ParamStore<float> & store) {
    TrainCheckpoint ck;
    ck.step = 37;
    ck.epoch = 2;
    ck.batch = 5;
    ck.seconds = 12.345678901234;
    ck.optimizer = "adamw";
    ck.optim_steps = 37;
    ck.m.assign(store.n_trainable(), 0.f);
    ck.v.assign(store.n_trainable(), 0.f);
    for (const auto & pi : store.infos()) {
        if (!pi.trainable) continue;
        for (size_t i = 0; i < pi.size; ++i) {
            ck.m[pi.offset + i] = 0.1f / float(i + 3) - 1e-7f;
            ck.v[pi.offset + i] = 1.0f / 3.0f + float(i) * 1e-9f;
        }
    }
    ck.win_loss = 1.0 / 3.0;
    ck.win_acc = 2.0 / 7.0;
    ck.win_aux = 1e-17;
    ck.win_seconds = 0.25;
    ck.win_n = 3;
    ck.win_samples = 192;
    moe::routing::RoutingStats s;
    s.load = {5, 0, 9, 1234567890123};
    s.tokens = 640;
    s.dropped = 3;
    s.forwards = 6;
    s.entropy_sum = 0.1 + 0.2;
    s.active_sum = 1280.5;
    s.aux[moe::routing::kLbl] = 2.0000000000000004;
    s.aux[moe::routing::kZLoss] = 1e-300;
    ck.sites["layers.0"] = s;
    ck.series.append("metrics/train/loss", 2.5);
    ck.series.append("metrics/train/loss", 0.1 + 0.2);
    const float r0[4] = {0.25f, 0.5f, 0.125f, 0.125f}, r1[4] = {1.f / 3, 1.f / 3, 1.f / 6, 1.f / 6};
    ck.series.append_row("routing/layers.0/load", r0);
    ck.series.append("metrics/eval/test/accuracy", 0.75);
    ck.series.append_row("routing/layers.0/load", r1);
    return ck;
}

} // namespace

TEST_CASE("interrupt flag: request, query, clear") {
    moe::clear_interrupt();
    CHECK_FALSE(moe::interrupt_requested());
    moe::request_interrupt();
    CHECK(moe::interrupt_requested());
    moe::request_interrupt(); // idempotent
    CHECK(moe::interrupt_requested());
    moe::clear_interrupt();
    CHECK_FALSE(moe::interrupt_requested());
}

TEST_CASE("checkpoint path") { CHECK(moe::train::checkpoint_path("runs/a.h5") == "runs/a.h5.ckpt"); }

TEST_CASE("series log keeps first-use order and both kinds") {
    moe::train::SeriesLog log;
    log.append("b", 1.0);
    const float row[2] = {1, 2};
    log.append_row("a", row);
    log.append("b", 2.0);
    REQUIRE(log.names() == std::vector<std::string>{"b", "a"});
    CHECK(log.values("b") == std::vector<double>{1.0, 2.0});
    CHECK(log.width("a") == 2);
    CHECK(log.width("b") == 0);
    const float bad[3] = {1, 2, 3};
    CHECK_THROWS_AS(log.append_row("a", bad), moe::Error); // width is fixed by the first row
    CHECK_THROWS_AS(log.append("a", 1.0), moe::Error);     // a row series stays one
}

TEST_CASE("checkpoint round trip is bitwise and atomic") {
    TempDir dir("ckpt");
    const std::string path = dir.file("run.h5.ckpt");
    auto store = make_store(1);
    const TrainCheckpoint ck = make_checkpoint(store);
    moe::train::write_checkpoint(path, "moe-test", R"({"exp":{"seed":1}})", "unit", store, ck);
    REQUIRE(fs::exists(path));
    CHECK(moe::io::temporaries_of(path).empty());

    auto other = make_store(2); // other initial values: every one must be overwritten
    REQUIRE_FALSE(same_bits(store.value(0), other.value(0), 15));
    const TrainCheckpoint back = moe::train::read_checkpoint(path, other);
    for (int id = 0; id < store.size(); ++id)
        CHECK_MESSAGE(same_bits(store.value(id), other.value(id), store.info(id).size), store.info(id).name);
    CHECK(back.step == ck.step);
    CHECK(back.epoch == ck.epoch);
    CHECK(back.batch == ck.batch);
    CHECK(back.seconds == ck.seconds);
    CHECK(back.optimizer == "adamw");
    CHECK(back.optim_steps == ck.optim_steps);
    CHECK(back.m == ck.m);
    CHECK(back.v == ck.v);
    CHECK(back.win_loss == ck.win_loss);
    CHECK(back.win_acc == ck.win_acc);
    CHECK(back.win_aux == ck.win_aux);
    CHECK(back.win_seconds == ck.win_seconds);
    CHECK(back.win_n == ck.win_n);
    CHECK(back.win_samples == ck.win_samples);
    CHECK(back.sites == ck.sites);
    CHECK(back.series == ck.series);

    // the checkpoint is a run file too: h5py / moe-eval read /spec, /params and the series
    moe::io::RunReader r(path);
    CHECK(r.spec_json() == R"({"exp":{"seed":1}})");
    CHECK(r.read_doubles("metrics/train/loss") == std::vector<double>{2.5, 0.1 + 0.2});
    CHECK(r.shape("routing/layers.0/load") == std::vector<int64_t>{2, 4});

    // a second checkpoint replaces the first in one rename
    TrainCheckpoint ck2 = ck;
    ck2.step = ck2.optim_steps = 40;
    ck2.series.append("metrics/train/loss", 0.5);
    moe::train::write_checkpoint(path, "moe-test", "{}", "unit", store, ck2);
    auto third = make_store(3);
    const TrainCheckpoint back2 = moe::train::read_checkpoint(path, third);
    CHECK(back2.step == 40);
    CHECK(back2.series.values("metrics/train/loss").size() == 3);
}

TEST_CASE("a checkpoint with a field a resume cannot use is refused, naming the field") {
    TempDir dir("ckpt");
    const std::string path = dir.file("bad.ckpt");
    auto store = make_store(1);
    const TrainCheckpoint good = make_checkpoint(store);
    auto refused = [&](TrainCheckpoint ck, const std::string & fragment) {
        moe::train::write_checkpoint(path, "moe-test", "{}", "unit", store, ck);
        auto other = make_store(2);
        try {
            (void)moe::train::read_checkpoint(path, other);
            FAIL_CHECK("accepted: " << fragment);
        } catch (const moe::Error & e) {
            CHECK(e.code() == moe::ErrorCode::io);
            CHECK_MESSAGE(std::string(e.what()).find(path + ": not a usable checkpoint: ") != std::string::npos, e.what());
            CHECK_MESSAGE(std::string(e.what()).find(fragment) != std::string::npos, e.what());
        }
    };
    TrainCheckpoint ck = good;
    ck.win_loss = std::nan("");
    refused(ck, "/checkpoint/window[0] (the open log window's loss sum) is NaN");
    ck = good;
    ck.win_seconds = -1;
    refused(ck, "/checkpoint/window[5] (the open log window's seconds) is -1, expected a time >= 0");
    ck = good;
    ck.v[3] = -1e-3f;
    refused(ck, "[3] is -0.00100000005, expected a finite value >= 0 (a second moment)");
    ck = good;
    ck.m[0] = INFINITY;
    refused(ck, "[0] is inf, expected a finite value");
    ck = good;
    ck.step = -1;
    refused(ck, "attribute /checkpoint step is -1, expected a whole number >= 0");
    ck = good;
    ck.optim_steps = 36;
    refused(ck, "attribute /optim steps is 36, but the checkpoint is at step 37");
    ck = good;
    ck.seconds = INFINITY;
    refused(ck, "attribute /checkpoint seconds is inf");
    ck = good;
    ck.sites["layers.0"].load[1] = -2;
    refused(ck, "/checkpoint/sites/layers.0/load holds -2");
    ck = good;
    ck.series.append("metrics/train/step", 5); // one row where metrics/train/loss, of its group, has two
    refused(ck, "the series /metrics/train/step has 1 rows but /metrics/train/loss has 2");
    ck = good;
    ck.series.append("metrics/train/accuracy", 0.1);
    ck.series.append("metrics/train/accuracy", 0.2);
    ck.series.append("metrics/train/step", 38);
    ck.series.append("metrics/train/step", 39);
    refused(ck, "/metrics/train/step[0] is 38, expected whole steps counting up to the checkpoint's step 37");
}

TEST_CASE("sgd checkpoint has no second moment") {
    TempDir dir("ckpt");
    const std::string path = dir.file("sgd.ckpt");
    auto store = make_store(1);
    TrainCheckpoint ck = make_checkpoint(store);
    ck.optimizer = "sgd";
    ck.v.clear();
    moe::train::write_checkpoint(path, "moe-test", "{}", "unit", store, ck);
    auto other = make_store(2);
    const TrainCheckpoint back = moe::train::read_checkpoint(path, other);
    CHECK(back.optimizer == "sgd");
    CHECK(back.v.empty());
    CHECK(back.m == ck.m);
}

TEST_CASE("reading a run file that is not a checkpoint names the file") {
    TempDir dir("ckpt");
    const std::string path = dir.file("done.h5");
    auto store = make_store(1);
    {
        moe::io::RunWriter w(path, "moe-test");
        w.write_string("spec", "{}");
        w.write_params(store);
        w.commit();
    }
    try {
        moe::train::read_checkpoint(path, store);
        FAIL("no exception");
    } catch (const moe::Error & e) {
        CHECK(e.code() == moe::ErrorCode::io);
        CHECK(std::string(e.what()).find(path) != std::string::npos);
    }
    // a checkpoint of another model: every missing tensor is reported by name
    const std::string ck_path = dir.file("ck");
    moe::train::write_checkpoint(ck_path, "moe-test", "{}", "unit", store, make_checkpoint(store));
    moe::ParamStore<float> bigger;
    bigger.declare("layers.0.weight", {3, 6}, true, moe::Init::Zeros());
    bigger.declare("layers.1.weight", {2}, true, moe::Init::Zeros());
    bigger.allocate(0);
    try {
        moe::train::read_checkpoint(ck_path, bigger);
        FAIL("no exception");
    } catch (const moe::Error & e) {
        const std::string m = e.what();
        CHECK(e.code() == moe::ErrorCode::io);
        CHECK(m.find("layers.0.weight") != std::string::npos);
        CHECK(m.find("layers.1.weight") != std::string::npos);
    }
}

TEST_CASE("spec differences: dotted paths, exp.threads ignored") {
    const auto a = nlohmann::json::parse(R"({"exp":{"seed":1,"threads":1},"train":{"lr":0.003},
                                            "data":{"tasks":[{"weight":1.0}]}})");
    auto b = a;
    CHECK(moe::train::spec_differences(a, b).empty());
    b["exp"]["threads"] = 8;
    CHECK(moe::train::spec_differences(a, b).empty());
    b["train"]["lr"] = 0.01;
    b["data"]["tasks"][0]["weight"] = 2.0;
    const auto d = moe::train::spec_differences(a, b);
    REQUIRE(d.size() == 2);
    CHECK(d[0] == "data.tasks.0.weight: stored 1.0, now 2.0");
    CHECK(d[1] == "train.lr: stored 0.003, now 0.01");
}
