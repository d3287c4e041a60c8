// train: moe-train's checkpoints (see moe/train/checkpoint.hpp).
#include "moe/train/checkpoint.hpp"

#include <cstdlib>

#include "moe/blas/gemm.hpp"
#include "moe/core/error.hpp"
#include "moe/train/records.hpp"

namespace moe::train {

namespace {

[[noreturn]] void bad_checkpoint(const std::string & path, const std::string & what) {
    throw Error(ErrorCode::io, path + ": not a usable checkpoint: " + what);
}

double number_attr(const io::RunReader & r, const std::string & obj, const std::string & name) {
    const std::string s = r.attr_string(obj, name);
    char * end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0')
        bad_checkpoint(r.path(), "attribute " + obj + "/" + name + " is not a number ('" + s + "')");
    return v;
}

} // namespace

std::string checkpoint_path(const std::string & out_path) { return out_path + ".ckpt"; }

void write_run_body(io::RunWriter & w, const std::string & spec_json, const std::string & run_name,
                    const ParamStore<float> & store, const SeriesLog & series) {
    w.write_string("spec", spec_json);
    w.set_attr("/", "name", run_name);
    w.set_attr("/", "blas", blas::blas_description());
    for (const auto & name : series.names()) {
        if (const int64_t width = series.width(name); width > 0) {
            const auto & r = series.rows(name);
            for (size_t i = 0; i < r.size(); i += (size_t)width)
                w.append_row(name, std::span<const float>(r.data() + i, (size_t)width));
        } else if (is_integer_series(name)) { // whole numbers, so the float64 of an older checkpoint is exact
            for (double v : series.values(name)) w.append_int(name, static_cast<int64_t>(v));
        } else {
            for (double v : series.values(name)) w.append(name, v);
        }
    }
    w.flush();
    w.write_params(store);
}

bool is_complete_run(const std::string & path) {
    try {
        io::RunReader r(path);
        (void)r.attr_string("metrics", "steps");
        return r.has("params") && r.has("spec");
    } catch (const Error &) { return false; }
}

void write_checkpoint(const std::string & path, const std::string & tool, const std::string & spec_json,
                      const std::string & run_name, const ParamStore<float> & store, const TrainCheckpoint & ck) {
    MOE_ASSERT(ck.m.size() == store.n_trainable() && (ck.v.empty() || ck.v.size() == store.n_trainable()));
    io::RunWriter w(path, tool);
    write_run_body(w, spec_json, run_name, store, ck.series);
    w.set_attr("optim", "kind", ck.optimizer);
    w.set_attr_int("optim", "steps", ck.optim_steps);
    for (const auto & pi : store.infos()) {
        if (!pi.trainable) continue;
        w.write_array("optim/m/" + pi.name, std::span<const float>(ck.m.data() + pi.offset, pi.size), pi.shape);
        if (!ck.v.empty())
            w.write_array("optim/v/" + pi.name, std::span<const float>(ck.v.data() + pi.offset, pi.size), pi.shape);
    }
    w.set_attr_int("checkpoint", "step", ck.step);
    w.set_attr_int("checkpoint", "epoch", ck.epoch);
    w.set_attr_int("checkpoint", "batch", ck.batch);
    w.set_attr("checkpoint", "seconds", ck.seconds);
    const double win[6] = {ck.win_loss,   ck.win_acc, ck.win_aux, double(ck.win_n), double(ck.win_samples),
                           ck.win_seconds};
    w.write_array("checkpoint/window", std::span<const double>(win, 6), {6});
    for (const auto & [name, s] : ck.sites) {
        const std::string p = "checkpoint/sites/" + name + "/";
        w.write_array(p + "load", std::span<const int64_t>(s.load), {(int64_t)s.load.size()});
        const std::vector<double> sums = s.sums();
        w.write_array(p + "sums", std::span<const double>(sums), {(int64_t)sums.size()});
    }
    std::string names;
    for (const auto & n : ck.series.names()) names += n + "\n";
    w.write_string("checkpoint/series", names);
    w.commit();
}

TrainCheckpoint read_checkpoint(const std::string & path, ParamStore<float> & store) {
    io::RunReader r(path);
    if (!r.has("checkpoint") || !r.has("optim"))
        bad_checkpoint(path, "no /checkpoint or /optim group (a finished run file?)");
    r.load_params(store, {});
    TrainCheckpoint ck;
    ck.step = (int64_t)number_attr(r, "checkpoint", "step");
    ck.epoch = (int)number_attr(r, "checkpoint", "epoch");
    ck.batch = (int64_t)number_attr(r, "checkpoint", "batch");
    ck.seconds = number_attr(r, "checkpoint", "seconds");
    ck.optimizer = r.attr_string("optim", "kind");
    ck.optim_steps = (int64_t)number_attr(r, "optim", "steps");
    const bool has_v = r.has("optim/v");
    ck.m.assign(store.n_trainable(), 0.f);
    if (has_v) ck.v.assign(store.n_trainable(), 0.f);
    for (const auto & pi : store.infos()) {
        if (!pi.trainable) continue;
        for (auto [group, dst] : {std::pair{"optim/m/", &ck.m}, std::pair{"optim/v/", &ck.v}}) {
            if (dst->empty()) continue;
            const auto x = r.read_floats(group + pi.name);
            if (x.size() != pi.size)
                bad_checkpoint(path, "/" + std::string(group) + pi.name + " has " + std::to_string(x.size()) +
                                         " values, the tensor has " + std::to_string(pi.size));
            std::copy(x.begin(), x.end(), dst->begin() + (std::ptrdiff_t)pi.offset);
        }
    }
    const auto win = r.read_doubles("checkpoint/window");
    if (win.size() != 6) bad_checkpoint(path, "/checkpoint/window must hold 6 values");
    ck.win_loss = win[0];
    ck.win_acc = win[1];
    ck.win_aux = win[2];
    ck.win_n = (int64_t)win[3];
    ck.win_samples = (int64_t)win[4];
    ck.win_seconds = win[5];
    for (const auto & name : r.list("checkpoint/sites")) {
        const std::string p = "checkpoint/sites/" + name + "/";
        routing::RoutingStats s;
        for (double c : r.read_doubles(p + "load")) s.load.push_back((int64_t)c);
        const auto v = r.read_doubles(p + "sums");
        if ((int)v.size() != routing::RoutingStats::kSums)
            bad_checkpoint(path,
                           "/" + p + "sums must hold " + std::to_string(routing::RoutingStats::kSums) + " values");
        s.set_sums(v);
        ck.sites[name] = std::move(s);
    }
    const std::string names = r.read_string("checkpoint/series");
    for (size_t i = 0; i < names.size();) {
        size_t j = names.find('\n', i);
        if (j == std::string::npos) j = names.size();
        const std::string name = names.substr(i, j - i);
        i = j + 1;
        if (name.empty()) continue;
        const auto shape = r.shape(name);
        if (shape.size() == 1) {
            for (double v : r.read_doubles(name)) ck.series.append(name, v);
        } else if (shape.size() == 2 && shape[1] > 0) {
            const auto x = r.read_floats(name);
            for (size_t k = 0; k < x.size(); k += (size_t)shape[1])
                ck.series.append_row(name, std::span<const float>(x.data() + k, (size_t)shape[1]));
        } else {
            bad_checkpoint(path, "/" + name + " is not a 1-D or 2-D series");
        }
    }
    return ck;
}

} // namespace moe::train
