// train: the data of a language-model run — a text corpus whose domains are the tasks, training
// sequences drawn by data::TextSampler, and evaluation over every target of a split in fixed
// windows with the sums of nats, target bytes and tokens per domain (see moe/train/run_data.hpp).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "moe/core/error.hpp"
#include "moe/core/rng.hpp"
#include "moe/data/text.hpp"
#include "moe/nn/kernels.hpp"
#include "moe/train/run_data.hpp"

namespace moe::train {

namespace {

class TextFeed final : public TrainFeed {
  public:
    TextFeed(const data::TextCorpus & c, const data::TextConfig & cfg, int B, int accum, uint64_t seed)
        : sampler_(c, cfg, seed), T_(cfg.block_size), B_(B), accum_(accum), seed_(seed) {
        // an epoch: the micro-batches of about one pass over the train tokens of the mixture
        mpe_ = std::max<int64_t>(1, (sampler_.epoch_tokens() + (int64_t)B * T_ - 1) / ((int64_t)B * T_));
        tokens_.assign((size_t)B * T_, 0);
        targets_.assign((size_t)B * T_, 0);
        task_.assign(B, 0);
    }
    void start_epoch(int) override {}
    void at(int epoch, int64_t step_in_epoch) override {
        epoch_ = epoch;
        bi_ = step_in_epoch;
    }
    int64_t micro_per_epoch() const override { return mpe_; }
    int count() const override { return (int)std::min<int64_t>(accum_, mpe_ - bi_ * accum_); }
    const models::Batch<float> & fill(int i) override {
        sampler_.fill(micro(i), B_, tokens_.data(), targets_.data(), task_.data());
        b_.B = B_;
        b_.tokens = tokens_.data();
        b_.targets = targets_.data();
        b_.task = task_.data();
        return b_;
    }
    uint64_t stream(int i) const override { return seed_for(seed_, "micro") + (uint64_t)micro(i); }

  private:
    data::TextSampler sampler_;
    int T_, B_, accum_;
    uint64_t seed_;
    int64_t mpe_ = 1, bi_ = 0;
    int epoch_ = 0;
    std::vector<int32_t> tokens_, targets_, task_;
    models::Batch<float> b_;
    int64_t micro(int i) const { return (int64_t)epoch_ * mpe_ + bi_ * accum_ + i; }
};

class TextData final : public RunData {
  public:
    TextData(const spec::Spec & spec, uint64_t) : cfg_(spec.data.text) {
        corpus_ = data::TextCorpus::open(cfg_);
        text = true;
        input = {cfg_.block_size, 0, 0, 0};
        n_outputs = corpus_->vocab();
        task_names = corpus_->domain_names();
        for (int d = 0; d < corpus_->n_domains(); ++d) {
            n_train += corpus_->length(d, data::TextSplit::train);
            n_val += corpus_->length(d, data::TextSplit::val);
            n_test += corpus_->length(d, data::TextSplit::test);
        }
    }
    std::unique_ptr<TrainFeed> train_feed(int B, int accum, uint64_t seed) override {
        return std::make_unique<TextFeed>(*corpus_, cfg_, B, accum, seed);
    }
    bool has_split(const std::string & split) const override {
        const auto s = split_of(split);
        for (int d = 0; d < corpus_->n_domains(); ++d)
            if (corpus_->length(d, s) > 1) return true;
        return false;
    }
    EvalInfo evaluate(Network & net, const std::string & split, int batch, bool collect_stats) override;
    std::vector<std::pair<std::string, std::string>> provenance() const override {
        std::vector<std::pair<std::string, std::string>> p = {{"text/cache", corpus_->cache_path()},
                                                              {"text/fingerprint", corpus_->fingerprint()}};
        const char * split[3] = {"train", "val", "test"};
        for (const auto & d : corpus_->domains()) {
            p.push_back({"text/" + d.name + "/sha256", d.sha256});
            for (int s = 0; s < 3; ++s) {
                p.push_back({"text/" + d.name + "/" + split[s] + "_documents", std::to_string(d.docs[s])});
                p.push_back({"text/" + d.name + "/" + split[s] + "_bytes", std::to_string(d.bytes[s])});
                p.push_back({"text/" + d.name + "/" + split[s] + "_tokens", std::to_string(d.tokens[s])});
            }
        }
        if (!corpus_->manifest().empty()) p.push_back({"text/manifest", corpus_->manifest()});
        return p;
    }

  private:
    data::TextConfig cfg_;
    std::unique_ptr<data::TextCorpus> corpus_;
    static data::TextSplit split_of(const std::string & split) {
        MOE_CHECK(split == "test" || split == "val", ErrorCode::spec, "--split must be test or val");
        return data::text_split(split);
    }
};

EvalInfo TextData::evaluate(Network & net, const std::string & split, int batch, bool collect_stats) {
    const data::TextSplit s = split_of(split);
    const int T = cfg_.block_size, V = net.model->n_outputs(), D = corpus_->n_domains();
    auto windows = data::text_windows(*corpus_, s, T, cfg_.eval_stride > 0 ? cfg_.eval_stride : T, cfg_.eval_tokens);
    // a fixed shuffle, so every batch mixes the domains (capacity-based routers see mixtures)
    Rng rng(0x5eedULL, "text.eval.windows");
    for (size_t i = windows.size(); i > 1; --i) std::swap(windows[i - 1], windows[rng.below(i)]);
    std::vector<int32_t> tokens((size_t)batch * T), targets((size_t)batch * T), task(batch);
    std::vector<uint8_t> mask((size_t)batch * T);
    std::vector<float> losses((size_t)batch * T), probs((size_t)batch * T * V);
    std::vector<double> nats(D, 0.0), correct(D, 0.0);
    std::vector<int64_t> n(D, 0), bytes(D, 0);
    const auto & token_bytes = corpus_->tokenizer().bytes_per_token();
    net.set_stats_enabled(collect_stats);
    for (size_t w0 = 0; w0 < windows.size(); w0 += batch) {
        const int B = (int)std::min<size_t>(batch, windows.size() - w0);
        data::fill_windows(*corpus_, s, windows.data() + w0, B, T, tokens.data(), targets.data(), mask.data(),
                           task.data());
        models::Batch<float> mb;
        mb.B = B;
        mb.tokens = tokens.data();
        mb.targets = targets.data();
        mb.mask = mask.data();
        mb.task = task.data();
        const float * logits = net.forward(mb, false, 0);
        const int rows = B * T;
        nn::cross_entropy_forward(losses.data(), probs.data(), logits, targets.data(), rows, V, 0, V);
        for (int r = 0; r < rows; ++r) {
            if (!mask[r]) continue;
            const int d = task[r / T];
            nats[d] += losses[r];
            correct[d] += argmax_row(logits + (size_t)r * V, V) == targets[r];
            ++n[d];
            bytes[d] += token_bytes[(size_t)targets[r]];
        }
    }
    net.set_stats_enabled(true);
    EvalInfo ev;
    ev.split = split;
    ev.text = true;
    double tn = 0, tc = 0, bpb_sum = 0;
    int with_targets = 0;
    for (int d = 0; d < D; ++d) {
        TaskResult t;
        t.task = corpus_->domains()[d].name;
        t.n = n[d];
        t.nats = nats[d];
        t.bytes = double(bytes[d]); // the bytes of the scored targets (boundaries are not scored)
        t.loss = n[d] ? nats[d] / n[d] : 0;
        t.accuracy = n[d] ? correct[d] / n[d] : 0;
        t.bpb = t.bytes > 0 ? nats[d] / (std::log(2.0) * t.bytes) : 0;
        t.ppl = n[d] ? std::exp(t.loss) : 0;
        if (n[d] > 0) {
            bpb_sum += t.bpb;
            ++with_targets;
        }
        ev.n += n[d];
        ev.nats += nats[d];
        ev.bytes += t.bytes;
        tn += n[d];
        tc += correct[d];
        ev.tasks.push_back(t);
    }
    ev.loss = tn > 0 ? ev.nats / tn : 0;
    ev.accuracy = tn > 0 ? tc / tn : 0;
    ev.bpb = ev.bytes > 0 ? ev.nats / (std::log(2.0) * ev.bytes) : 0;
    ev.bpb_mean = with_targets ? bpb_sum / with_targets : 0;
    ev.ppl = tn > 0 ? std::exp(ev.loss) : 0;
    return ev;
}

} // namespace

std::unique_ptr<RunData> open_text_data(const spec::Spec & spec, uint64_t seed) {
    return std::make_unique<TextData>(spec, seed);
}

} // namespace moe::train
