// train: moe-train's checkpoints (see moe/train/checkpoint.hpp).
#include "moe/train/checkpoint.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "moe/blas/gemm.hpp"
#include "moe/core/error.hpp"
#include "moe/simd/isa.hpp"
#include "moe/train/records.hpp"

namespace moe::train {

namespace {

[[noreturn]] void bad_checkpoint(const std::string & path, const std::string & what) {
    throw Error(ErrorCode::io, path + ": not a usable checkpoint: " + what);
}

std::string fmt_value(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

double number_attr(const io::RunReader & r, const std::string & obj, const std::string & name) {
    const std::string s = r.attr_string(obj, name);
    char * end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0')
        bad_checkpoint(r.path(), "attribute " + obj + "/" + name + " is not a number ('" + s + "')");
    return v;
}

// A count: a whole number >= 0 (a resealed checkpoint can hold anything).
int64_t count_attr(const io::RunReader & r, const std::string & obj, const std::string & name) {
    const double v = number_attr(r, obj, name);
    if (!(v >= 0 && v <= 9.0e15 && v == std::floor(v)))
        bad_checkpoint(r.path(), "attribute /" + obj + " " + name + " is " + fmt_value(v) +
                                     ", expected a whole number >= 0");
    return (int64_t)v;
}

// The first element of x that is not finite (or, nonnegative, below 0), or -1.
int64_t first_bad(std::span<const float> x, bool nonnegative) {
    for (size_t i = 0; i < x.size(); ++i)
        if (!std::isfinite(x[i]) || (nonnegative && x[i] < 0)) return (int64_t)i;
    return -1;
}

// The series of one group (metrics/train/..., routing/<site>/...) are appended together, one row
// per record: they hold the same number of rows, and a step series counts up to the checkpoint.
void check_series(const std::string & path, const SeriesLog & series, int64_t step) {
    std::map<std::string, std::pair<std::string, size_t>> first; // group -> (series, rows)
    for (const auto & name : series.names()) {
        const int64_t w = series.width(name);
        const size_t n = w > 0 ? series.rows(name).size() / (size_t)w : series.values(name).size();
        const std::string group = name.substr(0, name.rfind('/'));
        const auto [it, fresh] = first.try_emplace(group, name, n);
        if (!fresh && it->second.second != n)
            bad_checkpoint(path, "the series /" + name + " has " + std::to_string(n) + " rows but /" +
                                     it->second.first + " has " + std::to_string(it->second.second) +
                                     " (series of one group are written together)");
        if (w > 0 || name.substr(name.rfind('/') + 1) != "step") continue;
        double last = 0;
        for (size_t i = 0; i < n; ++i) {
            const double v = series.values(name)[i];
            if (!(v >= last && v <= (double)step && v == std::floor(v)))
                bad_checkpoint(path, "/" + name + "[" + std::to_string(i) + "] is " + fmt_value(v) +
                                         ", expected whole steps counting up to the checkpoint's step " +
                                         std::to_string(step));
            last = v;
        }
    }
}

} // namespace

std::string checkpoint_path(const std::string & out_path) { return out_path + ".ckpt"; }

void write_run_body(io::RunWriter & w, const std::string & spec_json, const std::string & run_name,
                    const ParamStore<float> & store, const SeriesLog & series) {
    w.write_string("spec", spec_json);
    w.set_attr("/", "name", run_name);
    w.set_attr("/", "blas", blas::blas_description());
    w.set_attr("/", "isa", simd::isa()); // the target of moe-lab's own kernels (moe/simd/isa.hpp)
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
    ck.step = count_attr(r, "checkpoint", "step");
    const int64_t epoch = count_attr(r, "checkpoint", "epoch");
    if (epoch > 1000000000) bad_checkpoint(path, "attribute /checkpoint epoch is " + std::to_string(epoch));
    ck.epoch = (int)epoch;
    ck.batch = count_attr(r, "checkpoint", "batch");
    ck.seconds = number_attr(r, "checkpoint", "seconds");
    if (!(ck.seconds >= 0 && std::isfinite(ck.seconds)))
        bad_checkpoint(path, "attribute /checkpoint seconds is " + fmt_value(ck.seconds) + ", expected a time >= 0");
    ck.optimizer = r.attr_string("optim", "kind");
    if (ck.optimizer != "adamw" && ck.optimizer != "sgd")
        bad_checkpoint(path, "attribute /optim kind is '" + ck.optimizer + "', expected adamw or sgd");
    ck.optim_steps = count_attr(r, "optim", "steps");
    if (ck.optim_steps != ck.step)
        bad_checkpoint(path, "attribute /optim steps is " + std::to_string(ck.optim_steps) +
                                 ", but the checkpoint is at step " + std::to_string(ck.step) +
                                 " (one optimizer step a training step)");
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
            // AdamW's second moment is a mean of squares; momentum and the first moment are any finite value
            const bool second = dst == &ck.v;
            if (const int64_t i = first_bad(x, second); i >= 0)
                bad_checkpoint(path, "/" + std::string(group) + pi.name + "[" + std::to_string(i) + "] is " +
                                         fmt_value(x[(size_t)i]) +
                                         (second ? ", expected a finite value >= 0 (a second moment)"
                                                 : ", expected a finite value"));
            std::copy(x.begin(), x.end(), dst->begin() + (std::ptrdiff_t)pi.offset);
        }
    }
    const auto win = r.read_doubles("checkpoint/window");
    if (win.size() != 6) bad_checkpoint(path, "/checkpoint/window must hold 6 values");
    static const char * const kWindow[6] = {"loss sum", "accuracy sum", "aux loss sum", "steps", "samples", "seconds"};
    for (int i = 0; i < 6; ++i) {
        const bool count = i == 3 || i == 4;
        const bool ok = std::isfinite(win[i]) && (i < 3 || win[i] >= 0) && (!count || win[i] == std::floor(win[i]));
        if (!ok)
            bad_checkpoint(path, "/checkpoint/window[" + std::to_string(i) + "] (the open log window's " + kWindow[i] +
                                     ") is " + fmt_value(win[i]) + ", expected " +
                                     (count ? "a whole number >= 0" : i == 5 ? "a time >= 0" : "a finite value"));
    }
    ck.win_loss = win[0];
    ck.win_acc = win[1];
    ck.win_aux = win[2];
    ck.win_n = (int64_t)win[3];
    ck.win_samples = (int64_t)win[4];
    ck.win_seconds = win[5];
    for (const auto & name : r.list("checkpoint/sites")) {
        const std::string p = "checkpoint/sites/" + name + "/";
        routing::RoutingStats s;
        for (double c : r.read_doubles(p + "load")) {
            if (!(c >= 0 && c <= 9.0e15 && c == std::floor(c)))
                bad_checkpoint(path, "/" + p + "load holds " + fmt_value(c) + ", expected token counts (whole numbers >= 0)");
            s.load.push_back((int64_t)c);
        }
        const auto v = r.read_doubles(p + "sums");
        for (double x : v)
            if (!std::isfinite(x)) bad_checkpoint(path, "/" + p + "sums holds " + fmt_value(x) + ", expected finite sums");
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
    check_series(path, ck.series, ck.step);
    return ck;
}

} // namespace moe::train
