// expand: a stream's run file and checkpoint, written after every task, and the resume that reads
// them back (the layout is in docs/run-file.md).
#include "internal.hpp"

#include "moe/blas/gemm.hpp"
#include "moe/core/error.hpp"
#include "moe/train/spec_check.hpp"

namespace moe::expand {

void Expander::write_state(io::RunWriter & w, bool final) const {
    w.set_attr("/", "name", spec_.exp.name); // as moe-train's run files
    w.set_attr("/", "blas", blas::blas_description());
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
    const auto shapeR = r.shape("stream/accuracy_matrix");
    done_ = shapeR.empty() ? 0 : (int)shapeR[0];
    const auto Rv = r.read_doubles("stream/accuracy_matrix");
    const auto Rtv = r.read_doubles("stream/task_aware/accuracy_matrix");
    const auto adv = r.read_doubles("stream/adapters");
    const auto pin = r.read_doubles("stream/params_added_inference");
    const auto pto = r.read_doubles("stream/params_added_total");
    MOE_CHECK((int)Rv.size() == done_ * N && Rtv.size() == Rv.size() && (int)adv.size() == done_ * nS, ErrorCode::io,
              r.path() + ": inconsistent stream state (accuracy matrix / adapter counts)");
    R_.assign(done_, std::vector<double>(N));
    Rt_.assign(done_, std::vector<double>(N));
    adapters_hist_.assign(done_, std::vector<int64_t>(nS));
    for (int i = 0; i < done_; ++i) {
        for (int j = 0; j < N; ++j) {
            R_[i][j] = Rv[(size_t)i * N + j];
            Rt_[i][j] = Rtv[(size_t)i * N + j];
        }
        for (int s = 0; s < nS; ++s) adapters_hist_[i][s] = (int64_t)adv[(size_t)i * nS + s];
        p_inf_.push_back((int64_t)pin.at(i));
        p_tot_.push_back((int64_t)pto.at(i));
    }
    det_rows_ = r.read_doubles("stream/detections");
    detz_rows_ = r.read_doubles("stream/detection_z");
    for (double v : r.read_doubles("stream/expansions")) expansions_.push_back((int64_t)v);
    for (int s = 0; s < nS; ++s) {
        auto & site = *sites_[s];
        const std::string p = "sema/" + site.name() + "/";
        const auto K = r.read_doubles(p + "adapters");
        MOE_CHECK(K.size() == 1 && K[0] >= 1 && K[0] <= site.slots(), ErrorCode::io,
                  r.path() + ": bad adapter count at " + p + "adapters");
        site.set_adapters((int)K[0]);
        if (!site.has_descriptors()) continue;
        for (int k = 0; k < site.adapters(); ++k) {
            auto & rec = site.records(k);
            rec.init(rec.capacity);
            for (double v : r.read_doubles(p + "rd" + std::to_string(k) + "/records")) rec.push(v);
        }
    }
}

} // namespace moe::expand
