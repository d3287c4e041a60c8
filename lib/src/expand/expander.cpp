// expand: the continual-learning stream of moe-expand — SEMA's self-expansion and its baselines
// on the same stream (strategies.cpp), the accuracy matrix after every task, a checkpoint after
// every task and the run file at the end.
#include <chrono>
#include <filesystem>
#include <limits>

#include "internal.hpp"

#include "moe/blas/gemm.hpp"
#include "moe/core/error.hpp"
#include "moe/core/interrupt.hpp"
#include "moe/spec/paths.hpp"
#include "moe/train/memory_estimate.hpp"
#include "moe/train/run_setup.hpp"

namespace moe::expand {

namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
} // namespace

StreamSummary Expander::run() {
    const auto t0 = Clock::now();
    check_shards();
    if (opt_.resume) { // no checkpoint, but this stream's finished run: nothing to do
        std::error_code ec;
        bool finished = false; // (rank 0 looks, before any process may write)
        if (writer() && !fs::exists(checkpoint_path(out_), ec) && fs::exists(out_, ec)) {
            io::RunReader done(out_);
            check_same_stream(done, spec_, opt_.spec_source.empty() ? std::string("the spec") : opt_.spec_source);
            finished = true;
        }
        if (comm_.any(finished)) {
            StreamSummary s;
            s.out_path = out_;
            s.finished = s.already_finished = true;
            return s;
        }
    }
    // an output that cannot be written fails now, not after the first task (the probe's
    // temporary file is removed when it goes out of scope uncommitted); rank 0 writes
    auto inputs = spec::input_files(spec_);
    inputs.push_back({"the spec file", opt_.spec_source});
    if (writer()) train::prepare_outputs({out_, checkpoint_path(out_)}, inputs, "moe-expand");
    // the memory guard: refused before the data is read or anything large is allocated
    train::check_memory(train::estimate_run_memory(spec_, "moe-expand"), available_memory());
    blas::blas_init(spec_.exp.threads);
    build();
    plan_parallel();
    const int N = (int)st_.names.size();
    const std::string ckpt = checkpoint_path(out_);
    StreamSummary sum;
    sum.out_path = out_;
    if (opt_.resume) {
        std::error_code ec;
        if (fs::exists(ckpt, ec)) {
            io::RunReader r(ckpt);
            restore(r);
            if (writer()) io::remove_stale_temporaries(out_);
        } else {
            throw Error(ErrorCode::io, "no checkpoint " + ckpt + " to resume from");
        }
        comm_.any(false); // (every process has read the checkpoint before rank 0 may replace it)
    }
    {
        StreamStart s;
        s.out_path = out_;
        s.strategy = cfg_.strategy;
        s.task_names = st_.names;
        s.sites = site_names_;
        for (auto * site : sites_) s.expandable.push_back(site->expandable());
        s.n_train = st_.all_train.n;
        for (auto & t : st_.test) s.n_test += t.n;
        s.base_params = net_->store.n_frozen();
        s.resumed_tasks = done_;
        obs_.on_start(s);
    }
    const int nS = (int)sites_.size();
    for (int t = done_; t < N; ++t) {
        const auto tt = Clock::now();
        cur_task_ = t;
        phase_counter_ = 0;
        TaskReport rep;
        rep.task = t;
        rep.n_tasks = N;
        rep.name = st_.names[t];
        rep.first_pass_z.assign(nS, kNaN);
        run_task(*this, t, rep);
        evaluate_after(t);
        std::vector<int64_t> ad;
        for (auto * s : sites_) {
            ad.push_back(s->adapters());
            rep.adapters.push_back(s->adapters());
        }
        adapters_hist_.push_back(ad);
        int64_t pi = 0, pt = 0;
        count_params(pi, pt);
        p_inf_.push_back(pi);
        p_tot_.push_back(pt);
        done_ = t + 1;
        rep.row.assign(R_[t].begin(), R_[t].begin() + t + 1);
        std::vector<std::vector<double>> Rd(R_.begin(), R_.begin() + done_);
        std::vector<int64_t> ntest;
        for (const auto & d : st_.test) ntest.push_back(d.n);
        rep.A = stream_metrics(Rd, ntest).curve.back();
        std::vector<std::vector<double>> Rtd(Rt_.begin(), Rt_.begin() + done_);
        rep.A_task_aware = stream_metrics(Rtd, ntest).curve.back();
        rep.params_inference = pi;
        rep.params_total = pt;
        rep.seconds = seconds_since(tt);
        seconds_ += rep.seconds;
        if (done_ < N && writer()) write_checkpoint(); // resumable after every task
        obs_.on_task(rep);
        if (done_ < N && opt_.stop_after > 0 && done_ >= opt_.stop_after) {
            sum.tasks_done = done_;
            sum.finished = false;
            sum.metrics = stream_metrics(Rd, ntest);
            sum.seconds = seconds_since(t0);
            obs_.on_end(sum);
            return sum;
        }
        if (done_ < N && comm_.any(interrupt_requested())) // (every process stops after the same task)
            throw Error(ErrorCode::interrupted, "interrupted after task " + std::to_string(done_) + " of " +
                                                    std::to_string(N) + ": checkpoint written to " + ckpt);
    }
    if (writer()) {
        {
            io::RunWriter w(out_, "moe-expand");
            write_state(w, true);
            w.commit();
        }
        std::error_code ec;
        fs::remove(ckpt, ec);
    }
    std::vector<int64_t> ntest;
    for (const auto & d : st_.test) ntest.push_back(d.n);
    sum.tasks_done = done_;
    sum.finished = true;
    sum.metrics = stream_metrics(R_, ntest);
    sum.seconds = seconds_since(t0);
    obs_.on_end(sum);
    return sum;
}

StreamSummary run_stream(const spec::Spec & spec, const std::string & out_path, StreamObserver & obs,
                         const StreamOptions & opt) {
    const spec::Spec abs = spec::absolute_paths(spec); // stored absolute, as moe-train's runs
    Expander e(abs, out_path, obs, opt);
    return e.run();
}

} // namespace moe::expand
