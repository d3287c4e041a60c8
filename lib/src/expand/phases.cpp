// expand: SEMA's training phases (functional, descriptor; each with a fresh optimizer, cosine
// per epoch) run by the one training step, the detection passes that decide expansions, and the
// evaluation after every task.
#include <algorithm>
#include <cmath>
#include <limits>

#include "internal.hpp"

#include "moe/core/error.hpp"
#include "moe/core/rng.hpp"
#include "moe/data/dataset.hpp"
#include "moe/optim/optim.hpp"

namespace moe::expand {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One batch a step (SEMA trains without accumulation), augmented from the epoch's generator. With
// train.shards = S > 1 the batch is the step's S micro-batches of batch_size / S consecutive
// samples (the last batch of an epoch may fill fewer); every process fills and augments the whole
// batch, so a shard's samples do not depend on which process computes it.
class PhaseBatches final : public train::MicroBatches {
  public:
    PhaseBatches(const data::Batcher & b, const data::Dataset & ds, const data::AugmentConfig & a, bool augment,
                 int shards, int micro, std::vector<float> & x, std::vector<int32_t> & y, std::vector<int32_t> & task,
                 std::vector<float> & scratch)
        : b_(b), ds_(ds), a_(a), augment_(augment), shards_(shards), micro_(micro), x_(x), y_(y), task_(task),
          scratch_(scratch) {}
    // the step's batch: batch i of the epoch
    void at(int64_t i, Rng * aug) {
        n_ = b_.fill(i, x_.data(), y_.data(), task_.data());
        if (augment_)
            data::augment_batch(x_.data(), n_, ds_.channels, ds_.height, ds_.width, a_, *aug, scratch_.data());
    }
    int count() const override { return shards_ == 1 ? 1 : (n_ + micro_ - 1) / micro_; }
    const models::Batch<float> & fill(int m) override {
        const int o = shards_ == 1 ? 0 : m * micro_;
        batch_.B = shards_ == 1 ? n_ : std::min(micro_, n_ - o);
        batch_.x = x_.data() + (size_t)o * ds_.d;
        batch_.targets = y_.data() + o;
        batch_.task = task_.data() + o;
        return batch_;
    }

  private:
    const data::Batcher & b_;
    const data::Dataset & ds_;
    const data::AugmentConfig & a_;
    bool augment_;
    int shards_, micro_;
    std::vector<float> & x_;
    std::vector<int32_t> &y_, &task_;
    std::vector<float> & scratch_;
    int n_ = 0;
    models::Batch<float> batch_;
};

} // namespace

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
    auto & store = net_->store;
    optim::Optimizer<float> opt(oc, store, groups);
    for (const auto & p : params) {
        const int id = store.find(p);
        MOE_ASSERT(id >= 0 && store.grad(id));
    }
    optim::ScheduleConfig sc;
    sc.kind = "cosine";
    sc.min_lr_ratio = cfg_.min_lr / lr;
    const bool rd = kind == "rd";
    if (rd) // the descriptors this phase trains: the site objective
        for (auto * site : sites_) {
            std::vector<bool> train_rd(site->slots(), false);
            for (int k = 0; k < site->adapters(); ++k)
                for (const auto & n : site->rd_params(k))
                    if (std::find(params.begin(), params.end(), n) != params.end()) train_rd[k] = true;
            site->set_descriptor_training(train_rd);
        }
    train::StepConfig step;
    step.lo = lo;
    step.hi = hi;
    step.task_loss = !rd;
    step.accum = step.shards = shards_; // (one micro-batch a shard)
    step.comm = &comm_;
    data::Batcher batcher(ds, cfg_.batch_size, true, seed_for(seed_, tag));
    PhaseBatches micro(batcher, ds, spec_.data.augment, augment_, shards_, cfg_.batch_size / shards_, x_, y_, task_,
                       aug_);
    store.zero_grad();
    for (int e = 0; e < epochs; ++e) {
        step.lr_factor = optim::schedule_factor(sc, e, epochs); // stepped per epoch (CosineAnnealingLR)
        batcher.start_epoch(e);
        Rng aug(seed_for(seed_, tag + ".augment.epoch" + std::to_string(e)));
        double loss_sum = 0, correct = 0;
        int64_t seen = 0;
        for (int64_t i = 0; i < batcher.batches_per_epoch(); ++i) {
            micro.at(i, &aug);
            const train::StepResult r = train::train_step(*net_, opt, micro, step, sbuf_);
            if (!r.updated)
                throw Error(ErrorCode::numeric,
                            "task " + std::to_string(cur_task_) + " (" + st_.names[cur_task_] + "), " + kind +
                                " phase, epoch " + std::to_string(e) + ", batch " + std::to_string(i) + ": the " +
                                (std::isfinite(r.loss) ? "gradient norm" : "loss") + " is not finite (" +
                                std::to_string(std::isfinite(r.loss) ? r.grad_norm : r.loss) + ")" +
                                (r.bad_term.empty() ? "" : "; first non-finite term: " + r.bad_term));
            if (shards_ > 1) enter_held_records();
            ++steps_;
            loss_sum += r.loss * r.samples;
            correct += r.correct;
            seen += r.samples;
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
    if (rd)
        for (auto * site : sites_) site->set_descriptor_training({});
}

void Expander::func_phase(const data::Dataset & ds, int lo, int hi, const std::vector<int> & new_slot,
                          bool all_adapters, const std::string & tag) {
    std::vector<std::string> params = {"head.weight", "head.bias"};
    for (size_t s = 0; s < sites_.size(); ++s) {
        auto & site = *sites_[s];
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
    for (size_t s = 0; s < sites_.size(); ++s) {
        auto & site = *sites_[s];
        site.set_training({}, {});
        if (new_slot[s] < 0 || !site.has_descriptors()) continue;
        for (const auto & n : site.rd_params(new_slot[s])) params.push_back(n);
    }
    if (params.empty()) return;
    train_phase("rd", ds, 0, st_.n_logits, params, cfg_.rd_epochs, cfg_.rd_lr,
                tag + ".rd" + std::to_string(phase_counter_++));
}

void Expander::freeze_all() {
    for (auto * s : sites_) {
        s->set_training({}, {});
        s->set_updating({});
    }
}

std::vector<std::string> Expander::detect_and_expand(int t, std::vector<double> & first_pass_z) {
    const size_t nS = sites_.size();
    std::vector<bool> expanded(nS, false);
    std::vector<std::string> out;
    std::vector<double> fsum(nS, 0.0);
    std::vector<int> fcnt(nS, 0);
    const auto & ds = st_.train[t];
    const std::string tag = task_tag(t);
    data::Batcher db(ds, cfg_.detect_batch_size, true, seed_for(seed_, tag + ".detect"));
    for (int pass = 0;; ++pass) {
        bool added = false;
        db.start_epoch(pass);
        Rng aug(seed_for(seed_, tag + ".detect.augment.pass" + std::to_string(pass)));
        for (int64_t i = 0; i < db.batches_per_epoch(); ++i) {
            const int n = db.fill(i, x_.data(), y_.data(), task_.data());
            if (cfg_.detect_drop_last && n < cfg_.detect_batch_size) continue;
            if (augment_)
                data::augment_batch(x_.data(), n, ds.channels, ds.height, ds.width, spec_.data.augment, aug,
                                    aug_.data());
            for (auto * s : sites_) s->set_detect(s->has_descriptors());
            models::Batch<float> b;
            b.B = n;
            b.x = x_.data();
            b.targets = y_.data();
            b.task = task_.data();
            net_->forward(b, false, 0);
            for (auto * s : sites_) s->set_detect(false);
            // sites in depth order; the shallowest that triggers expands (the reference stops its
            // forward there, so deeper sites are not scored on this batch)
            for (size_t s = 0; s < nS; ++s) {
                auto & site = *sites_[s];
                if (!site.has_descriptors()) continue;
                const int K = site.adapters();
                double score = 0;
                const bool full = K >= site.slots();
                const bool go = shared_decision(
                    sites::expansion_rule(site.last_z().data(), K, n, cfg_.threshold, expanded[s] || full, &score));
                Detection d;
                d.task = t, d.pass = pass, d.batch = (int)i, d.site = (int)s, d.adapters = K, d.score = score;
                d.expanded = go;
                for (int k = 0; k < K; ++k) {
                    double m = 0;
                    for (int bb = 0; bb < n; ++bb) m += site.last_z()[(size_t)k * n + bb];
                    d.z_mean.push_back(m / n);
                    detz_rows_.insert(detz_rows_.end(),
                                      {double(t), double(pass), double(i), double(s), double(k), m / n});
                }
                det_rows_.insert(det_rows_.end(),
                                 {double(t), double(pass), double(i), double(s), double(K), score, double(go)});
                obs_.on_detection(d);
                if (pass == 0) { // the mean score over the whole first pass
                    fsum[s] += score;
                    fcnt[s] += 1;
                }
                if (!go) continue;
                // expand: a new adapter, router column and descriptor; train them; freeze
                const int k = K;
                site.set_adapters(K + 1);
                expanded[s] = true;
                added = true;
                out.push_back(site.name());
                this->expanded(t, (int)s);
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
            const int n = b.fill(i, x_.data(), y_.data(), task_.data());
            models::Batch<float> mb;
            mb.B = n;
            mb.x = x_.data();
            mb.targets = y_.data();
            mb.task = task_.data();
            const float * logits = net_->forward(mb, false, 0);
            for (int r = 0; r < n; ++r) {
                const float * z = logits + (size_t)r * V;
                correct += st_.logit_class[std::max_element(z, z + hi) - z] == y_[r];
                correct_ta += st_.logit_class[std::max_element(z + lo_j, z + hi_j) - z] == y_[r];
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
    const auto & store = net_->store;
    for (const auto * s : sites_) {
        for (int k = 0; k < s->adapters(); ++k) {
            for (const auto & n : s->adapter_params(k)) inference += store.info(store.find(n)).size;
            for (const auto & n : s->router_params(k)) inference += store.info(store.find(n)).size;
            for (const auto & n : s->rd_params(k)) total += store.info(store.find(n)).size;
        }
    }
    total += inference;
}

} // namespace moe::expand
