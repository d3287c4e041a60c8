// moe/train/trainer.hpp — train a model from a spec and write the run file.
// The trainer never prints: it reports through an Observer the app implements.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "moe/spec/spec.hpp"

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
};

struct StepInfo {
    int64_t step = 0;        // optimizer steps done
    int64_t total_steps = 0;
    int epoch = 0;           // 0-based
    int64_t batch = 0, batches = 0; // position in the epoch
    double loss = 0, accuracy = 0;  // averaged over the steps since the last record
    double lr = 0, grad_norm = 0;
    double samples_per_s = 0, ms_per_step = 0;
    bool record = false;     // a log.every boundary (a plain-line logger prints only these)
};

struct TaskResult {
    std::string task;
    int64_t n = 0;
    double loss = 0, accuracy = 0;
};

struct EvalInfo {
    int64_t step = 0;
    int epoch = 0;
    std::string split;       // "val" | "test"
    int64_t n = 0;
    double loss = 0, accuracy = 0;
    std::vector<TaskResult> tasks;
};

struct Summary {
    std::string out_path;
    int64_t steps = 0;
    double seconds = 0;
    std::map<std::string, double> final_metrics; // e.g. "test/accuracy"
};

class Observer {
  public:
    virtual ~Observer() = default;
    virtual void on_start(const StartInfo &) {}
    virtual void on_step(const StepInfo &) {}
    virtual void on_eval(const EvalInfo &) {}
    virtual void on_end(const Summary &) {}
};

// Trains what the spec makes trainable and writes out_path (atomically: the file appears only
// when the run completed). Throws moe::Error (spec / io / numeric).
Summary run_training(const spec::Spec & spec, const std::string & out_path, Observer & obs);

} // namespace moe::train
