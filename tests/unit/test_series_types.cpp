// test_series_types.cpp — step counts and whole epochs are HDF5 64-bit integers in run files and
// checkpoints (the other series stay float64, rows float32); a checkpoint written when they were
// float64 still resumes, into the same file.
#include <doctest/doctest.h>

#include <hdf5.h>

#include <string>
#include <vector>

#include "moe/core/params.hpp"
#include "moe/io/run_file.hpp"
#include "moe/train/checkpoint.hpp"
#include "moe/train/records.hpp"
#include "unit/temp_dir.hpp"

using moe::test::TempDir;
using moe::train::TrainCheckpoint;

namespace {

// "i8" (64-bit integer), "f8", "f4" or "?" for the dataset at path.
std::string dtype_of(const std::string & file, const std::string & path) {
    hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    REQUIRE(f >= 0);
    hid_t d = H5Dopen2(f, path.c_str(), H5P_DEFAULT);
    REQUIRE(d >= 0);
    hid_t t = H5Dget_type(d);
    const H5T_class_t cls = H5Tget_class(t);
    const size_t size = H5Tget_size(t);
    H5Tclose(t);
    H5Dclose(d);
    H5Fclose(f);
    if (cls == H5T_INTEGER) return "i" + std::to_string(size);
    if (cls == H5T_FLOAT) return "f" + std::to_string(size);
    return "?";
}

moe::ParamStore<float> make_store() {
    moe::ParamStore<float> st;
    st.declare("layers.0.weight", {3, 5}, true, moe::Init::Uniform(1.0));
    st.allocate(1);
    return st;
}

TrainCheckpoint make_checkpoint(const moe::ParamStore<float> & store) {
    TrainCheckpoint ck;
    ck.step = 20;
    ck.epoch = 1;
    ck.batch = 0;
    ck.optimizer = "sgd";
    ck.optim_steps = 20;
    ck.m.assign(store.n_trainable(), 0.25f);
    for (int s : {10, 20}) {
        ck.series.append("metrics/train/step", s);
        ck.series.append("metrics/train/epoch", s / 20.0);
        ck.series.append("metrics/train/loss", 1.0 / s);
        ck.series.append("routing/layers.0/step", s);
        const float row[2] = {0.5f, 0.5f};
        ck.series.append_row("routing/layers.0/load", row);
    }
    ck.series.append("metrics/eval/test/step", 20);
    ck.series.append("metrics/eval/test/epoch", 1);
    ck.series.append("metrics/eval/test/accuracy", 0.5);
    ck.series.append("metrics/eval/test/tasks/step/accuracy", 0.5); // a task named "step"
    return ck;
}

// A checkpoint as moe-lab wrote it before step counts were integers: every 1-D series float64.
void write_float_checkpoint(const std::string & path, const moe::ParamStore<float> & store,
                            const TrainCheckpoint & ck) {
    moe::io::RunWriter w(path, "moe-train");
    w.write_string("spec", "{}");
    w.set_attr("/", "name", "unit");
    for (const auto & name : ck.series.names()) {
        if (const int64_t width = ck.series.width(name); width > 0) {
            const auto & r = ck.series.rows(name);
            for (size_t i = 0; i < r.size(); i += (size_t)width)
                w.append_row(name, std::span<const float>(r.data() + i, (size_t)width));
        } else {
            for (double v : ck.series.values(name)) w.append(name, v);
        }
    }
    w.flush();
    w.write_params(store);
    w.set_attr("optim", "kind", ck.optimizer);
    w.set_attr_int("optim", "steps", ck.optim_steps);
    for (const auto & pi : store.infos())
        w.write_array("optim/m/" + pi.name, std::span<const float>(ck.m.data() + pi.offset, pi.size), pi.shape);
    w.set_attr_int("checkpoint", "step", ck.step);
    w.set_attr_int("checkpoint", "epoch", ck.epoch);
    w.set_attr_int("checkpoint", "batch", ck.batch);
    w.set_attr("checkpoint", "seconds", ck.seconds);
    const double win[6] = {0, 0, 0, 0, 0, 0};
    w.write_array("checkpoint/window", std::span<const double>(win, 6), {6});
    std::string names;
    for (const auto & n : ck.series.names()) names += n + "\n";
    w.write_string("checkpoint/series", names);
    w.commit();
}

} // namespace

TEST_CASE("integer series: the step counts and the evaluations' epochs, by name") {
    using moe::train::is_integer_series;
    for (const char * n : {"metrics/train/step", "metrics/eval/test/step", "metrics/eval/val/epoch",
                           "routing/layers.0/step", "routing/blocks.3.mlp.fc1/step"})
        CHECK_MESSAGE(is_integer_series(n), n);
    for (const char * n : {"metrics/train/epoch", "metrics/train/loss", "metrics/eval/test/loss",
                           "metrics/eval/test/tasks/step/accuracy", "metrics/eval/test/tasks/a/step",
                           "routing/layers.0/load", "routing/layers.0/entropy", "step", "metrics/step"})
        CHECK_MESSAGE(!is_integer_series(n), n);
}

TEST_CASE("run files and checkpoints store step counts as int64, the rest as floats") {
    TempDir dir("series_types");
    auto store = make_store();
    const TrainCheckpoint ck = make_checkpoint(store);
    const std::string run = dir.file("run.h5"), ckpt = dir.file("run.h5.ckpt");
    {
        moe::io::RunWriter w(run, "moe-train");
        moe::train::write_run_body(w, "{}", "unit", store, ck.series);
        w.commit();
    }
    moe::train::write_checkpoint(ckpt, "moe-train", "{}", "unit", store, ck);
    for (const auto & f : {run, ckpt}) {
        CHECK(dtype_of(f, "metrics/train/step") == "i8");
        CHECK(dtype_of(f, "metrics/eval/test/step") == "i8");
        CHECK(dtype_of(f, "metrics/eval/test/epoch") == "i8");
        CHECK(dtype_of(f, "routing/layers.0/step") == "i8");
        CHECK(dtype_of(f, "metrics/train/epoch") == "f8"); // fractional
        CHECK(dtype_of(f, "metrics/train/loss") == "f8");
        CHECK(dtype_of(f, "metrics/eval/test/tasks/step/accuracy") == "f8");
        CHECK(dtype_of(f, "routing/layers.0/load") == "f4");
        moe::io::RunReader r(f); // read_doubles reads any numeric type
        CHECK(r.read_doubles("metrics/train/step") == std::vector<double>{10, 20});
        CHECK(r.read_doubles("metrics/train/epoch") == std::vector<double>{0.5, 1.0});
    }
    auto other = make_store();
    CHECK(moe::train::read_checkpoint(ckpt, other).series == ck.series);
}

TEST_CASE("a checkpoint with float64 step series resumes into the same run file") {
    TempDir dir("series_old");
    auto store = make_store();
    const TrainCheckpoint ck = make_checkpoint(store);
    const std::string old_ckpt = dir.file("old.h5.ckpt"), new_ckpt = dir.file("new.h5.ckpt");
    write_float_checkpoint(old_ckpt, store, ck);
    REQUIRE(dtype_of(old_ckpt, "metrics/train/step") == "f8");
    moe::train::write_checkpoint(new_ckpt, "moe-train", "{}", "unit", store, ck);
    auto a = make_store(), b = make_store();
    const TrainCheckpoint from_old = moe::train::read_checkpoint(old_ckpt, a);
    const TrainCheckpoint from_new = moe::train::read_checkpoint(new_ckpt, b);
    CHECK(from_old.series == from_new.series);
    CHECK(from_old.step == 20);
    const std::string run = dir.file("resumed.h5");
    {
        moe::io::RunWriter w(run, "moe-train");
        moe::train::write_run_body(w, "{}", "unit", a, from_old.series);
        w.commit();
    }
    CHECK(dtype_of(run, "metrics/train/step") == "i8");
    CHECK(dtype_of(run, "metrics/eval/test/epoch") == "i8");
    moe::io::RunReader r(run);
    CHECK(r.read_doubles("routing/layers.0/step") == std::vector<double>{10, 20});
}
