// train: moe-train's run — a base model from scratch, or adapter experts and routers on a frozen
// base: the data, the network, the optimizer, the epochs of steps (train/step.hpp), the log
// records, checkpoints and evaluations, and the run file at the end.
#include "moe/train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "moe/blas/gemm.hpp"
#include "moe/core/error.hpp"
#include "moe/core/interrupt.hpp"
#include "moe/core/log.hpp"
#include "moe/core/memory_limit.hpp"
#include "moe/io/run_file.hpp"
#include "moe/optim/optim.hpp"
#include "moe/train/evaluate.hpp"
#include "moe/train/evaluator.hpp"
#include "moe/train/hf_base.hpp"
#include "moe/train/peft_import.hpp"
#include "moe/train/memory_estimate.hpp"
#include "moe/spec/paths.hpp"
#include "moe/train/network.hpp"
#include "moe/train/param_patterns.hpp"
#include "moe/train/records.hpp"
#include "moe/train/run_data.hpp"
#include "moe/train/run_setup.hpp"
#include "moe/train/step.hpp"

namespace moe::train {

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// One site's routing over the final test evaluation: task x expert shares, MI and NMI.
struct SiteAffinity {
    std::string site;
    int experts = 0;
    std::vector<double> affinity;
    double mi = 0, nmi = 0;
};

} // namespace

Summary run_training(const spec::Spec & given, const std::string & out_path, Observer & obs, const TrainOptions & opt) {
    // the run file stores its inputs' paths absolute: moe-eval finds them from any directory
    // (a Hugging Face base directory gives the model: train/hf_base.hpp)
    // (PEFT adapters in adapters.peft give the adapters: train/peft_import.hpp)
    const spec::Spec spec = with_peft_adapters(with_hf_base(spec::absolute_paths(given)));
    const auto t_start = Clock::now();
    const std::string ckpt_path = checkpoint_path(out_path);
    const nlohmann::json spec_j = spec::to_json(spec);
    const std::string spec_json = spec_j.dump(2);
    const std::string spec_name = opt.spec_source.empty() ? std::string("the spec") : opt.spec_source;
    Summary sum;
    sum.out_path = out_path;
    std::error_code ec;
    // data parallel (docs/distributed.md): every process reads the same data and keeps the same
    // weights; only rank 0 writes the checkpoints and the run file
    Communicator single;
    Communicator & comm = opt.comm ? *opt.comm : single;
    const bool writer = comm.rank() == 0;
    const int shards = spec.train.shards;
    shard_block(shards, comm.rank(), comm.size()); // train.shards must be a multiple of the processes
    if (opt.resume) {
        if (!fs::exists(ckpt_path, ec)) {
            if (is_complete_run(out_path)) {
                io::RunReader done(out_path);
                check_same_spec(done.spec_json(), spec_j, "the finished run " + out_path, spec_name);
                sum.already_finished = true;
                return sum;
            }
            throw Error(ErrorCode::io,
                        "no checkpoint " + ckpt_path + " to resume from" +
                            (fs::exists(out_path, ec) ? " (" + out_path + " is not a complete run file)" : ""));
        }
        check_same_spec(io::RunReader(ckpt_path).spec_json(), spec_j, "the checkpoint " + ckpt_path, spec_name);
        if (writer) io::remove_stale_temporaries(out_path);
    } else if (writer && fs::exists(ckpt_path, ec)) {
        log_warn(ckpt_path + " is the checkpoint of an unfinished run; this run starts over and replaces it "
                             "(--resume continues it instead)");
    }
    auto inputs = spec::input_files(spec);
    inputs.push_back({"the spec file", opt.spec_source});
    if (writer) prepare_outputs({out_path, ckpt_path}, inputs, "moe-train");
    // the memory guard: refused before the data is read or anything large is allocated
    check_memory(estimate_run_memory(spec, "moe-train"), available_memory());

    blas::blas_init(spec.exp.threads);
    const uint64_t seed = spec.exp.seed;

    // ---- data
    auto data = open_run_data(spec, seed);
    MOE_CHECK(data->n_train > 0, ErrorCode::spec, "data: the training set is empty");
    const int V = data->n_outputs;

    // ---- model, adapter sites and parameters
    auto net = build_network(spec, data->input, V, (int)data->task_names.size(), seed);
    auto & store = net->store;
    {
        std::vector<std::string> names;
        for (const auto & info : store.infos()) names.push_back(info.name);
        auto problems = unmatched_param_patterns(spec, names);
        if (!problems.empty()) throw SpecError("", problems);
    }
    if (!spec.base.empty() && !opt.resume) {
        load_base(store, spec.base, [](const std::string & n) { return !is_adapter_param(n); });
        load_peft_adapters(store, spec);
    } else if (!net->sites.empty() && spec.base.empty()) {
        log_warn("adapters on a randomly initialised base (no \"base\" run file given)");
    }
    MOE_CHECK(store.n_trainable() > 0, ErrorCode::spec, "train.freeze: every parameter is frozen; nothing to train");
    if (store.frozen_bf16()) {
        const uint64_t n16 = store.n_frozen_bf16(), all = store.n_trainable() + store.n_frozen();
        log_info("model.base_storage bf16: " + std::to_string(n16) + " frozen weights in bfloat16; parameters " +
                 format_bytes(all * 4) + " -> " + format_bytes((all - n16) * 4 + n16 * 2) + " (plus " +
                 format_bytes(store.bf16_scratch_size() * 4) + " of scratch)");
    }
    const int accum = spec.train.grad_accum;
    const int B = spec.train.batch_size / (accum * shards); // micro-batch
    const int Be = spec.eval.batch_size;
    net->plan(std::max(B, Be));
    net->set_aux_scale(1.0 / (accum * shards));
    StepBuffers sbuf;
    sbuf.plan(B * net->model->rows_per_sample(), V);
    sbuf.plan_shards(*net, shards, &comm);

    // ---- optimisation
    optim::OptimConfig oc{spec.train.optimizer, spec.train.lr,    spec.train.momentum, spec.train.nesterov,
                          spec.train.beta1,     spec.train.beta2, spec.train.eps,      spec.train.weight_decay};
    std::vector<optim::GroupConfig> groups;
    if (spec.train.router_lr > 0) groups.push_back({"*.router.*", spec.train.router_lr, 1.0, -1});
    if (spec.train.adapter_lr > 0) groups.push_back({"*.experts.*", spec.train.adapter_lr, 1.0, -1});
    for (const auto & g : spec.train.groups) groups.push_back({g.pattern, g.lr, g.lr_scale, g.weight_decay});
    optim::Optimizer<float> optimizer(oc, store, groups);
    optim::ScheduleConfig sc{spec.train.schedule, spec.train.warmup_steps, spec.train.min_lr / spec.train.lr,
                             spec.train.step_size, spec.train.gamma};

    auto feed = data->train_feed(B, accum * shards, seed);
    TrainFeed & micro = *feed;
    const int64_t micro_per_epoch = micro.micro_per_epoch();
    const int64_t steps_per_epoch = (micro_per_epoch + accum * shards - 1) / (accum * shards);
    int64_t total = (int64_t)spec.train.epochs * steps_per_epoch;
    if (spec.train.max_steps > 0)
        total = spec.train.epochs > 0 ? std::min(total, spec.train.max_steps) : spec.train.max_steps;
    const int epochs = (int)((total + steps_per_epoch - 1) / steps_per_epoch);

    // ---- the training state a checkpoint carries (the live one; m and v are copied in to save)
    TrainCheckpoint st;
    st.optimizer = spec.train.optimizer;
    for (auto & s : net->sites) st.sites[s->name()].init(s->experts());
    int64_t last_ckpt_step = -1;
    if (opt.resume) {
        TrainCheckpoint ck = read_checkpoint(ckpt_path, store);
        auto check = [&](bool ok, const std::string & what) {
            if (!ok) throw Error(ErrorCode::io, ckpt_path + ": not a usable checkpoint: " + what);
        };
        check(ck.optimizer == spec.train.optimizer,
              "optimizer '" + ck.optimizer + "', the spec's is '" + spec.train.optimizer + "'");
        check(ck.m.size() == optimizer.state_m().size() && ck.v.size() == optimizer.state_v().size(),
              "optimizer state of another size");
        check(ck.step >= 0 && ck.step <= total && ck.epoch >= 0 && ck.epoch < epochs && ck.batch >= 0 &&
                  ck.batch <= steps_per_epoch,
              "position (step " + std::to_string(ck.step) + ", epoch " + std::to_string(ck.epoch) + ", batch " +
                  std::to_string(ck.batch) + ") outside the run");
        check(ck.step == (int64_t)ck.epoch * steps_per_epoch + ck.batch,
              "step " + std::to_string(ck.step) + " is not epoch " + std::to_string(ck.epoch) + " x " +
                  std::to_string(steps_per_epoch) + " steps + batch " + std::to_string(ck.batch));
        check(ck.sites.size() == st.sites.size(), "another set of adapter sites");
        for (auto & [name, w] : st.sites) {
            auto it = ck.sites.find(name);
            check(it != ck.sites.end() && it->second.load.size() == w.load.size(),
                  "site " + name + " missing or of another size");
        }
        std::copy(ck.m.begin(), ck.m.end(), optimizer.state_m().begin());
        std::copy(ck.v.begin(), ck.v.end(), optimizer.state_v().begin());
        optimizer.set_steps(ck.optim_steps);
        st = std::move(ck);
        last_ckpt_step = st.step;
    }
    std::vector<routing::RoutingStats *> windows;
    std::vector<SiteAffinity> affinities; // filled by the last test evaluation
    const int n_tasks = (int)data->task_names.size();
    for (auto & s : net->sites) windows.push_back(&st.sites.at(s->name()));

    StartInfo si;
    si.out_path = out_path;
    si.model_kind = net->model->kind();
    si.n_train = data->n_train;
    si.n_val = data->n_val;
    si.n_test = data->n_test;
    si.n_classes = V;
    si.n_trainable = store.n_trainable();
    si.n_frozen = store.n_frozen();
    si.steps_per_epoch = steps_per_epoch;
    si.total_steps = total;
    si.epochs = epochs;
    si.task_names = data->task_names;
    si.checkpoint = ckpt_path;
    if (opt.resume) si.resumed_step = st.step;
    obs.on_start(si);

    const double seconds_before = st.seconds; // training time of earlier sessions
    auto train_seconds = [&] { return seconds_before + seconds_since(t_start); };
    int64_t step = st.step;
    net->set_step(step);
    const int start_epoch = st.epoch;
    const int64_t start_batch = st.batch;
    auto win_t0 =
        Clock::now() - std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(st.win_seconds));
    auto save = [&](int next_epoch, int64_t next_batch, const char * reason) {
        const auto t0 = Clock::now();
        st.step = step;
        st.epoch = next_epoch;
        st.batch = next_batch;
        st.seconds = train_seconds();
        st.win_seconds = seconds_since(win_t0);
        st.optim_steps = optimizer.steps();
        st.m.assign(optimizer.state_m().begin(), optimizer.state_m().end());
        st.v.assign(optimizer.state_v().begin(), optimizer.state_v().end());
        if (writer) write_checkpoint(ckpt_path, "moe-train", spec_json, spec.exp.name, store, st);
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
    StepConfig scfg;
    scfg.accum = accum * shards;
    scfg.shards = shards;
    scfg.comm = &comm;
    scfg.clip = spec.train.clip_grad_norm;

    store.zero_grad();
    for (int epoch = start_epoch; epoch < epochs; ++epoch) {
        micro.start_epoch(epoch);
        for (int64_t bi = epoch == start_epoch ? start_batch : 0; bi < steps_per_epoch && step < total; ++bi) {
            micro.at(epoch, bi);
            scfg.lr_factor = optim::schedule_factor(sc, step, total);
            const StepResult r = train_step(*net, optimizer, micro, scfg, sbuf);
            net->take_stats(windows);
            if (!r.updated) {
                std::string msg = "non-finite " + std::string(std::isfinite(r.loss) ? "gradient norm" : "loss") +
                                  " at step " + std::to_string(step + 1) + " (epoch " + std::to_string(epoch + 1) +
                                  ")" + first_non_finite(store);
                if (!r.bad_term.empty()) msg += "; first non-finite loss term: " + r.bad_term;
                if (last_ckpt_step >= 0)
                    msg += "; the last good checkpoint " + ckpt_path + " (step " + std::to_string(last_ckpt_step) +
                           ") is kept";
                throw Error(ErrorCode::numeric, msg, {"try a lower train.lr or train.clip_grad_norm"});
            }
            ++step;

            st.win_loss += r.loss;
            st.win_aux += r.aux;
            st.win_acc += double(r.correct) / r.rows;
            ++st.win_n;
            st.win_samples += r.samples;
            const bool record = step % spec.log.every == 0 || step == total || bi + 1 == steps_per_epoch;
            StepInfo info;
            info.step = step;
            info.total_steps = total;
            info.epoch = epoch;
            info.batch = bi + 1;
            info.batches = steps_per_epoch;
            info.loss = st.win_loss / st.win_n;
            info.accuracy = st.win_acc / st.win_n;
            info.lr = spec.train.lr * scfg.lr_factor;
            info.grad_norm = r.grad_norm;
            const double dt = seconds_since(win_t0);
            info.samples_per_s = dt > 0 ? st.win_samples / dt : 0;
            info.ms_per_step = 1000.0 * dt / st.win_n;
            info.record = record;
            obs.on_step(info);
            if (record) {
                auto & log = st.series;
                log.append("metrics/train/step", double(step));
                log.append("metrics/train/epoch", double(epoch) + double(bi + 1) / steps_per_epoch);
                log.append("metrics/train/loss", info.loss);
                log.append("metrics/train/aux_loss", st.win_aux / st.win_n);
                log.append("metrics/train/accuracy", info.accuracy);
                log.append("metrics/train/lr", info.lr);
                log.append("metrics/train/grad_norm", r.grad_norm);
                log.append("metrics/train/ms_per_step", info.ms_per_step);
                log.append("metrics/train/samples_per_s", info.samples_per_s);
                write_routing(log, *net, windows, step);
                st.win_loss = st.win_acc = st.win_aux = 0;
                st.win_n = st.win_samples = 0;
                win_t0 = Clock::now();
            }
            if (comm.any(interrupt_requested())) { // (every process stops at the same step)
                save(epoch, bi + 1, "interrupt");
                throw interrupted();
            }
            const bool epoch_end =
                bi + 1 == steps_per_epoch || step >= total; // the epoch's checkpoint follows its evaluation
            if (ckpt_every > 0 && step % ckpt_every == 0 && !epoch_end) save(epoch, bi + 1, "every");
        }
        const bool last = epoch + 1 == epochs || step >= total;
        if ((epoch + 1) % spec.eval.every_epochs == 0 || last) {
            for (auto [on, name] : {std::pair{spec.eval.val, "val"}, std::pair{spec.eval.test, "test"}}) {
                if (!on || !data->has_split(name)) continue;
                // the last test evaluation also counts tokens per task and expert at every site
                const bool analyse = last && std::string(name) == "test" && !net->sites.empty();
                if (analyse)
                    for (auto & s : net->sites) {
                        s->set_analysis(n_tasks, V);
                        s->stats()->clear();
                    }
                EvalInfo ev = data->evaluate(*net, name, Be, analyse);
                if (analyse)
                    for (auto & s : net->sites) {
                        SiteAffinity a;
                        a.site = s->name();
                        a.experts = s->experts();
                        std::vector<double> joint(s->stats()->task_load.begin(), s->stats()->task_load.end());
                        a.affinity = row_shares(s->stats()->task_load, n_tasks, a.experts);
                        mutual_information(joint, n_tasks, a.experts, a.mi, a.nmi);
                        affinities.push_back(std::move(a));
                        s->stats()->clear();
                    }
                ev.step = step;
                ev.epoch = epoch + 1;
                write_eval(st.series, ev);
                obs.on_eval(ev);
                if (last) final_metrics(sum.final_metrics, ev);
            }
            win_t0 = Clock::now(); // evaluation time is not training throughput
        }
        if (last) break;
        save(epoch + 1, 0, "epoch");
        if (comm.any(interrupt_requested())) throw interrupted();
    }
    sum.steps = step;
    sum.seconds = train_seconds();
    if (!writer) { // the run file is rank 0's
        obs.on_end(sum);
        return sum;
    }
    io::RunWriter w(out_path, "moe-train");
    write_run_body(w, spec_json, spec.exp.name, store, st.series);
    for (const auto & [k, v] : sum.final_metrics) w.set_attr("metrics", "final/" + k, v);
    for (const auto & [k, v] : data->provenance()) w.set_attr("data", k, v);
    for (const auto & a : affinities) { // the task x expert shares of the final test evaluation
        const std::string p = "affinity/test/" + a.site;
        w.write_array(p, std::span<const double>(a.affinity), {(int64_t)n_tasks, (int64_t)a.experts});
        w.set_attr(p, "mi", a.mi);
        w.set_attr(p, "nmi", a.nmi);
    }
    w.set_attr("metrics", "seconds", sum.seconds);
    w.set_attr_int("metrics", "steps", step);
    w.commit();
    if (fs::exists(ckpt_path, ec) && !fs::remove(ckpt_path, ec))
        log_warn("could not remove the checkpoint " + ckpt_path + ": " + ec.message());
    obs.on_end(sum);
    return sum;
}

} // namespace moe::train
