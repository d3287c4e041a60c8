// moe/train/observer.hpp — what a training run reports as it goes. The library never prints: the
// app implements an Observer (a progress bar, plain lines, or nothing).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace moe::train {

struct StartInfo {
    std::string out_path;
    std::string model_kind;
    int64_t n_train = 0, n_val = 0, n_test = 0;
    int n_classes = 0;
    size_t n_trainable = 0, n_frozen = 0;
    int64_t steps_per_epoch = 0, total_steps = 0;
    int epochs = 0;
    std::vector<std::string> task_names;
    int64_t resumed_step = -1; // >= 0: continuing from a checkpoint taken after this many steps
    std::string checkpoint;    // <out>.ckpt
};

struct StepInfo {
    int64_t step = 0; // optimizer steps done
    int64_t total_steps = 0;
    int epoch = 0;                  // 0-based
    int64_t batch = 0, batches = 0; // position in the epoch
    double loss = 0, accuracy = 0;  // averaged over the steps since the last record
    double lr = 0, grad_norm = 0;
    double samples_per_s = 0, ms_per_step = 0;
    bool record = false; // a log.every boundary (a plain-line logger prints only these)
};

struct TaskResult {
    std::string task;
    int64_t n = 0;                 // samples (text: scored target tokens)
    double loss = 0, accuracy = 0; // mean loss (nats) and accuracy (text: of the next token)
    // text: the sums bits per byte and perplexity derive from (bpb = nats / (ln 2 bytes), ppl = exp(nats / n))
    double nats = 0, bytes = 0, bpb = 0, ppl = 0;
};

struct EvalInfo {
    int64_t step = 0;
    int epoch = 0;
    std::string split; // "val" | "test"
    int64_t n = 0;
    double loss = 0, accuracy = 0;
    std::vector<TaskResult> tasks;
    bool text = false; // a language model's: the text fields below and in tasks are set
    double nats = 0, bytes = 0;
    double bpb = 0;      // sum of nats / (ln 2 sum of bytes) over every domain's targets
    double bpb_mean = 0; // the mean of the domains' bpb (each domain weighs the same)
    double ppl = 0;      // exp(nats / n)
};

struct Summary {
    std::string out_path;
    int64_t steps = 0;
    double seconds = 0;                          // training time, summed over resumed sessions
    std::map<std::string, double> final_metrics; // e.g. "test/accuracy"
    bool already_finished = false;               // resume: out_path is a complete run and there is no checkpoint
};

struct CheckpointInfo {
    std::string path;   // <out>.ckpt
    int64_t step = 0;   // optimizer steps done
    std::string reason; // "every" (log.checkpoint_every) | "epoch" | "interrupt"
};

class Observer {
  public:
    virtual ~Observer() = default;
    virtual void on_start(const StartInfo &) {}
    virtual void on_step(const StepInfo &) {}
    virtual void on_eval(const EvalInfo &) {}
    virtual void on_checkpoint(const CheckpointInfo &) {}
    virtual void on_end(const Summary &) {}
};

} // namespace moe::train
