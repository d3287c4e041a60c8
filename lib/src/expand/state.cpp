// expand: a stream's run file and checkpoint, written after every task, and the resume that reads
// them back (the layout is in docs/run-file.md).
#include "internal.hpp"

#include <cmath>
#include <cstdlib>
#include <tuple>

#include "moe/blas/gemm.hpp"
#include "moe/core/error.hpp"
#include "moe/simd/isa.hpp"
#include "moe/train/spec_check.hpp"

namespace moe::expand {

void Expander::write_state(io::RunWriter & w, bool final) const {
    w.set_attr("/", "name", spec_.exp.name); // as moe-train's run files
    w.set_attr("/", "blas", blas::blas_description());
    w.set_attr("/", "isa", simd::isa());
    w.write_string("spec", spec::to_json(spec_).dump(2));
    w.write_params(net_->store);
    const int N = (int)st_.names.size();
    const int done = done_;
    const int nS = (int)sites_.size();
    std::string names, sites, expandable;
    for (int i = 0; i < N; ++i) names += (i ? "," : "") + st_.names[i];
    for (int s = 0; s < nS; ++s) {
        sites += (s ? "," : "") + site_names_[s];
        expandable += std::string(s ? "," : "") + (sites_[s]->expandable() ? "1" : "0");
    }
    w.write_string("stream/task_names", names);
    w.write_string("stream/sites", sites);
    w.set_attr("stream", "strategy", cfg_.strategy);
    w.set_attr_int("stream", "tasks", N);
    w.set_attr_int("stream", "tasks_done", done);
    w.set_attr_int("stream", "finished", final ? 1 : 0);
    w.set_attr_int("stream", "steps", steps_);
    w.set_attr("stream", "seconds", seconds_);
    w.set_attr("stream", "expandable", expandable);
    w.set_attr("stream", "labels", std::string(st_.growing ? "growing" : "shared"));
    std::vector<double> R;
    for (int i = 0; i < done; ++i) R.insert(R.end(), R_[i].begin(), R_[i].end());
    w.write_array("stream/accuracy_matrix", std::span<const double>(R), {done, N});
    std::vector<int64_t> ntest;
    for (const auto & t : st_.test) ntest.push_back(t.n);
    w.write_array("stream/n_test", std::span<const int64_t>(ntest), {N});
    std::vector<std::vector<double>> Rd(R_.begin(), R_.begin() + done);
    const StreamMetrics m = stream_metrics(Rd, ntest);
    w.write_array("stream/accuracy_curve", std::span<const double>(m.curve), {done});
    if (done > 0) {
        w.write_array("stream/A_N", std::span<const double>(&m.A_N, 1), {});
        w.write_array("stream/A_bar", std::span<const double>(&m.A_bar, 1), {});
        w.write_array("stream/forgetting", std::span<const double>(&m.forgetting, 1), {});
        w.write_array("stream/bwt", std::span<const double>(&m.bwt, 1), {});
    }
    // the same with the task's identity given at test time (argmax within its own logits)
    std::vector<double> Rt;
    for (int i = 0; i < done; ++i) Rt.insert(Rt.end(), Rt_[i].begin(), Rt_[i].end());
    w.write_array("stream/task_aware/accuracy_matrix", std::span<const double>(Rt), {done, N});
    if (done > 0) {
        std::vector<std::vector<double>> Rtd(Rt_.begin(), Rt_.begin() + done);
        const StreamMetrics mt = stream_metrics(Rtd, ntest);
        w.write_array("stream/task_aware/A_N", std::span<const double>(&mt.A_N, 1), {});
        w.write_array("stream/task_aware/A_bar", std::span<const double>(&mt.A_bar, 1), {});
        w.write_array("stream/task_aware/forgetting", std::span<const double>(&mt.forgetting, 1), {});
    }
    std::vector<int64_t> ad;
    for (int i = 0; i < done; ++i) ad.insert(ad.end(), adapters_hist_[i].begin(), adapters_hist_[i].end());
    w.write_array("stream/adapters", std::span<const int64_t>(ad), {done, nS});
    w.write_array("stream/params_added_inference", std::span<const int64_t>(p_inf_.data(), done), {done});
    w.write_array("stream/params_added_total", std::span<const int64_t>(p_tot_.data(), done), {done});
    w.write_array("stream/expansions", std::span<const int64_t>(expansions_), {(int64_t)expansions_.size() / 2, 2});
    w.set_attr("stream/expansions", "columns", "task,site");
    w.write_array("stream/detections", std::span<const double>(det_rows_), {(int64_t)det_rows_.size() / 7, 7});
    w.set_attr("stream/detections", "columns", "task,pass,batch,site,adapters,score,expanded");
    w.write_array("stream/detection_z", std::span<const double>(detz_rows_), {(int64_t)detz_rows_.size() / 6, 6});
    w.set_attr("stream/detection_z", "columns", "task,pass,batch,site,adapter,mean_z");
    // what resuming needs besides the parameters: adapter counts and descriptor statistics
    for (int s = 0; s < nS; ++s) {
        const auto & site = *sites_[s];
        const std::string p = "sema/" + site.name() + "/";
        const int64_t K = site.adapters();
        w.write_array(p + "adapters", std::span<const int64_t>(&K, 1), {});
        if (!site.has_descriptors()) continue;
        for (int k = 0; k < site.adapters(); ++k) {
            const auto & rec = site.records(k);
            const auto v = rec.values();
            w.write_array(p + "rd" + std::to_string(k) + "/records", std::span<const double>(v), {(int64_t)v.size()});
            const double mu = rec.mean(), sd = rec.std();
            w.write_array(p + "rd" + std::to_string(k) + "/mu", std::span<const double>(&mu, 1), {});
            w.write_array(p + "rd" + std::to_string(k) + "/sigma", std::span<const double>(&sd, 1), {});
        }
    }
}

void Expander::write_checkpoint() const {
    io::RunWriter w(checkpoint_path(out_), "moe-expand");
    write_state(w, false);
    w.commit();
}

// --resume: the file (a checkpoint or a finished run) must hold this stream: written by moe-expand
// for the same resolved spec (exp.threads may differ), else the differences, one per line.
void check_same_stream(const io::RunReader & r, const spec::Spec & spec, const std::string & spec_name) {
    const std::string tool = r.attr_string("/", "tool");
    MOE_CHECK(tool == "moe-expand", ErrorCode::spec,
              "cannot resume: " + r.path() + " was written by " + tool + ", not moe-expand");
    train::check_same_spec(r.spec_json(), spec::to_json(spec), r.path(), spec_name);
}

void Expander::restore(const io::RunReader & r) {
    check_same_stream(r, spec_, opt_.spec_source.empty() ? std::string("the spec") : opt_.spec_source);
    std::vector<std::string> names;
    for (const auto & pi : net_->store.infos()) names.push_back(pi.name);
    r.load_params(net_->store, names);
    const int N = (int)st_.names.size();
    const int nS = (int)sites_.size();
    // every field is checked before use: a checkpoint edited and resealed can hold anything
    auto bad = [&](const std::string & field, const std::string & what) {
        throw Error(ErrorCode::io, r.path() + ": not a usable checkpoint: /" + field + " " + what);
    };
    auto whole = [](double v, double most) { return v >= 0 && v <= most && v == std::floor(v); };
    const auto shapeR = r.shape("stream/accuracy_matrix");
    if (!shapeR.empty() && (shapeR.size() != 2 || shapeR[1] != N || shapeR[0] > N))
        bad("stream/accuracy_matrix", "must be (tasks done, " + std::to_string(N) + ") with at most " +
                                          std::to_string(N) + " tasks done");
    done_ = shapeR.empty() ? 0 : (int)shapeR[0];
    const auto Rv = r.read_doubles("stream/accuracy_matrix");
    const auto Rtv = r.read_doubles("stream/task_aware/accuracy_matrix");
    const auto adv = r.read_doubles("stream/adapters");
    const auto pin = r.read_doubles("stream/params_added_inference");
    const auto pto = r.read_doubles("stream/params_added_total");
    const size_t d = (size_t)done_;
    if (Rtv.size() != Rv.size())
        bad("stream/task_aware/accuracy_matrix", "holds " + std::to_string(Rtv.size()) + " values, /stream/accuracy_matrix " +
                                                     std::to_string(Rv.size()));
    if (adv.size() != d * (size_t)nS)
        bad("stream/adapters", "holds " + std::to_string(adv.size()) + " values, expected " + std::to_string(done_) +
                                   " tasks x " + std::to_string(nS) + " sites");
    if (pin.size() != d) bad("stream/params_added_inference", "must hold one value per task done");
    if (pto.size() != d) bad("stream/params_added_total", "must hold one value per task done");
    // row i: the accuracies after task i on every task j <= i (later tasks not yet seen: NaN)
    for (auto [field, v] : {std::pair{"stream/accuracy_matrix", &Rv}, std::pair{"stream/task_aware/accuracy_matrix", &Rtv}})
        for (size_t k = 0; k < v->size(); ++k) {
            const double x = (*v)[k];
            const bool seen = (int)(k % (size_t)N) <= (int)(k / (size_t)N);
            if (!(x >= 0 && x <= 1) && (seen || !std::isnan(x)))
                bad(field, "[" + std::to_string(k / (size_t)N) + "," + std::to_string(k % (size_t)N) + "] is " +
                               std::to_string(x) + ", expected an accuracy in [0, 1]");
        }
    for (auto [field, v] : {std::pair{"stream/adapters", &adv}, std::pair{"stream/params_added_inference", &pin},
                            std::pair{"stream/params_added_total", &pto}})
        for (double x : *v)
            if (!whole(x, 9.0e15)) bad(field, "holds " + std::to_string(x) + ", expected whole numbers >= 0");
    R_.assign(done_, std::vector<double>(N));
    Rt_.assign(done_, std::vector<double>(N));
    adapters_hist_.assign(done_, std::vector<int64_t>(nS));
    for (int i = 0; i < done_; ++i) {
        for (int j = 0; j < N; ++j) {
            R_[i][j] = Rv[(size_t)i * N + j];
            Rt_[i][j] = Rtv[(size_t)i * N + j];
        }
        for (int s = 0; s < nS; ++s) adapters_hist_[i][s] = (int64_t)adv[(size_t)i * nS + s];
        p_inf_.push_back((int64_t)pin[(size_t)i]);
        p_tot_.push_back((int64_t)pto[(size_t)i]);
    }
    // steps and seconds so far (absent from the files of older versions: 0)
    for (auto [name, dst] : {std::pair{"steps", &steps_}, std::pair{"seconds", (int64_t *)nullptr}}) {
        std::string text;
        try {
            text = r.attr_string("stream", name);
        } catch (const Error &) { continue; }
        char * end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0' || !(v >= 0 && v <= 9.0e15) || (dst && v != std::floor(v)))
            bad(std::string("stream ") + name, "attribute is '" + text + "', expected " +
                                                  (dst ? "a whole number >= 0" : "a time >= 0"));
        if (dst) *dst = (int64_t)v;
        else seconds_ = v;
    }
    det_rows_ = r.read_doubles("stream/detections");
    detz_rows_ = r.read_doubles("stream/detection_z");
    if (det_rows_.size() % 7) bad("stream/detections", "must have 7 columns");
    if (detz_rows_.size() % 6) bad("stream/detection_z", "must have 6 columns");
    // their index columns (the scores are reported, and may be NaN where no score was taken)
    for (auto [field, v, width, index_cols] :
         {std::tuple{"stream/detections", &det_rows_, 7, 5}, std::tuple{"stream/detection_z", &detz_rows_, 6, 5}})
        for (size_t k = 0; k < v->size(); ++k)
            if ((int)(k % width) < index_cols && !whole((*v)[k], 9.0e15))
                bad(field, "row " + std::to_string(k / width) + " holds " + std::to_string((*v)[k]) +
                               " in an index column, expected a whole number >= 0");
    const auto ex = r.read_doubles("stream/expansions");
    if (ex.size() % 2) bad("stream/expansions", "must have 2 columns (task, site)");
    for (size_t i = 0; i < ex.size(); i += 2) {
        if (!whole(ex[i], std::max(done_, 1)) || !whole(ex[i + 1], nS - 1))
            bad("stream/expansions", "row " + std::to_string(i / 2) + " is (" + std::to_string(ex[i]) + ", " +
                                         std::to_string(ex[i + 1]) + "), expected a task done and a site index below " +
                                         std::to_string(nS));
        expansions_.push_back((int64_t)ex[i]);
        expansions_.push_back((int64_t)ex[i + 1]);
    }
    for (int s = 0; s < nS; ++s) {
        auto & site = *sites_[s];
        const std::string p = "sema/" + site.name() + "/";
        const auto K = r.read_doubles(p + "adapters");
        if (!(K.size() == 1 && K[0] >= 1 && K[0] <= site.slots() && K[0] == std::floor(K[0])))
            bad(p + "adapters", "must be one whole number of adapters in 1.." + std::to_string(site.slots()));
        site.set_adapters((int)K[0]);
        if (!site.has_descriptors()) continue;
        for (int k = 0; k < site.adapters(); ++k) {
            auto & rec = site.records(k);
            rec.init(rec.capacity);
            const std::string field = p + "rd" + std::to_string(k) + "/records";
            const auto v = r.read_doubles(field);
            if ((int64_t)v.size() > (int64_t)rec.capacity)
                bad(field, "holds " + std::to_string(v.size()) + " records, the window holds " +
                               std::to_string(rec.capacity));
            for (double x : v) {
                if (!std::isfinite(x)) bad(field, "holds " + std::to_string(x) + ", expected finite scores");
                rec.push(x);
            }
        }
    }
}

} // namespace moe::expand
