// train: the data of a classifier run — the splits of data::build_splits, shuffled micro-batches
// (augmented when the spec asks) and evaluate_dataset (see moe/train/run_data.hpp).
#include "moe/train/run_data.hpp"

#include <algorithm>

#include "moe/core/error.hpp"
#include "moe/data/dataset.hpp"
#include "moe/train/evaluate.hpp"

namespace moe::train {

std::unique_ptr<RunData> open_text_data(const spec::Spec & spec, uint64_t seed); // text_data.cpp

namespace {

// The micro-batches of one optimizer step of the training set, in the epoch's shuffled order,
// augmented when the spec asks; each with its own noise stream.
class ClassifierFeed final : public TrainFeed {
  public:
    ClassifierFeed(const data::Dataset & tr, const data::AugmentConfig & aug, int B, int accum, uint64_t seed)
        : batcher_(tr, B, true, seed), tr_(tr), aug_(aug), accum_(accum), seed_(seed),
          augment_(aug.hflip || aug.shift > 0), mpe_(batcher_.batches_per_epoch()) {
        x_.assign((size_t)B * tr.d, 0.f);
        y_.assign(B, 0);
        task_.assign(B, 0);
        scratch_.assign(augment_ ? (size_t)tr.d : 0, 0.f);
    }
    void start_epoch(int epoch) override { batcher_.start_epoch(epoch); }
    void at(int epoch, int64_t step_in_epoch) override {
        epoch_ = epoch;
        bi_ = step_in_epoch;
    }
    int64_t micro_per_epoch() const override { return mpe_; }
    int count() const override { return (int)std::min<int64_t>(accum_, mpe_ - bi_ * accum_); }
    const models::Batch<float> & fill(int i) override {
        const int64_t micro = bi_ * accum_ + i;
        const int nm = batcher_.fill(micro, x_.data(), y_.data(), task_.data());
        if (augment_) {
            Rng arng(seed_for(seed_, "data.augment") + (uint64_t)(epoch_ * mpe_ + micro));
            data::augment_batch(x_.data(), nm, tr_.channels, tr_.height, tr_.width, aug_, arng, scratch_.data());
        }
        b_.B = nm;
        b_.x = x_.data();
        b_.targets = y_.data();
        b_.task = task_.data();
        return b_;
    }
    uint64_t stream(int i) const override {
        return seed_for(seed_, "micro") + (uint64_t)(epoch_ * mpe_ + (bi_ * accum_ + i));
    }

  private:
    data::Batcher batcher_;
    const data::Dataset & tr_;
    const data::AugmentConfig & aug_;
    int accum_;
    uint64_t seed_;
    bool augment_;
    int64_t mpe_, bi_ = 0;
    int epoch_ = 0;
    std::vector<float> x_, scratch_;
    std::vector<int32_t> y_, task_;
    models::Batch<float> b_;
};

class ClassifierData final : public RunData {
  public:
    ClassifierData(const spec::Spec & spec, uint64_t seed) : aug_(spec.data.augment) {
        splits_ = data::build_splits(spec.data, seed);
        data::check_finite(splits_.train, "training data");
        data::check_finite(splits_.val, "validation data");
        data::check_finite(splits_.test, "test data");
        const auto & tr = splits_.train;
        input = {tr.d, tr.channels, tr.height, tr.width};
        n_outputs = std::max({tr.n_classes, splits_.val.n_classes, splits_.test.n_classes});
        task_names = splits_.task_names;
        n_train = tr.n;
        n_val = splits_.val.n;
        n_test = splits_.test.n;
        const bool augment = aug_.hflip || aug_.shift > 0;
        MOE_CHECK(!augment || tr.is_image(), ErrorCode::spec, "data.augment: the data has no image geometry");
    }
    std::unique_ptr<TrainFeed> train_feed(int B, int accum, uint64_t seed) override {
        return std::make_unique<ClassifierFeed>(splits_.train, aug_, B, accum, seed);
    }
    bool has_split(const std::string & split) const override { return set(split).n > 0; }
    EvalInfo evaluate(Network & net, const std::string & split, int batch, bool collect_stats) override {
        return evaluate_dataset(net, set(split), task_names, batch, split, collect_stats);
    }

  private:
    data::Splits splits_;
    data::AugmentConfig aug_;
    const data::Dataset & set(const std::string & split) const {
        MOE_CHECK(split == "test" || split == "val", ErrorCode::spec, "--split must be test or val");
        return split == "test" ? splits_.test : splits_.val;
    }
};

} // namespace

std::unique_ptr<RunData> open_run_data(const spec::Spec & spec, uint64_t seed) {
    if (spec.data.source == "text") return open_text_data(spec, seed);
    return std::make_unique<ClassifierData>(spec, seed);
}

} // namespace moe::train
