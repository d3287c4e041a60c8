// moe/train/run_data.hpp — the data of a run behind one interface for moe-train and moe-eval:
// a classifier's splits (data::build_splits) or a text corpus (data::TextCorpus) whose domains
// are the tasks. It gives the model's input shape and output count, the training micro-batches
// of each step and the evaluation of a split (per-task loss and accuracy; for text also the sums
// of nats, target bytes and tokens, from which bits per byte and perplexity are derived).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "moe/models/config.hpp"
#include "moe/spec/spec.hpp"
#include "moe/train/network.hpp"
#include "moe/train/observer.hpp"
#include "moe/train/step.hpp"

namespace moe::train {

// The micro-batches of the training set, step by step: at(epoch, step_in_epoch) before each step.
class TrainFeed : public MicroBatches {
  public:
    virtual void start_epoch(int epoch) = 0;
    virtual void at(int epoch, int64_t step_in_epoch) = 0;
    virtual int64_t micro_per_epoch() const = 0;
};

class RunData {
  public:
    virtual ~RunData() = default;
    models::InputShape input;
    int n_outputs = 0; // classes, or the vocabulary
    std::vector<std::string> task_names;
    int64_t n_train = 0, n_val = 0, n_test = 0; // samples (text: tokens)
    bool text = false;
    // Checks the data against the model (a text corpus' block_size is the gpt's context).
    virtual void check_model(const models::ModelConfig &) const {}
    // B samples per micro-batch, accum micro-batches per step; the noise streams from seed.
    virtual std::unique_ptr<TrainFeed> train_feed(int B, int accum, uint64_t seed) = 0;
    // split "val" | "test": empty when the data has none
    virtual bool has_split(const std::string & split) const = 0;
    // The network in evaluation mode at its current step, `batch` samples at a time (planned);
    // site telemetry collected only when collect_stats.
    virtual EvalInfo evaluate(Network & net, const std::string & split, int batch, bool collect_stats) = 0;
    // What the run file records about the data (attributes of /data), e.g. a corpus' hashes.
    virtual std::vector<std::pair<std::string, std::string>> provenance() const { return {}; }
};

// Loads the data section of a spec (files read, caches built or mapped). Throws moe::Error.
std::unique_ptr<RunData> open_run_data(const spec::Spec & spec, uint64_t seed);

} // namespace moe::train
