// train: the training loop — a base model from scratch, or adapter experts and routers on a frozen
// base, with micro-batch accumulation, routing telemetry and per-epoch evaluation.
#include "moe/train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "moe/blas/gemm.hpp"
#include "moe/core/error.hpp"
#include "moe/core/glob.hpp"
#include "moe/core/interrupt.hpp"
#include "moe/core/log.hpp"
#include "moe/data/dataset.hpp"
#include "moe/io/run_file.hpp"
#include "moe/models/model.hpp"
#include "moe/nn/kernels.hpp"
#include "moe/optim/optim.hpp"
#include "moe/routing/moe_site.hpp"
#include "moe/train/network.hpp"

namespace moe::train {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Buffers of one batch, planned once.
struct BatchBuffers {
    std::vector<float> x, losses, probs, dlogits;
    std::vector<int32_t> y, task;
    void plan(int B, int d, int V) {
        x.assign((size_t)B * d, 0.f);
        losses.assign(B, 0.f);
        probs.assign((size_t)B * V, 0.f);
        dlogits.assign((size_t)B * V, 0.f);
        y.assign(B, 0);
        task.assign(B, 0);
    }
};

using Sites = std::vector<std::unique_ptr<routing::MoeSite<float>>>;
namespace fs = std::filesystem;

void write_eval(SeriesLog & log, const EvalInfo & ev) {
    const std::string p = "metrics/eval/" + ev.split + "/";
    log.append(p + "step", double(ev.step));
    log.append(p + "epoch", double(ev.epoch));
    log.append(p + "loss", ev.loss);
    log.append(p + "accuracy", ev.accuracy);
    for (const auto & t : ev.tasks) {
        log.append(p + "tasks/" + t.task + "/loss", t.loss);
        log.append(p + "tasks/" + t.task + "/accuracy", t.accuracy);
    }
}

// Adds the sites' telemetry of one optimizer step to the open window and restarts the sites'
// counts. Summing per step in the trainer (not over the whole window in the site) lets a
// checkpoint carry a half-open window, so a resumed run records the same values.
void accumulate_window(Sites & sites, const std::vector<SiteWindow *> & win) {
    for (size_t i = 0; i < sites.size(); ++i) {
        const auto & st = sites[i]->stats();
        SiteWindow & w = *win[i];
        for (size_t e = 0; e < w.load.size() && e < st.load.size(); ++e) w.load[e] += st.load[e];
        w.tokens += st.tokens;
        w.dropped += st.dropped;
        w.forwards += st.forwards;
        w.entropy_sum += st.entropy_sum;
        w.active_sum += st.active_sum;
        w.aux_lbl += st.aux_lbl;
        w.aux_z += st.aux_z;
        w.aux_dyn += st.aux_dyn;
        w.aux_null += st.aux_null;
        sites[i]->reset_stats();
    }
}

// One telemetry record per adapted site: /routing/<site>/{step, load (n_log,E), entropy, active,
// dropped, flops_ratio, lbl, z_loss, dynmole_loss, null_loss}; then the window restarts.
void write_routing(SeriesLog & log, Sites & sites, const std::vector<SiteWindow *> & win, int64_t step) {
    for (size_t i = 0; i < sites.size(); ++i) {
        SiteWindow & st = *win[i];
        if (st.tokens == 0) continue;
        const std::string p = "routing/" + sites[i]->name() + "/";
        std::vector<float> load(st.load.size());
        int64_t total = 0;
        for (auto c : st.load) total += c;
        for (size_t e = 0; e < load.size(); ++e) load[e] = total ? float(double(st.load[e]) / double(total)) : 0.f;
        const double fw = std::max<int64_t>(1, st.forwards);
        log.append(p + "step", double(step));
        log.append_row(p + "load", load);
        log.append(p + "entropy", st.entropy_sum / st.tokens);
        log.append(p + "active", st.active_sum / st.tokens);
        log.append(p + "dropped", double(st.dropped) / st.tokens);
        // adapter work relative to every expert densely (MoeSite::flops_ratio over the window)
        log.append(p + "flops_ratio", st.active_sum / (double(st.tokens) * sites[i]->experts()));
        log.append(p + "lbl", st.aux_lbl / fw);
        log.append(p + "z_loss", st.aux_z / fw);
        log.append(p + "dynmole_loss", st.aux_dyn / fw);
        log.append(p + "null_loss", st.aux_null / fw);
        std::vector<int64_t> keep = std::move(st.load);
        std::fill(keep.begin(), keep.end(), 0);
        st = SiteWindow{};
        st.load = std::move(keep);
    }
}

// What a run file and a checkpoint share: spec, name, BLAS, series, parameters.
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
        } else {
            for (double v : series.values(name)) w.append(name, v);
        }
    }
    w.flush();
    w.write_params(store);
}

// "; first non-finite gradient: layers.0.experts.lora_b[17] (adapter site layers.0)", or the
// first non-finite parameter value, or "" when every gradient and value is finite.
std::string first_non_finite(ParamStore<float> & store) {
    auto site_of = [](const std::string & name) -> std::string {
        for (const char * key : {".experts.", ".router."})
            if (auto p = name.find(key); p != std::string::npos) return " (adapter site " + name.substr(0, p) + ")";
        return "";
    };
    for (int pass = 0; pass < 2; ++pass)
        for (int id = 0; id < store.size(); ++id) {
            const auto & pi = store.info(id);
            const float * x = pass == 0 ? store.grad(id) : store.value(id);
            if (!x) continue;
            for (size_t i = 0; i < pi.size; ++i)
                if (!std::isfinite(x[i]))
                    return std::string("; first non-finite ") + (pass == 0 ? "gradient: " : "parameter value: ") + pi.name +
                           "[" + std::to_string(i) + "]" + site_of(pi.name);
        }
    return "";
}

std::string json_path(const std::string & pointer) { // "/data/tasks/0/weight" -> "data.tasks.0.weight"
    std::string out;
    for (size_t i = 0; i < pointer.size(); ++i) {
        if (pointer[i] == '/') { if (i) out += '.'; }
        else if (pointer[i] == '~' && i + 1 < pointer.size()) { out += pointer[i + 1] == '1' ? '/' : '~'; ++i; }
        else out += pointer[i];
    }
    return out;
}

[[noreturn]] void bad_checkpoint(const std::string & path, const std::string & what) {
    throw Error(ErrorCode::io, path + ": not a usable checkpoint: " + what);
}

double number_attr(const io::RunReader & r, const std::string & obj, const std::string & name) {
    const std::string s = r.attr_string(obj, name);
    char * end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0') bad_checkpoint(r.path(), "attribute " + obj + "/" + name + " is not a number ('" + s + "')");
    return v;
}


bool is_complete_run(const std::string & path) {
    try {
        io::RunReader r(path);
        (void)r.attr_string("metrics", "steps");
        return r.has("params") && r.has("spec");
    } catch (const Error &) {
        return false;
    }
}

} // namespace

void check_same_spec(const std::string & stored_json, const nlohmann::json & now, const std::string & file,
                     const std::string & spec_name) {
    nlohmann::json stored;
    try {
        stored = nlohmann::json::parse(stored_json);
    } catch (const std::exception &) {
        throw Error(ErrorCode::io, file + ": the stored /spec is not valid JSON");
    }
    const auto diff = spec_differences(stored, now);
    if (diff.empty()) return;
    std::string msg = "cannot resume: " + file + " was written by another spec than " + spec_name +
                      " (with its --set overrides); " + std::to_string(diff.size()) +
                      (diff.size() == 1 ? " difference:" : " differences:");
    for (const auto & d : diff) msg += "\n  " + d;
    throw Error(ErrorCode::spec, msg,
                {"resume with the same spec and --set overrides, or start over without --resume"});
}

// ------------------------------------------------------------------------------ checkpoints

std::string checkpoint_path(const std::string & out_path) { return out_path + ".ckpt"; }

void SeriesLog::append(const std::string & name, double value) {
    auto it = s1_.find(name);
    if (it == s1_.end()) {
        MOE_CHECK(!s2_.count(name), ErrorCode::internal, name + ": is a row series");
        names_.push_back(name);
        it = s1_.emplace(name, std::vector<double>{}).first;
    }
    it->second.push_back(value);
}

void SeriesLog::append_row(const std::string & name, std::span<const float> row) {
    auto it = s2_.find(name);
    if (it == s2_.end()) {
        MOE_CHECK(!s1_.count(name) && !row.empty(), ErrorCode::internal, name + ": bad row series");
        names_.push_back(name);
        it = s2_.emplace(name, std::pair<int64_t, std::vector<float>>{(int64_t)row.size(), {}}).first;
    }
    MOE_CHECK((int64_t)row.size() == it->second.first, ErrorCode::internal, name + ": row width changed");
    it->second.second.insert(it->second.second.end(), row.begin(), row.end());
}

const std::vector<double> & SeriesLog::values(const std::string & name) const { return s1_.at(name); }
const std::vector<float> & SeriesLog::rows(const std::string & name) const { return s2_.at(name).second; }
int64_t SeriesLog::width(const std::string & name) const {
    auto it = s2_.find(name);
    return it == s2_.end() ? 0 : it->second.first;
}

std::vector<std::string> spec_differences(const nlohmann::json & stored, const nlohmann::json & now) {
    std::vector<std::string> out;
    for (const auto & op : nlohmann::json::diff(stored, now)) {
        const std::string ptr = op.at("path").get<std::string>();
        if (ptr == "/exp/threads") continue;
        const std::string kind = op.at("op").get<std::string>();
        const nlohmann::json::json_pointer jp(ptr);
        const std::string path = ptr.empty() ? std::string("(root)") : json_path(ptr);
        if (kind == "replace")
            out.push_back(path + ": stored " + stored.at(jp).dump() + ", now " + now.at(jp).dump());
        else if (kind == "add")
            out.push_back(path + ": not stored, now " + now.at(jp).dump());
        else if (kind == "remove")
            out.push_back(path + ": stored " + stored.at(jp).dump() + ", now absent");
        else
            out.push_back(path + ": differs");
    }
    return out;
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
    const double win[6] = {ck.win_loss, ck.win_acc, ck.win_aux, double(ck.win_n), double(ck.win_samples), ck.win_seconds};
    w.write_array("checkpoint/window", std::span<const double>(win, 6), {6});
    for (const auto & [name, s] : ck.sites) {
        const std::string p = "checkpoint/sites/" + name + "/";
        w.write_array(p + "load", std::span<const int64_t>(s.load), {(int64_t)s.load.size()});
        const double sums[9] = {double(s.tokens), double(s.dropped), double(s.forwards), s.entropy_sum, s.active_sum,
                                s.aux_lbl, s.aux_z, s.aux_dyn, s.aux_null};
        w.write_array(p + "sums", std::span<const double>(sums, 9), {9});
    }
    std::string names;
    for (const auto & n : ck.series.names()) names += n + "\n";
    w.write_string("checkpoint/series", names);
    w.commit();
}

TrainCheckpoint read_checkpoint(const std::string & path, ParamStore<float> & store) {
    io::RunReader r(path);
    if (!r.has("checkpoint") || !r.has("optim")) bad_checkpoint(path, "no /checkpoint or /optim group (a finished run file?)");
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
    ck.win_loss = win[0]; ck.win_acc = win[1]; ck.win_aux = win[2];
    ck.win_n = (int64_t)win[3]; ck.win_samples = (int64_t)win[4]; ck.win_seconds = win[5];
    for (const auto & name : r.list("checkpoint/sites")) {
        const std::string p = "checkpoint/sites/" + name + "/";
        SiteWindow s;
        for (double c : r.read_doubles(p + "load")) s.load.push_back((int64_t)c);
        const auto v = r.read_doubles(p + "sums");
        if (v.size() != 9) bad_checkpoint(path, "/" + p + "sums must hold 9 values");
        s.tokens = (int64_t)v[0]; s.dropped = (int64_t)v[1]; s.forwards = (int64_t)v[2];
        s.entropy_sum = v[3]; s.active_sum = v[4]; s.aux_lbl = v[5]; s.aux_z = v[6]; s.aux_dyn = v[7]; s.aux_null = v[8];
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

// ------------------------------------------------------------------------------ training

Summary run_training(const spec::Spec & spec, const std::string & out_path, Observer & obs, const TrainOptions & opt) {
    const auto t_start = Clock::now();
    const std::string ckpt_path = checkpoint_path(out_path);
    const nlohmann::json spec_j = spec::to_json(spec);
    const std::string spec_json = spec_j.dump(2);
    const std::string spec_name = opt.spec_source.empty() ? std::string("the spec") : opt.spec_source;
    Summary sum;
    sum.out_path = out_path;
    std::error_code ec;
    if (opt.resume) {
        if (!fs::exists(ckpt_path, ec)) {
            if (is_complete_run(out_path)) {
                io::RunReader done(out_path);
                check_same_spec(done.spec_json(), spec_j, "the finished run " + out_path, spec_name);
                sum.already_finished = true;
                return sum;
            }
            throw Error(ErrorCode::io, "no checkpoint " + ckpt_path + " to resume from" +
                                           (fs::exists(out_path, ec) ? " (" + out_path + " is not a complete run file)" : ""));
        }
        check_same_spec(io::RunReader(ckpt_path).spec_json(), spec_j, "the checkpoint " + ckpt_path, spec_name);
        io::remove_stale_temporaries(out_path);
    } else if (fs::exists(ckpt_path, ec)) {
        log_warn(ckpt_path + " is the checkpoint of an unfinished run; this run starts over and replaces it "
                             "(--resume continues it instead)");
    }
    auto inputs = spec::input_files(spec);
    inputs.push_back({"the spec file", opt.spec_source});
    io::check_output_not_input(out_path, inputs);
    io::check_output_not_input(ckpt_path, inputs);
    // an unwritable output or checkpoint path (a missing directory, a FIFO or a link there) fails
    // now, not after training
    { io::RunWriter probe(out_path, "moe-train"); }
    { io::RunWriter probe(ckpt_path, "moe-train"); }

    blas::blas_init(spec.exp.threads);
    const uint64_t seed = spec.exp.seed;

    // ---- data
    data::Splits splits = data::build_splits(spec.data, seed);
    data::check_finite(splits.train, "training data");
    data::check_finite(splits.val, "validation data");
    data::check_finite(splits.test, "test data");
    MOE_CHECK(splits.train.n > 0, ErrorCode::spec, "data: the training set is empty");
    const auto & tr = splits.train;
    const int V = std::max({tr.n_classes, splits.val.n_classes, splits.test.n_classes});

    // ---- model, adapter sites and parameters
    models::InputShape in{tr.d, tr.channels, tr.height, tr.width};
    auto net = build_network(spec, in, V, (int)splits.task_names.size(), seed);
    auto & store = net->store;
    auto & model = net->model;
    auto & sites = net->sites;
    if (!spec.base.empty() && !opt.resume) {
        io::RunReader base(spec.base);
        std::vector<std::string> names;
        for (const auto & pi : store.infos())
            if (!is_adapter_param(pi.name)) names.push_back(pi.name);
        base.load_params(store, names);
        log_info("loaded " + std::to_string(names.size()) + " base tensors from " + spec.base);
    } else if (!sites.empty() && spec.base.empty()) {
        log_warn("adapters on a randomly initialised base (no \"base\" run file given)");
    }
    MOE_CHECK(store.n_trainable() > 0, ErrorCode::spec, "train.freeze: every parameter is frozen; nothing to train");
    const int accum = spec.train.grad_accum;
    const int B = spec.train.batch_size / accum; // micro-batch
    const int Be = spec.eval.batch_size;
    net->plan(std::max(B, Be));
    for (auto & s : sites) s->set_aux_scale(1.0 / accum);
    const bool augment = spec.data.augment.hflip || spec.data.augment.shift > 0;
    MOE_CHECK(!augment || tr.is_image(), ErrorCode::spec, "data.augment: the data has no image geometry");
    std::vector<float> aug_scratch(augment ? (size_t)tr.d : 0);
    BatchBuffers buf; // one training micro-batch (evaluation keeps its own)
    buf.plan(B, tr.d, V);

    // ---- optimisation
    optim::OptimConfig oc{spec.train.optimizer, spec.train.lr, spec.train.momentum, spec.train.nesterov,
                          spec.train.beta1, spec.train.beta2, spec.train.eps, spec.train.weight_decay};
    std::vector<optim::GroupConfig> groups;
    if (spec.train.router_lr > 0) groups.push_back({"*.router.*", spec.train.router_lr, 1.0, -1});
    if (spec.train.adapter_lr > 0) groups.push_back({"*.experts.*", spec.train.adapter_lr, 1.0, -1});
    for (const auto & g : spec.train.groups) groups.push_back({g.pattern, g.lr, g.lr_scale, g.weight_decay});
    optim::Optimizer<float> opt_(oc, store, groups);
    optim::ScheduleConfig sc{spec.train.schedule, spec.train.warmup_steps, spec.train.min_lr / spec.train.lr,
                             spec.train.step_size, spec.train.gamma};

    data::Batcher batcher(tr, B, true, seed);
    const int64_t micro_per_epoch = batcher.batches_per_epoch();
    const int64_t spe = (micro_per_epoch + accum - 1) / accum;
    int64_t total = (int64_t)spec.train.epochs * spe;
    if (spec.train.max_steps > 0) total = spec.train.epochs > 0 ? std::min(total, spec.train.max_steps) : spec.train.max_steps;
    const int epochs = (int)((total + spe - 1) / spe);

    // ---- the training state a checkpoint carries (the live one; m and v are copied in to save)
    TrainCheckpoint st;
    st.optimizer = spec.train.optimizer;
    for (auto & s : sites) st.sites[s->name()].load.assign(s->experts(), 0);
    int64_t last_ckpt_step = -1;
    if (opt.resume) {
        TrainCheckpoint ck = read_checkpoint(ckpt_path, store);
        auto check = [&](bool ok, const std::string & what) { if (!ok) bad_checkpoint(ckpt_path, what); };
        check(ck.optimizer == spec.train.optimizer, "optimizer '" + ck.optimizer + "', the spec's is '" + spec.train.optimizer + "'");
        check(ck.m.size() == opt_.state_m().size() && ck.v.size() == opt_.state_v().size(), "optimizer state of another size");
        check(ck.step >= 0 && ck.step <= total && ck.epoch >= 0 && ck.epoch < epochs && ck.batch >= 0 && ck.batch <= spe,
              "position (step " + std::to_string(ck.step) + ", epoch " + std::to_string(ck.epoch) + ", batch " +
                  std::to_string(ck.batch) + ") outside the run");
        check(ck.sites.size() == st.sites.size(), "another set of adapter sites");
        for (auto & [name, w] : st.sites) {
            auto it = ck.sites.find(name);
            check(it != ck.sites.end() && it->second.load.size() == w.load.size(), "site " + name + " missing or of another size");
        }
        std::copy(ck.m.begin(), ck.m.end(), opt_.state_m().begin());
        std::copy(ck.v.begin(), ck.v.end(), opt_.state_v().begin());
        opt_.set_steps(ck.optim_steps);
        st = std::move(ck);
        last_ckpt_step = st.step;
    }
    std::vector<SiteWindow *> swin;
    for (auto & s : sites) swin.push_back(&st.sites.at(s->name()));

    StartInfo si;
    si.out_path = out_path;
    si.model_kind = model->kind();
    si.n_train = tr.n; si.n_val = splits.val.n; si.n_test = splits.test.n;
    si.n_classes = V;
    si.n_trainable = store.n_trainable(); si.n_frozen = store.n_frozen();
    si.steps_per_epoch = spe; si.total_steps = total; si.epochs = epochs;
    si.task_names = splits.task_names;
    si.checkpoint = ckpt_path;
    if (opt.resume) si.resumed_step = st.step;
    obs.on_start(si);

    const double seconds_before = st.seconds; // training time of earlier sessions
    auto train_seconds = [&] { return seconds_before + seconds_since(t_start); };
    int64_t step = st.step;
    const int start_epoch = st.epoch;
    const int64_t start_batch = st.batch;
    auto win_t0 = Clock::now() - std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(st.win_seconds));
    auto save = [&](int next_epoch, int64_t next_batch, const char * reason) {
        const auto t0 = Clock::now();
        st.step = step; st.epoch = next_epoch; st.batch = next_batch;
        st.seconds = train_seconds();
        st.win_seconds = seconds_since(win_t0);
        st.optim_steps = opt_.steps();
        st.m.assign(opt_.state_m().begin(), opt_.state_m().end());
        st.v.assign(opt_.state_v().begin(), opt_.state_v().end());
        write_checkpoint(ckpt_path, "moe-train", spec_json, spec.exp.name, store, st);
        last_ckpt_step = step;
        win_t0 += Clock::now() - t0; // writing checkpoints is not training throughput
        log_debug("checkpoint (" + std::string(reason) + ") at step " + std::to_string(step) + ": " + ckpt_path);
        obs.on_checkpoint({ckpt_path, step, reason});
    };
    auto interrupted = [&] {
        std::string msg = "interrupted at step " + std::to_string(step) + ": checkpoint written to " + ckpt_path;
        if (!opt.resume_command.empty()) msg += "; resume with: " + opt.resume_command;
        return Interrupted(msg);
    };
    const int64_t ckpt_every = spec.log.checkpoint_every;

    store.zero_grad();
    for (int epoch = start_epoch; epoch < epochs; ++epoch) {
        batcher.start_epoch(epoch);
        for (int64_t bi = epoch == start_epoch ? start_batch : 0; bi < spe && step < total; ++bi) {
            double loss = 0, aux = 0;
            int n = 0, correct = 0;
            const char * bad_term = nullptr; // the first non-finite loss term of the step (for the message)
            const std::string * bad_site = nullptr;
            for (int mi = 0; mi < accum; ++mi) {
                const int64_t micro = bi * accum + mi;
                if (micro >= micro_per_epoch) break;
                const int nm = batcher.fill(micro, buf.x.data(), buf.y.data(), buf.task.data());
                if (augment) {
                    Rng arng(seed_for(seed, "data.augment") + (uint64_t)(epoch * micro_per_epoch + micro));
                    data::augment_batch(buf.x.data(), nm, tr.channels, tr.height, tr.width, spec.data.augment, arng, aug_scratch.data());
                }
                for (auto & s : sites) s->set_context(buf.task.data(), nm, step, seed_for(seed, "micro") + (uint64_t)(epoch * micro_per_epoch + micro));
                const float * logits = model->forward(buf.x.data(), nm, true);
                const double ce = nn::cross_entropy_forward(buf.losses.data(), buf.probs.data(), logits, buf.y.data(), nm, V, 0, V);
                for (int r = 0; r < nm; ++r) correct += argmax_row(logits + (size_t)r * V, V) == buf.y[r];
                double a = spec.loss.lbl_coef * net->pool_lbl(true);
                if (!bad_term && !std::isfinite(ce)) bad_term = "the cross-entropy";
                if (!bad_term && !std::isfinite(a)) bad_term = "the pooled load-balancing loss";
                for (auto & s : sites) {
                    a += s->aux_loss();
                    if (!bad_term && !std::isfinite(s->aux_loss())) { bad_term = "the auxiliary losses of site "; bad_site = &s->name(); }
                }
                std::fill(buf.dlogits.begin(), buf.dlogits.begin() + (size_t)nm * V, 0.f);
                nn::cross_entropy_backward(buf.dlogits.data(), buf.probs.data(), buf.y.data(), 1.0f / (nm * accum), nm, V);
                model->backward(buf.dlogits.data(), nm);
                loss += ce * nm;
                aux += a;
                n += nm;
            }
            accumulate_window(sites, swin);
            loss /= n;
            aux /= accum;
            loss += aux;
            const double gnorm = optim::clip_grad_norm(store.trainable_grads(), spec.train.clip_grad_norm);
            if (!std::isfinite(loss) || !std::isfinite(gnorm)) {
                std::string msg = "non-finite " + std::string(std::isfinite(loss) ? "gradient norm" : "loss") + " at step " +
                                  std::to_string(step + 1) + " (epoch " + std::to_string(epoch + 1) + ")" +
                                  first_non_finite(store);
                if (bad_term) msg += std::string("; first non-finite loss term: ") + bad_term + (bad_site ? *bad_site : "");
                if (last_ckpt_step >= 0)
                    msg += "; the last good checkpoint " + ckpt_path + " (step " + std::to_string(last_ckpt_step) + ") is kept";
                throw Error(ErrorCode::numeric, msg, {"try a lower train.lr or train.clip_grad_norm"});
            }
            const double factor = optim::schedule_factor(sc, step, total);
            opt_.step(factor, /*zero_grads=*/true); // the next step starts from zero gradients
            net->after_step();
            ++step;

            st.win_loss += loss; st.win_aux += aux; st.win_acc += double(correct) / n; ++st.win_n; st.win_samples += n;
            const bool record = step % spec.log.every == 0 || step == total || bi + 1 == spe;
            StepInfo si_;
            si_.step = step; si_.total_steps = total; si_.epoch = epoch; si_.batch = bi + 1; si_.batches = spe;
            si_.loss = st.win_loss / st.win_n; si_.accuracy = st.win_acc / st.win_n;
            si_.lr = spec.train.lr * factor; si_.grad_norm = gnorm;
            const double dt = seconds_since(win_t0);
            si_.samples_per_s = dt > 0 ? st.win_samples / dt : 0;
            si_.ms_per_step = 1000.0 * dt / st.win_n;
            si_.record = record;
            obs.on_step(si_);
            if (record) {
                auto & log = st.series;
                log.append("metrics/train/step", double(step));
                log.append("metrics/train/epoch", double(epoch) + double(bi + 1) / spe);
                log.append("metrics/train/loss", si_.loss);
                log.append("metrics/train/aux_loss", st.win_aux / st.win_n);
                log.append("metrics/train/accuracy", si_.accuracy);
                log.append("metrics/train/lr", si_.lr);
                log.append("metrics/train/grad_norm", gnorm);
                log.append("metrics/train/ms_per_step", si_.ms_per_step);
                log.append("metrics/train/samples_per_s", si_.samples_per_s);
                write_routing(log, sites, swin, step);
                st.win_loss = st.win_acc = st.win_aux = 0; st.win_n = st.win_samples = 0;
                win_t0 = Clock::now();
            }
            if (interrupt_requested()) {
                save(epoch, bi + 1, "interrupt");
                throw interrupted();
            }
            const bool epoch_end = bi + 1 == spe || step >= total; // the epoch's checkpoint follows its evaluation
            if (ckpt_every > 0 && step % ckpt_every == 0 && !epoch_end) save(epoch, bi + 1, "every");
        }
        const bool last = epoch + 1 == epochs || step >= total;
        if ((epoch + 1) % spec.eval.every_epochs == 0 || last) {
            for (auto [on, ds, name] : {std::tuple{spec.eval.val, &splits.val, "val"}, std::tuple{spec.eval.test, &splits.test, "test"}}) {
                if (!on || ds->n == 0) continue;
                EvalInfo ev = evaluate_dataset(*net, *ds, splits.task_names, Be, name, false);
                ev.step = step; ev.epoch = epoch + 1;
                write_eval(st.series, ev);
                obs.on_eval(ev);
                if (last) {
                    sum.final_metrics[std::string(name) + "/accuracy"] = ev.accuracy;
                    sum.final_metrics[std::string(name) + "/loss"] = ev.loss;
                }
            }
            win_t0 = Clock::now(); // evaluation time is not training throughput
        }
        if (last) break;
        save(epoch + 1, 0, "epoch");
        if (interrupt_requested()) throw interrupted();
    }
    sum.steps = step;
    sum.seconds = train_seconds();
    io::RunWriter w(out_path, "moe-train");
    write_run_body(w, spec_json, spec.exp.name, store, st.series);
    for (const auto & [k, v] : sum.final_metrics) w.set_attr("metrics", "final/" + k, v);
    w.set_attr("metrics", "seconds", sum.seconds);
    w.set_attr_int("metrics", "steps", step);
    w.commit();
    if (fs::exists(ckpt_path, ec) && !fs::remove(ckpt_path, ec))
        log_warn("could not remove the checkpoint " + ckpt_path + ": " + ec.message());
    obs.on_end(sum);
    return sum;
}

} // namespace moe::train
