// moe/train/trainer.hpp — train a model from a spec and write the run file.
// The trainer never prints: it reports through an Observer the app implements.
//
// Checkpoints: every log.checkpoint_every optimizer steps, at the end of every epoch but the last
// and when a stop is requested (moe/core/interrupt.hpp), the trainer writes <out>.ckpt
// atomically (temporary name, fsync, rename): a run file of the steps so far plus the
// optimizer state and the training position (layout below). run_training with
// TrainOptions::resume continues from it and produces the same bits as an uninterrupted run
// (same thread count); the checkpoint is removed once the run file is written.
//
//   <out>.ckpt = the run-file layout (/spec, /params, /metrics, /routing) plus
//   /optim                   attrs: kind (adamw | sgd), steps (optimizer step count t)
//   /optim/m/<name>          first moment (adamw) / momentum buffer (sgd) of every trainable tensor
//   /optim/v/<name>          second moment (adamw)
//   /checkpoint              attrs: step, epoch, batch, seconds (the position to continue from)
//   /checkpoint/window       (6) the open log window: loss, accuracy, aux sums, steps, samples, seconds
//   /checkpoint/sites/<site>/load (E) int64 and /sums (9): the window's routing telemetry
//   /checkpoint/series       the metric series paths, one a line (1-D float64 or 2-D float32)
#pragma once
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "moe/core/params.hpp"
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
    int64_t resumed_step = -1; // >= 0: continuing from a checkpoint taken after this many steps
    std::string checkpoint;    // <out>.ckpt
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
    double seconds = 0;          // training time, summed over resumed sessions
    std::map<std::string, double> final_metrics; // e.g. "test/accuracy"
    bool already_finished = false; // resume: out_path is a complete run and there is no checkpoint
};

struct CheckpointInfo {
    std::string path;            // <out>.ckpt
    int64_t step = 0;            // optimizer steps done
    std::string reason;          // "every" (log.checkpoint_every) | "epoch" | "interrupt"
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

struct TrainOptions {
    // Continue from checkpoint_path(out_path). Its stored spec must equal the given one (but for
    // exp.threads), else ErrorCode::spec. Without a checkpoint: a complete run file at out_path
    // gives Summary::already_finished, anything else ErrorCode::io ("no checkpoint ...").
    bool resume = false;
    std::string spec_source;    // the spec file, named in messages
    std::string resume_command; // the command that resumes this run, quoted in the interrupt message
};

// Trains what the spec makes trainable and writes out_path (atomically: the file appears only
// when the run completed). Throws moe::Error (spec / io / numeric; interrupted after writing a
// checkpoint when interrupt_requested()). A numeric failure keeps the last good checkpoint.
Summary run_training(const spec::Spec & spec, const std::string & out_path, Observer & obs,
                     const TrainOptions & opt = {});

// ---- checkpoints ---------------------------------------------------------------------------------

std::string checkpoint_path(const std::string & out_path); // "<out>.ckpt"

// Metric series in memory, in first-use order: 1-D series of doubles, 2-D series of float rows.
class SeriesLog {
  public:
    void append(const std::string & name, double value);
    void append_row(const std::string & name, std::span<const float> row); // width fixed by the first row
    const std::vector<std::string> & names() const { return names_; }
    const std::vector<double> & values(const std::string & name) const;  // 1-D series
    const std::vector<float> & rows(const std::string & name) const;     // 2-D series, row-major
    int64_t width(const std::string & name) const;                       // 0 for a 1-D series
    bool operator==(const SeriesLog &) const = default;

  private:
    std::vector<std::string> names_;
    std::map<std::string, std::vector<double>> s1_;
    std::map<std::string, std::pair<int64_t, std::vector<float>>> s2_;
};

// Routing telemetry of one site summed over the steps of the open log window.
struct SiteWindow {
    std::vector<int64_t> load; // (E) (token, expert) assignments
    int64_t tokens = 0, dropped = 0, forwards = 0;
    double entropy_sum = 0, active_sum = 0, aux_lbl = 0, aux_z = 0, aux_dyn = 0, aux_null = 0;
    bool operator==(const SiteWindow &) const = default;
};

// Everything a resumed run needs besides the parameters.
struct TrainCheckpoint {
    int64_t step = 0;       // optimizer steps done
    int epoch = 0;          // the epoch to continue in (0-based)
    int64_t batch = 0;      // its next step; == steps per epoch: only its evaluation is left
    double seconds = 0;     // training time before the checkpoint
    std::string optimizer;  // adamw | sgd
    int64_t optim_steps = 0;
    std::vector<float> m, v; // optimizer state over the trainable block (ParamStore layout)
    // the open log window (reset at every record)
    double win_loss = 0, win_acc = 0, win_aux = 0, win_seconds = 0;
    int64_t win_n = 0, win_samples = 0;
    std::map<std::string, SiteWindow> sites; // by site name
    SeriesLog series;       // every record so far
};

// Writes path atomically (temporary name, fsync, rename): spec, every parameter of store,
// the series and the rest of ck. tool names the writer ("moe-train").
void write_checkpoint(const std::string & path, const std::string & tool, const std::string & spec_json,
                      const std::string & run_name, const ParamStore<float> & store, const TrainCheckpoint & ck);
// Loads every parameter of store from path (by name; missing tensors and shape mismatches are
// reported) and returns the rest. ErrorCode::io names the file on any problem.
TrainCheckpoint read_checkpoint(const std::string & path, ParamStore<float> & store);

// Where two resolved specs differ, one "path: a vs b" line each, exp.threads ignored (a thread
// count is a property of the machine; results are bitwise equal only for the same count).
std::vector<std::string> spec_differences(const nlohmann::json & stored, const nlohmann::json & now);

// --resume: the spec stored in `file` (stored_json) must be `now` but for exp.threads; otherwise
// ErrorCode::spec listing the differences (ErrorCode::io when the stored spec is not JSON).
void check_same_spec(const std::string & stored_json, const nlohmann::json & now, const std::string & file,
                     const std::string & spec_name);

} // namespace moe::train
