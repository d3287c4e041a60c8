// train: the training loop — a base model from scratch, or adapter experts and routers on a frozen
// base, with micro-batch accumulation, routing telemetry and per-epoch evaluation.
#include "moe/train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "moe/blas/gemm.hpp"
#include "moe/core/error.hpp"
#include "moe/core/glob.hpp"
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

void write_eval(io::RunWriter & w, const EvalInfo & ev) {
    const std::string p = "metrics/eval/" + ev.split + "/";
    w.append(p + "step", double(ev.step));
    w.append(p + "epoch", double(ev.epoch));
    w.append(p + "loss", ev.loss);
    w.append(p + "accuracy", ev.accuracy);
    for (const auto & t : ev.tasks) {
        w.append(p + "tasks/" + t.task + "/loss", t.loss);
        w.append(p + "tasks/" + t.task + "/accuracy", t.accuracy);
    }
}

// One telemetry record per adapted site: /routing/<site>/{step, load (n_log,E), entropy, active,
// dropped, flops_ratio, lbl, z_loss, dynmole_loss, null_loss}; then the window restarts.
void write_routing(io::RunWriter & w, Sites & sites, int64_t step) {
    for (auto & s : sites) {
        const auto & st = s->stats();
        if (st.tokens == 0) continue;
        const std::string p = "routing/" + s->name() + "/";
        std::vector<float> load(st.load.size());
        int64_t total = 0;
        for (auto c : st.load) total += c;
        for (size_t e = 0; e < load.size(); ++e) load[e] = total ? float(double(st.load[e]) / double(total)) : 0.f;
        const double fw = std::max<int64_t>(1, st.forwards);
        w.append(p + "step", double(step));
        w.append_row(p + "load", load);
        w.append(p + "entropy", st.entropy_sum / st.tokens);
        w.append(p + "active", st.active_sum / st.tokens);
        w.append(p + "dropped", double(st.dropped) / st.tokens);
        w.append(p + "flops_ratio", s->flops_ratio());
        w.append(p + "lbl", st.aux_lbl / fw);
        w.append(p + "z_loss", st.aux_z / fw);
        w.append(p + "dynmole_loss", st.aux_dyn / fw);
        w.append(p + "null_loss", st.aux_null / fw);
        s->reset_stats();
    }
}

} // namespace

Summary run_training(const spec::Spec & spec, const std::string & out_path, Observer & obs) {
    const auto t_start = Clock::now();
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
    if (!spec.base.empty()) {
        io::RunReader base(spec.base);
        std::vector<std::string> names;
        for (const auto & pi : store.infos())
            if (!is_adapter_param(pi.name)) names.push_back(pi.name);
        base.load_params(store, names);
        log_info("loaded " + std::to_string(names.size()) + " base tensors from " + spec.base);
    } else if (!sites.empty()) {
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
    optim::Optimizer<float> opt(oc, store, groups);
    optim::ScheduleConfig sc{spec.train.schedule, spec.train.warmup_steps, spec.train.min_lr / spec.train.lr,
                             spec.train.step_size, spec.train.gamma};

    data::Batcher batcher(tr, B, true, seed);
    const int64_t micro_per_epoch = batcher.batches_per_epoch();
    const int64_t spe = (micro_per_epoch + accum - 1) / accum;
    int64_t total = (int64_t)spec.train.epochs * spe;
    if (spec.train.max_steps > 0) total = spec.train.epochs > 0 ? std::min(total, spec.train.max_steps) : spec.train.max_steps;
    const int epochs = (int)((total + spe - 1) / spe);

    // ---- run file
    io::RunWriter w(out_path, "moe-train");
    w.write_string("spec", spec::to_json(spec).dump(2));
    w.set_attr("/", "name", spec.exp.name);
    w.set_attr("/", "blas", blas::blas_description());

    StartInfo si;
    si.out_path = out_path;
    si.model_kind = model->kind();
    si.n_train = tr.n; si.n_val = splits.val.n; si.n_test = splits.test.n;
    si.n_classes = V;
    si.n_trainable = store.n_trainable(); si.n_frozen = store.n_frozen();
    si.steps_per_epoch = spe; si.total_steps = total; si.epochs = epochs;
    si.task_names = splits.task_names;
    obs.on_start(si);

    Summary sum;
    sum.out_path = out_path;
    int64_t step = 0;
    double win_loss = 0, win_acc = 0, win_aux = 0;
    int64_t win_n = 0, win_samples = 0;
    auto win_t0 = Clock::now();
    store.zero_grad();
    for (int epoch = 0; epoch < epochs && step < total; ++epoch) {
        batcher.start_epoch(epoch);
        for (int64_t bi = 0; bi < spe && step < total; ++bi) {
            double loss = 0, aux = 0;
            int n = 0, correct = 0;
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
                for (auto & s : sites) a += s->aux_loss();
                std::fill(buf.dlogits.begin(), buf.dlogits.begin() + (size_t)nm * V, 0.f);
                nn::cross_entropy_backward(buf.dlogits.data(), buf.probs.data(), buf.y.data(), 1.0f / (nm * accum), nm, V);
                model->backward(buf.dlogits.data(), nm);
                loss += ce * nm;
                aux += a;
                n += nm;
            }
            loss /= n;
            aux /= accum;
            loss += aux;
            const double gnorm = optim::clip_grad_norm(store.trainable_grads(), spec.train.clip_grad_norm);
            if (!std::isfinite(loss) || !std::isfinite(gnorm))
                throw Error(ErrorCode::numeric, "non-finite " + std::string(std::isfinite(loss) ? "gradient norm" : "loss") +
                                                    " at step " + std::to_string(step + 1) + " (epoch " +
                                                    std::to_string(epoch + 1) + "); try a lower train.lr or train.clip_grad_norm");
            const double factor = optim::schedule_factor(sc, step, total);
            opt.step(factor);
            net->after_step();
            store.zero_grad();
            ++step;

            win_loss += loss; win_aux += aux; win_acc += double(correct) / n; ++win_n; win_samples += n;
            const bool record = step % spec.log.every == 0 || step == total || bi + 1 == spe;
            StepInfo st;
            st.step = step; st.total_steps = total; st.epoch = epoch; st.batch = bi + 1; st.batches = spe;
            st.loss = win_loss / win_n; st.accuracy = win_acc / win_n;
            st.lr = spec.train.lr * factor; st.grad_norm = gnorm;
            const double dt = seconds_since(win_t0);
            st.samples_per_s = dt > 0 ? win_samples / dt : 0;
            st.ms_per_step = 1000.0 * dt / win_n;
            st.record = record;
            obs.on_step(st);
            if (record) {
                w.append("metrics/train/step", double(step));
                w.append("metrics/train/epoch", double(epoch) + double(bi + 1) / spe);
                w.append("metrics/train/loss", st.loss);
                w.append("metrics/train/aux_loss", win_aux / win_n);
                w.append("metrics/train/accuracy", st.accuracy);
                w.append("metrics/train/lr", st.lr);
                w.append("metrics/train/grad_norm", gnorm);
                w.append("metrics/train/ms_per_step", st.ms_per_step);
                w.append("metrics/train/samples_per_s", st.samples_per_s);
                write_routing(w, sites, step);
                w.flush();
                win_loss = win_acc = win_aux = 0; win_n = win_samples = 0;
                win_t0 = Clock::now();
            }
        }
        const bool last = epoch + 1 == epochs || step >= total;
        if ((epoch + 1) % spec.eval.every_epochs == 0 || last) {
            for (auto [on, ds, name] : {std::tuple{spec.eval.val, &splits.val, "val"}, std::tuple{spec.eval.test, &splits.test, "test"}}) {
                if (!on || ds->n == 0) continue;
                EvalInfo ev = evaluate_dataset(*net, *ds, splits.task_names, Be, name, false);
                ev.step = step; ev.epoch = epoch + 1;
                write_eval(w, ev);
                obs.on_eval(ev);
                if (last) {
                    sum.final_metrics[std::string(name) + "/accuracy"] = ev.accuracy;
                    sum.final_metrics[std::string(name) + "/loss"] = ev.loss;
                }
            }
            w.flush();
            win_t0 = Clock::now(); // evaluation time is not training throughput
        }
    }
    w.write_params(store);
    for (const auto & [k, v] : sum.final_metrics) w.set_attr("metrics", "final/" + k, v);
    sum.steps = step;
    sum.seconds = seconds_since(t_start);
    w.set_attr("metrics", "seconds", sum.seconds);
    w.set_attr("metrics", "steps", double(step));
    w.commit();
    obs.on_end(sum);
    return sum;
}

} // namespace moe::train
