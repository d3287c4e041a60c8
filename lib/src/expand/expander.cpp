// expand: the continual-learning driver of moe-expand (SEMA, ../shared/reference/sema.md §2, and
// its baselines on the same stream).
#include "moe/expand/expander.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>
#include <numeric>

#include "moe/blas/gemm.hpp"
#include "moe/core/error.hpp"
#include "moe/core/glob.hpp"
#include "moe/core/interrupt.hpp"
#include "moe/core/log.hpp"
#include "moe/core/rng.hpp"
#include "moe/data/dataset.hpp"
#include "moe/expand/sema_site.hpp"
#include "moe/io/run_file.hpp"
#include "moe/models/model.hpp"
#include "moe/nn/kernels.hpp"
#include "moe/optim/optim.hpp"
#include "moe/train/trainer.hpp"

namespace moe::expand {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

StreamMetrics stream_metrics(const std::vector<std::vector<double>> & R, const std::vector<int64_t> & n) {
    StreamMetrics m;
    const size_t N = R.size();
    if (N == 0) return m;
    for (size_t i = 0; i < N; ++i) {
        double c = 0, t = 0;
        for (size_t j = 0; j <= i; ++j) {
            c += R[i][j] * double(n[j]);
            t += double(n[j]);
        }
        m.curve.push_back(t > 0 ? c / t : 0.0);
    }
    m.A_N = m.curve.back();
    m.A_bar = std::accumulate(m.curve.begin(), m.curve.end(), 0.0) / double(N);
    if (N > 1) {
        double f = 0, b = 0;
        for (size_t j = 0; j + 1 < N; ++j) {
            double best = -INFINITY;
            for (size_t l = j; l + 1 < N; ++l) best = std::max(best, R[l][j]);
            f += best - R[N - 1][j];
            b += R[N - 1][j] - R[j][j];
        }
        m.forgetting = f / double(N - 1);
        m.bwt = b / double(N - 1);
    }
    return m;
}

std::string checkpoint_path(const std::string & out_path) { return out_path + ".ckpt"; }

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

data::Dataset rows_of_task(const data::Dataset & src, int t) {
    data::Dataset d;
    d.d = src.d, d.channels = src.channels, d.height = src.height, d.width = src.width, d.n_classes = src.n_classes;
    for (int64_t i = 0; i < src.n; ++i) {
        if (src.task[i] != t) continue;
        d.x.insert(d.x.end(), src.x.begin() + i * src.d, src.x.begin() + (i + 1) * src.d);
        d.y.push_back(src.y[i]);
        d.task.push_back(t);
    }
    d.n = (int64_t)d.y.size();
    return d;
}

// The stream: per task its data and its class range; the label space.
struct Stream {
    std::vector<std::string> names;
    std::vector<data::Dataset> train, test;
    std::vector<int> lo, hi;     // training mask [lo, hi) of task i
    std::vector<int> eval_hi;    // evaluation: argmax over [0, eval_hi) after task i
    std::vector<int> logit_class;// source class of every logit
    data::Dataset all_train;     // every task (mole_joint), logit labels
    int V = 0;                   // source classes
    int n_logits = 0;            // classifier outputs (V when shared)
    bool growing = false;
};

Stream build_stream(const spec::Spec & spec, uint64_t seed) {
    const auto & cs = spec.stream.class_split;
    data::DataConfig dc = spec.data;
    int n_src_classes = 0;
    std::vector<int> order;
    if (cs.init > 0) {
        MOE_CHECK(dc.source != "synthetic", ErrorCode::spec,
                  "stream.class_split: the synthetic source defines its own tasks; use data.tasks instead");
        if (dc.source == "fashion-mnist") {
            n_src_classes = 10;
        } else {
            data::DataConfig probe = spec.data;
            probe.tasks.clear();
            n_src_classes = data::build_splits(probe, seed).train.n_classes;
        }
        MOE_CHECK(cs.init <= n_src_classes, ErrorCode::spec,
                  "stream.class_split.init: " + std::to_string(cs.init) + " exceeds the " +
                      std::to_string(n_src_classes) + " classes of the source");
        order.resize(n_src_classes);
        std::iota(order.begin(), order.end(), 0);
        if (cs.shuffle) {
            Rng rng(cs.order_seed);
            for (int i = n_src_classes - 1; i > 0; --i) std::swap(order[i], order[rng.below(uint64_t(i) + 1)]);
        }
        std::vector<std::vector<int>> blocks;
        blocks.emplace_back(order.begin(), order.begin() + cs.init);
        for (int p = cs.init; p < n_src_classes; p += cs.increment)
            blocks.emplace_back(order.begin() + p, order.begin() + std::min(n_src_classes, p + cs.increment));
        const auto given = spec.data.tasks;
        MOE_CHECK(given.empty() || given.size() == blocks.size(), ErrorCode::spec,
                  "data.tasks: the class split makes " + std::to_string(blocks.size()) + " tasks but data.tasks has " +
                      std::to_string(given.size()) + " entries (give none, or one per class block)");
        dc.tasks.clear();
        for (size_t i = 0; i < blocks.size(); ++i) {
            data::TaskConfig tc;
            if (!given.empty()) tc = given[i];
            MOE_CHECK(tc.classes.empty(), ErrorCode::spec,
                      "data.tasks[" + std::to_string(i) + "].classes: the class split chooses the classes");
            tc.classes = blocks[i];
            tc.relabel = false;
            if (tc.name.empty()) {
                tc.name = "classes";
                for (int c : blocks[i]) tc.name += "-" + std::to_string(c);
            }
            dc.tasks.push_back(tc);
        }
    }
    data::Splits sp = data::build_splits(dc, seed);
    data::check_finite(sp.train, "training data");
    data::check_finite(sp.test, "test data");
    Stream st;
    st.names = sp.task_names;
    const int N = (int)st.names.size();
    st.V = std::max(sp.train.n_classes, sp.test.n_classes);
    const std::string labels = spec.stream.labels;
    st.growing = labels == "growing" || (labels == "auto" && cs.init > 0);
    MOE_CHECK(N >= 1, ErrorCode::spec, "stream: no tasks (data.tasks is empty and no class split)");
    std::vector<std::vector<int>> task_classes(N);
    for (int t = 0; t < N; ++t) {
        st.train.push_back(rows_of_task(sp.train, t));
        st.test.push_back(rows_of_task(sp.test, t));
        std::vector<bool> seen(st.V, false);
        for (int32_t y : st.train.back().y) seen[y] = true;
        for (int c = 0; c < st.V; ++c)
            if (seen[c]) task_classes[t].push_back(c);
        MOE_CHECK(st.train.back().n > 0, ErrorCode::spec, "stream task '" + st.names[t] + "' has no training samples");
    }
    if (st.growing) {
        // every task gets its own block of logits [lo, hi) for its classes (class-incremental:
        // the class order; domain-incremental: a new copy of the classes per domain), so
        // training masks the old blocks and inference is an argmax over every seen block;
        // logit_class maps a logit back to its source class
        for (int t = 0; t < N; ++t) {
            std::vector<int> cls = task_classes[t];
            if (cs.init > 0) { // keep the class order within the block
                std::vector<int> ord;
                for (int c : order)
                    if (std::find(cls.begin(), cls.end(), c) != cls.end()) ord.push_back(c);
                cls = ord;
            }
            std::vector<int> local(st.V, -1);
            st.lo.push_back((int)st.logit_class.size());
            for (int c : cls) {
                local[c] = (int)st.logit_class.size();
                st.logit_class.push_back(c);
            }
            st.hi.push_back((int)st.logit_class.size());
            st.eval_hi.push_back(st.hi.back());
            for (auto & y : st.train[t].y) y = local[y];
        }
    } else {
        for (int c = 0; c < st.V; ++c) st.logit_class.push_back(c);
        for (int t = 0; t < N; ++t) {
            st.lo.push_back(0);
            st.hi.push_back(st.V);
            st.eval_hi.push_back(st.V);
        }
    }
    st.n_logits = (int)st.logit_class.size();
    // every task's training samples with their logit labels (mole_joint trains on all at once)
    st.all_train = st.train[0];
    for (int t = 1; t < N; ++t) data::append(st.all_train, st.train[t]);
    return st;
}

// The frozen base with SEMA sites at its adapted Linear layers.
struct Net {
    ParamStore<float> store;
    std::unique_ptr<models::Model<float>> model;
    std::vector<std::unique_ptr<SemaSite<float>>> sites;
};

struct Buffers {
    std::vector<float> x, losses, probs, dlogits, aug;
    std::vector<int32_t> y, task;
};

class Expander {
  public:
    Expander(const spec::Spec & spec, const std::string & out, StreamObserver & obs, const StreamOptions & opt)
        : spec_(spec), cfg_(spec.expand), out_(out), obs_(obs), opt_(opt), seed_(spec.exp.seed) {}

    StreamSummary run();

  private:
    void build();
    void restore(const io::RunReader & r);
    void write_state(io::RunWriter & w, bool final) const;
    void write_checkpoint() const;

    // one training phase over dataset ds with the listed parameters trainable
    void train_phase(const std::string & kind, const data::Dataset & ds, int lo, int hi,
                     const std::vector<std::string> & params, int epochs, double lr, const std::string & tag);
    // func phase of slots[s] (adapter index per site, -1 = none) with their router columns
    void func_phase(const data::Dataset & ds, int lo, int hi, const std::vector<int> & new_slot, bool all_adapters,
                    const std::string & tag);
    void rd_phase(const data::Dataset & ds, const std::vector<int> & new_slot, const std::string & tag);
    void freeze_all();
    // detection passes of task t (SEMA); returns the sites that expanded
    std::vector<std::string> detect_and_expand(int t, std::vector<double> & first_pass_z);
    void evaluate_after(int t);
    void count_params(int64_t & inference, int64_t & total) const;

    const spec::Spec & spec_;
    const ExpandConfig & cfg_;
    std::string out_;
    StreamObserver & obs_;
    StreamOptions opt_;
    uint64_t seed_;
    Stream st_;
    Net net_;
    Buffers buf_;
    int Bmax_ = 0, S_ = 1, done_ = 0, phase_counter_ = 0, cur_task_ = 0;
    bool augment_ = false;
    std::vector<std::string> site_names_;
    // results so far
    std::vector<std::vector<double>> R_;       // (done, N)
    std::vector<std::vector<double>> Rt_;      // (done, N) task-aware: argmax within task j's own logits
    std::vector<std::vector<int64_t>> adapters_hist_;
    std::vector<int64_t> p_inf_, p_tot_;
    std::vector<double> det_rows_, detz_rows_; // flattened (n,7) and (n,6)
    std::vector<int64_t> expansions_;          // flattened (n,2): task, site
};

void Expander::build() {
    st_ = build_stream(spec_, seed_);
    const auto & tr = st_.all_train;
    const int N = (int)st_.names.size();
    S_ = cfg_.max_adapters > 0 ? cfg_.max_adapters : N;
    const std::string & strat = cfg_.strategy;
    if (strat == "mole_joint") S_ = std::max(S_, N);
    nn::TrainablePred trainable = [](const std::string & name) { return name.rfind("head.", 0) == 0; };
    models::InputShape in{tr.d, tr.channels, tr.height, tr.width};
    MOE_CHECK(!(st_.growing && cfg_.head == "base" && st_.n_logits != st_.V), ErrorCode::spec,
              "expand.head = base: the growing label space has " + std::to_string(st_.n_logits) +
                  " logits, the base head " + std::to_string(st_.V) + "; use expand.head = reinit");
    net_.model = models::make_model<float>(spec_.model, in, st_.n_logits, net_.store, trainable);
    auto all = net_.model->sites();
    // which sites carry adapters
    std::vector<SpecProblem> problems;
    auto check_patterns = [&](const std::vector<std::string> & pats, const std::string & key) {
        for (size_t i = 0; i < pats.size(); ++i) {
            bool any = false;
            for (auto * l : all) any |= glob_match(pats[i], l->name);
            if (any) continue;
            std::string names;
            for (auto * l : all) names += " " + l->name;
            problems.push_back({key + "[" + std::to_string(i) + "]", "pattern '" + pats[i] + "' matches no site; the sites are:" + names});
        }
    };
    check_patterns(cfg_.sites, "expand.sites");
    check_patterns(cfg_.expandable, "expand.expandable");
    if (!problems.empty()) throw SpecError("", problems);
    if (strat != "head_only") {
        const bool rd = strat == "sema";
        for (auto * l : all) {
            if (l->name == "head") continue;
            if (!cfg_.sites.empty() && !glob_any(cfg_.sites, l->name)) continue;
            const bool exp = cfg_.expandable.empty() || glob_any(cfg_.expandable, l->name);
            MOE_CHECK(cfg_.expandable.empty() || cfg_.sites.empty() || !exp || glob_any(cfg_.sites, l->name),
                      ErrorCode::spec, "expand.expandable: site " + l->name + " is not in expand.sites");
            auto site = std::make_unique<SemaSite<float>>();
            const bool expandable = exp && strat != "single_adapter";
            site->declare(net_.store, l->name, l->C, l->OC, cfg_, expandable ? S_ : 1, expandable, rd);
            l->hook = site.get();
            site_names_.push_back(l->name);
            net_.sites.push_back(std::move(site));
        }
        MOE_CHECK(!net_.sites.empty(), ErrorCode::spec, "expand.sites: no adapted site (the head is never adapted)");
    }
    net_.store.allocate(seed_);
    net_.model->bind(net_.store);
    for (auto & s : net_.sites) s->bind(net_.store);
    // the frozen base
    if (!spec_.base.empty()) {
        io::RunReader base(spec_.base);
        std::vector<std::string> names;
        for (const auto & pi : net_.store.infos()) {
            if (pi.name.find(".sema.") != std::string::npos) continue;
            if (cfg_.head == "reinit" && pi.name.rfind("head.", 0) == 0) continue;
            names.push_back(pi.name);
        }
        base.load_params(net_.store, names);
        log_info("loaded " + std::to_string(names.size()) + " base tensors from " + spec_.base);
    } else {
        log_warn("moe-expand on a randomly initialised base (no \"base\" run file given)");
    }
    if (cfg_.head == "reinit") { // SEMA: kaiming-uniform weight (the default init), zero bias
        const int id = net_.store.find("head.bias");
        if (id >= 0) std::fill_n(net_.store.value(id), net_.store.info(id).size, 0.f);
    }
    Bmax_ = std::max({cfg_.batch_size, cfg_.detect_batch_size, cfg_.eval_batch_size});
    net_.model->plan(Bmax_);
    const int tok = net_.model->tokens_per_sample();
    for (auto & s : net_.sites) s->plan(Bmax_ * tok, tok);
    const int V = st_.n_logits, d = tr.d;
    buf_.x.assign((size_t)Bmax_ * d, 0.f);
    buf_.losses.assign(Bmax_, 0.f);
    buf_.probs.assign((size_t)Bmax_ * V, 0.f);
    buf_.dlogits.assign((size_t)Bmax_ * V, 0.f);
    buf_.y.assign(Bmax_, 0);
    buf_.task.assign(Bmax_, 0);
    augment_ = spec_.data.augment.hflip || spec_.data.augment.shift > 0;
    MOE_CHECK(!augment_ || tr.is_image(), ErrorCode::spec, "data.augment: the data has no image geometry");
    buf_.aug.assign(augment_ ? (size_t)d : 0, 0.f);
    // task 0 starts with one adapter per site (mole_joint: every slot of an expandable site)
    for (auto & s : net_.sites) s->set_adapters(strat == "mole_joint" && s->expandable() ? s->slots() : 1);
}

void Expander::train_phase(const std::string & kind, const data::Dataset & ds, int lo, int hi,
                           const std::vector<std::string> & params, int epochs, double lr, const std::string & tag) {
    optim::OptimConfig oc;
    oc.kind = cfg_.optimizer;
    oc.lr = lr;
    oc.momentum = cfg_.momentum;
    oc.weight_decay = cfg_.weight_decay;
    std::vector<optim::GroupConfig> groups;
    for (const auto & p : params) groups.push_back({p, lr, 1.0, -1});
    groups.push_back({"*", 0.0, 0.0, 0.0}); // everything else: lr 0 (frozen in this phase)
    auto & store = net_.store;
    optim::Optimizer<float> opt(oc, store, groups);
    // only this phase's tensors receive gradients (frozen slots skip theirs), so only they are zeroed
    std::vector<int> ids;
    for (const auto & p : params) {
        const int id = store.find(p);
        MOE_ASSERT(id >= 0 && store.grad(id));
        ids.push_back(id);
    }
    optim::ScheduleConfig sc;
    sc.kind = "cosine";
    sc.min_lr_ratio = cfg_.min_lr / lr;
    const bool rd = kind == "rd";
    std::vector<std::vector<bool>> train_rd(net_.sites.size());
    if (rd)
        for (size_t s = 0; s < net_.sites.size(); ++s) {
            auto & site = *net_.sites[s];
            train_rd[s].assign(site.slots(), false);
            for (int k = 0; k < site.adapters(); ++k)
                for (const auto & n : site.rd_params(k))
                    if (std::find(params.begin(), params.end(), n) != params.end()) train_rd[s][k] = true;
        }
    const int V = st_.n_logits, B = cfg_.batch_size;
    data::Batcher batcher(ds, B, true, seed_for(seed_, tag));
    for (int e = 0; e < epochs; ++e) {
        const double f = optim::schedule_factor(sc, e, epochs); // stepped per epoch (CosineAnnealingLR)
        batcher.start_epoch(e);
        Rng aug(seed_for(seed_, tag + ".augment.epoch" + std::to_string(e)));
        double loss_sum = 0, correct = 0;
        int64_t seen = 0;
        for (int64_t i = 0; i < batcher.batches_per_epoch(); ++i) {
            const int n = batcher.fill(i, buf_.x.data(), buf_.y.data(), buf_.task.data());
            if (augment_)
                data::augment_batch(buf_.x.data(), n, ds.channels, ds.height, ds.width, spec_.data.augment, aug,
                                    buf_.aug.data());
            const float * logits = net_.model->forward(buf_.x.data(), n, true);
            for (int id : ids) std::fill_n(store.grad(id), store.info(id).size, 0.f);
            double loss = 0;
            if (rd) {
                for (size_t s = 0; s < net_.sites.size(); ++s) loss += net_.sites[s]->rd_loss_backward(train_rd[s]);
            } else {
                loss = nn::cross_entropy_forward(buf_.losses.data(), buf_.probs.data(), logits, buf_.y.data(), n, V, lo, hi);
                std::fill(buf_.dlogits.begin(), buf_.dlogits.begin() + (size_t)n * V, 0.f);
                nn::cross_entropy_backward(buf_.dlogits.data(), buf_.probs.data(), buf_.y.data(), 1.f / float(n), n, V);
                net_.model->backward(buf_.dlogits.data(), n);
                for (int r = 0; r < n; ++r) {
                    const float * p = buf_.probs.data() + (size_t)r * V;
                    correct += int(std::max_element(p + lo, p + hi) - p) == buf_.y[r];
                }
            }
            if (!std::isfinite(loss))
                throw Error(ErrorCode::numeric, "task " + std::to_string(cur_task_) + " (" + st_.names[cur_task_] +
                                                    "), " + kind + " phase, epoch " + std::to_string(e) + ", batch " +
                                                    std::to_string(i) + ": the loss is not finite (" + std::to_string(loss) + ")");
            opt.step(f);
            loss_sum += loss * n;
            seen += n;
        }
        PhaseInfo pi;
        pi.task = cur_task_;
        pi.phase = kind;
        pi.epoch = e;
        pi.epochs = epochs;
        pi.loss = seen ? loss_sum / seen : 0;
        pi.accuracy = rd || !seen ? 0 : correct / seen;
        obs_.on_phase(pi);
    }
}

void Expander::func_phase(const data::Dataset & ds, int lo, int hi, const std::vector<int> & new_slot,
                          bool all_adapters, const std::string & tag) {
    std::vector<std::string> params = {"head.weight", "head.bias"};
    for (size_t s = 0; s < net_.sites.size(); ++s) {
        auto & site = *net_.sites[s];
        std::vector<bool> ad(site.slots(), false), rc(site.slots(), false);
        for (int k = 0; k < site.adapters(); ++k) {
            if (!(all_adapters || new_slot[s] == k)) continue;
            ad[k] = true;
            for (const auto & n : site.adapter_params(k)) params.push_back(n);
            if (site.expandable() && site.adapters() > 1) { // the router matters once there are two adapters
                rc[k] = true;
                for (const auto & n : site.router_params(k)) params.push_back(n);
            }
        }
        site.set_training(ad, rc);
    }
    const bool head_only = params.size() == 2;
    train_phase(head_only ? "head" : "func", ds, lo, hi, params, cfg_.func_epochs, cfg_.func_lr,
                tag + ".func" + std::to_string(phase_counter_++));
}

void Expander::rd_phase(const data::Dataset & ds, const std::vector<int> & new_slot, const std::string & tag) {
    std::vector<std::string> params;
    for (size_t s = 0; s < net_.sites.size(); ++s) {
        auto & site = *net_.sites[s];
        site.set_training({}, {});
        if (new_slot[s] < 0 || !site.has_descriptors()) continue;
        for (const auto & n : site.rd_params(new_slot[s])) params.push_back(n);
    }
    if (params.empty()) return;
    train_phase("rd", ds, 0, st_.n_logits, params, cfg_.rd_epochs, cfg_.rd_lr, tag + ".rd" + std::to_string(phase_counter_++));
}

void Expander::freeze_all() {
    for (auto & s : net_.sites) {
        s->set_training({}, {});
        s->set_updating({});
    }
}

std::vector<std::string> Expander::detect_and_expand(int t, std::vector<double> & first_pass_z) {
    const size_t nS = net_.sites.size();
    std::vector<bool> expanded(nS, false);
    std::vector<std::string> out;
    std::vector<double> fsum(nS, 0.0);
    std::vector<int> fcnt(nS, 0);
    const auto & ds = st_.train[t];
    const std::string tag = "expand.task" + std::to_string(t);
    data::Batcher db(ds, cfg_.detect_batch_size, true, seed_for(seed_, tag + ".detect"));
    bool first_pass_clean = true;
    for (int pass = 0;; ++pass) {
        bool added = false;
        db.start_epoch(pass);
        Rng aug(seed_for(seed_, tag + ".detect.augment.pass" + std::to_string(pass)));
        for (int64_t i = 0; i < db.batches_per_epoch(); ++i) {
            const int n = db.fill(i, buf_.x.data(), buf_.y.data(), buf_.task.data());
            if (cfg_.detect_drop_last && n < cfg_.detect_batch_size) continue;
            if (augment_)
                data::augment_batch(buf_.x.data(), n, ds.channels, ds.height, ds.width, spec_.data.augment, aug,
                                    buf_.aug.data());
            for (auto & s : net_.sites) s->set_detect(s->has_descriptors());
            net_.model->forward(buf_.x.data(), n, false);
            for (auto & s : net_.sites) s->set_detect(false);
            // sites in depth order; the shallowest that triggers expands (the reference stops its
            // forward there, so deeper sites are not scored on this batch)
            for (size_t s = 0; s < nS; ++s) {
                auto & site = *net_.sites[s];
                if (!site.has_descriptors()) continue;
                const int K = site.adapters();
                double score = 0;
                const bool full = K >= site.slots();
                const bool go = expansion_rule(site.last_z().data(), K, n, cfg_.threshold, expanded[s] || full, &score);
                Detection d;
                d.task = t, d.pass = pass, d.batch = (int)i, d.site = (int)s, d.adapters = K, d.score = score;
                d.expanded = go;
                for (int k = 0; k < K; ++k) {
                    double m = 0;
                    for (int b = 0; b < n; ++b) m += site.last_z()[(size_t)k * n + b];
                    d.z_mean.push_back(m / n);
                    detz_rows_.insert(detz_rows_.end(), {double(t), double(pass), double(i), double(s), double(k), m / n});
                }
                det_rows_.insert(det_rows_.end(), {double(t), double(pass), double(i), double(s), double(K), score, double(go)});
                obs_.on_detection(d);
                if (first_pass_clean) {
                    fsum[s] += score;
                    fcnt[s] += 1;
                }
                if (!go) continue;
                // expand: a new adapter, router column and descriptor; train them; freeze
                first_pass_clean = false;
                const int k = K;
                site.set_adapters(K + 1);
                expanded[s] = true;
                added = true;
                out.push_back(site.name());
                expansions_.insert(expansions_.end(), {int64_t(t), int64_t(s)});
                std::vector<int> slot(nS, -1);
                slot[s] = k;
                std::vector<bool> upd(site.slots(), false);
                upd[k] = true;
                site.set_updating(upd);
                func_phase(ds, st_.lo[t], st_.hi[t], slot, false, tag);
                rd_phase(ds, slot, tag);
                freeze_all();
                break;
            }
        }
        if (pass == 0) first_pass_clean = false;
        if (!added) break;
    }
    first_pass_z.assign(nS, kNaN);
    for (size_t s = 0; s < nS; ++s)
        if (fcnt[s] > 0) first_pass_z[s] = fsum[s] / fcnt[s];
    return out;
}

void Expander::evaluate_after(int t) {
    const int N = (int)st_.names.size();
    std::vector<double> row(N, kNaN), row_ta(N, kNaN);
    const int V = st_.n_logits, hi = st_.eval_hi[t];
    const int Be = cfg_.eval_batch_size;
    for (int j = 0; j <= t; ++j) {
        const auto & ds = st_.test[j];
        if (ds.n == 0) continue;
        data::Batcher b(ds, Be, false, 0);
        b.start_epoch(0);
        int64_t correct = 0, correct_ta = 0;
        const int lo_j = st_.lo[j], hi_j = st_.hi[j];
        for (int64_t i = 0; i < b.batches_per_epoch(); ++i) {
            const int n = b.fill(i, buf_.x.data(), buf_.y.data(), buf_.task.data());
            const float * logits = net_.model->forward(buf_.x.data(), n, false);
            for (int r = 0; r < n; ++r) {
                const float * z = logits + (size_t)r * V;
                correct += st_.logit_class[std::max_element(z, z + hi) - z] == buf_.y[r];
                correct_ta += st_.logit_class[std::max_element(z + lo_j, z + hi_j) - z] == buf_.y[r];
            }
        }
        row[j] = double(correct) / double(ds.n);
        row_ta[j] = double(correct_ta) / double(ds.n);
    }
    if ((int)R_.size() <= t) R_.resize(t + 1);
    if ((int)Rt_.size() <= t) Rt_.resize(t + 1);
    R_[t] = row;
    Rt_[t] = row_ta;
}

void Expander::count_params(int64_t & inference, int64_t & total) const {
    inference = total = 0;
    for (const auto & s : net_.sites) {
        for (int k = 0; k < s->adapters(); ++k) {
            for (const auto & n : s->adapter_params(k)) inference += net_.store.info(net_.store.find(n)).size;
            for (const auto & n : s->router_params(k)) inference += net_.store.info(net_.store.find(n)).size;
            for (const auto & n : s->rd_params(k)) total += net_.store.info(net_.store.find(n)).size;
        }
    }
    total += inference;
}

void Expander::write_state(io::RunWriter & w, bool final) const {
    w.set_attr("/", "name", spec_.exp.name); // as moe-train's run files
    w.set_attr("/", "blas", blas::blas_description());
    w.write_string("spec", spec::to_json(spec_).dump(2));
    w.write_params(net_.store);
    const int N = (int)st_.names.size();
    const int done = done_;
    const int nS = (int)net_.sites.size();
    std::string names, sites, expandable;
    for (int i = 0; i < N; ++i) names += (i ? "," : "") + st_.names[i];
    for (int s = 0; s < nS; ++s) {
        sites += (s ? "," : "") + site_names_[s];
        expandable += std::string(s ? "," : "") + (net_.sites[s]->expandable() ? "1" : "0");
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
        const auto & site = *net_.sites[s];
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
static void check_same_stream(const io::RunReader & r, const spec::Spec & spec, const std::string & spec_name) {
    const std::string tool = r.attr_string("/", "tool");
    MOE_CHECK(tool == "moe-expand", ErrorCode::spec,
              "cannot resume: " + r.path() + " was written by " + tool + ", not moe-expand");
    train::check_same_spec(r.spec_json(), spec::to_json(spec), r.path(), spec_name);
}

void Expander::restore(const io::RunReader & r) {
    check_same_stream(r, spec_, opt_.spec_source.empty() ? std::string("the spec") : opt_.spec_source);
    std::vector<std::string> names;
    for (const auto & pi : net_.store.infos()) names.push_back(pi.name);
    r.load_params(net_.store, names);
    const int N = (int)st_.names.size();
    const int nS = (int)net_.sites.size();
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
        auto & site = *net_.sites[s];
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

StreamSummary Expander::run() {
    const auto t0 = Clock::now();
    if (opt_.resume) { // no checkpoint, but this stream's finished run: nothing to do
        std::error_code ec;
        if (!fs::exists(checkpoint_path(out_), ec) && fs::exists(out_, ec)) {
            io::RunReader done(out_);
            check_same_stream(done, spec_, opt_.spec_source.empty() ? std::string("the spec") : opt_.spec_source);
            StreamSummary s;
            s.out_path = out_;
            s.finished = s.already_finished = true;
            return s;
        }
    }
    // an output that cannot be written fails now, not after the first task (the probe's
    // temporary file is removed when it goes out of scope uncommitted)
    auto inputs = spec::input_files(spec_);
    inputs.push_back({"the spec file", opt_.spec_source});
    io::check_output_not_input(out_, inputs);
    io::check_output_not_input(checkpoint_path(out_), inputs);
    { io::RunWriter probe(out_, "moe-expand"); }
    { io::RunWriter probe(checkpoint_path(out_), "moe-expand"); }
    blas::blas_init(spec_.exp.threads);
    build();
    const int N = (int)st_.names.size();
    const std::string ckpt = checkpoint_path(out_);
    StreamSummary sum;
    sum.out_path = out_;
    if (opt_.resume) {
        std::error_code ec;
        if (fs::exists(ckpt, ec)) {
            io::RunReader r(ckpt);
            restore(r);
            io::remove_stale_temporaries(out_);
        } else {
            throw Error(ErrorCode::io, "no checkpoint " + ckpt + " to resume from");
        }
    }
    {
        StreamStart s;
        s.out_path = out_;
        s.strategy = cfg_.strategy;
        s.task_names = st_.names;
        s.sites = site_names_;
        for (auto & site : net_.sites) s.expandable.push_back(site->expandable());
        s.n_train = st_.all_train.n;
        for (auto & t : st_.test) s.n_test += t.n;
        s.base_params = net_.store.n_frozen();
        s.resumed_tasks = done_;
        obs_.on_start(s);
    }
    const std::string & strat = cfg_.strategy;
    const bool joint = strat == "mole_joint";
    const int nS = (int)net_.sites.size();
    for (int t = done_; t < N; ++t) {
        const auto tt = Clock::now();
        cur_task_ = t;
        phase_counter_ = 0;
        const std::string tag = "expand.task" + std::to_string(t);
        TaskReport rep;
        rep.task = t;
        rep.n_tasks = N;
        rep.name = st_.names[t];
        rep.first_pass_z.assign(nS, kNaN);
        const auto & ds = st_.train[t];
        if (joint) {
            // the upper bound: one MoLE trained on every task at once (done at the first task;
            // later rows evaluate the same model)
            if (t == 0) {
                const int hi = st_.hi.back();
                func_phase(st_.all_train, 0, hi, std::vector<int>(nS, -1), true, tag);
                freeze_all();
            }
        } else if (t == 0 || strat == "single_adapter" || strat == "head_only") {
            if (t == 0 && strat == "sema")
                for (auto & s : net_.sites)
                    if (s->has_descriptors()) s->set_updating({true});
            func_phase(ds, st_.lo[t], st_.hi[t], std::vector<int>(nS, -1), strat != "head_only", tag);
            if (t == 0 && strat == "sema") rd_phase(ds, std::vector<int>(nS, 0), tag);
            freeze_all();
        } else if (strat == "adapter_per_task") {
            std::vector<int> slot(nS, -1);
            for (int s = 0; s < nS; ++s) {
                auto & site = *net_.sites[s];
                if (!site.expandable() || site.adapters() >= site.slots()) continue;
                slot[s] = site.adapters();
                site.set_adapters(site.adapters() + 1);
                rep.expanded.push_back(site.name());
                expansions_.insert(expansions_.end(), {int64_t(t), int64_t(s)});
            }
            func_phase(ds, st_.lo[t], st_.hi[t], slot, false, tag);
            freeze_all();
        } else { // sema
            rep.expanded = detect_and_expand(t, rep.first_pass_z);
            if (rep.expanded.empty()) { // nothing new: train only the classifier
                func_phase(ds, st_.lo[t], st_.hi[t], std::vector<int>(nS, -1), false, tag);
                freeze_all();
            }
        }
        evaluate_after(t);
        std::vector<int64_t> ad;
        for (auto & s : net_.sites) {
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
        if (done_ < N) write_checkpoint(); // resumable after every task
        obs_.on_task(rep);
        if (done_ < N && opt_.stop_after > 0 && done_ >= opt_.stop_after) {
            sum.tasks_done = done_;
            sum.finished = false;
            sum.metrics = stream_metrics(Rd, ntest);
            sum.seconds = seconds_since(t0);
            obs_.on_end(sum);
            return sum;
        }
        if (done_ < N && interrupt_requested())
            throw Error(ErrorCode::interrupted, "interrupted after task " + std::to_string(done_) + " of " +
                                                    std::to_string(N) + ": checkpoint written to " + ckpt);
    }
    {
        io::RunWriter w(out_, "moe-expand");
        write_state(w, true);
        w.commit();
    }
    std::error_code ec;
    fs::remove(ckpt, ec);
    std::vector<int64_t> ntest;
    for (const auto & d : st_.test) ntest.push_back(d.n);
    sum.tasks_done = done_;
    sum.finished = true;
    sum.metrics = stream_metrics(R_, ntest);
    sum.seconds = seconds_since(t0);
    obs_.on_end(sum);
    return sum;
}

} // namespace

StreamSummary run_stream(const spec::Spec & spec, const std::string & out_path, StreamObserver & obs,
                         const StreamOptions & opt) {
    Expander e(spec, out_path, obs, opt);
    return e.run();
}

} // namespace moe::expand
