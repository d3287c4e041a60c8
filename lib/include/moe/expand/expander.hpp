// moe/expand/expander.hpp — continual learning over a stream of tasks (moe-expand): SEMA's
// self-expansion and its baselines on the same stream, the accuracy matrix and the
// continual-learning metrics, a checkpoint after every task. The library never prints: it
// reports through a StreamObserver the app implements.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "moe/spec/spec.hpp"
#include "moe/train/communicator.hpp"

namespace moe::expand {

// Continual-learning metrics of an accuracy matrix R (N x N, R[i][j] = accuracy on task j after
// training task i; entries j > i are not used) with n[j] test samples per task:
//   A_i  = accuracy over the test samples of tasks 0..i after task i (sample-weighted)
//   A_N  = A_{N-1};  A_bar = mean_i A_i
//   forgetting = mean_{j<N-1} ( max_{j<=l<N-1} R[l][j] - R[N-1][j] )      (0 when N = 1)
//   bwt        = mean_{j<N-1} ( R[N-1][j] - R[j][j] )                     (0 when N = 1)
struct StreamMetrics {
    std::vector<double> curve; // A_i
    double A_N = 0, A_bar = 0, forgetting = 0, bwt = 0;
};
StreamMetrics stream_metrics(const std::vector<std::vector<double>> & R, const std::vector<int64_t> & n);

// One detection decision: a site's score on one detection batch.
struct Detection {
    int task = 0, pass = 0, batch = 0, site = 0;
    int adapters = 0;           // adapters at the site when the batch was scored
    double score = 0;           // min_k mean_b z_k
    std::vector<double> z_mean; // mean_b z_k per adapter k
    bool expanded = false;
};

struct StreamStart {
    std::string out_path, strategy;
    std::vector<std::string> task_names, sites;
    std::vector<bool> expandable;
    int64_t n_train = 0, n_test = 0;
    size_t base_params = 0;
    int resumed_tasks = 0; // tasks restored from the checkpoint
};

struct PhaseInfo {
    int task = 0;
    std::string phase; // "func" | "rd" | "head"
    int epoch = 0, epochs = 0;
    double loss = 0, accuracy = 0; // accuracy: func / head phases
};

struct TaskReport {
    int task = 0, n_tasks = 0;
    std::string name;
    std::vector<std::string> expanded; // sites that expanded in this task
    std::vector<double> first_pass_z;  // per site: mean score over the first detection pass (NaN if none)
    std::vector<int> adapters;         // per site, after the task
    std::vector<double> row;           // R[task][0..task]
    double A = 0;                      // A_task
    double A_task_aware = 0;           // A_task when each test sample's task is given (argmax in its block)
    int64_t params_inference = 0, params_total = 0; // added over the base (adapters + routers [+ descriptors])
    double seconds = 0;
};

struct StreamSummary {
    std::string out_path;
    bool finished = false;         // false when stopped early (StreamOptions::stop_after)
    bool already_finished = false; // --resume found this stream's finished run and no checkpoint
    int tasks_done = 0;
    StreamMetrics metrics;
    double seconds = 0;
};

class StreamObserver {
  public:
    virtual ~StreamObserver() = default;
    virtual void on_start(const StreamStart &) {}
    virtual void on_phase(const PhaseInfo &) {}
    virtual void on_detection(const Detection &) {}
    virtual void on_task(const TaskReport &) {}
    virtual void on_end(const StreamSummary &) {}
};

struct StreamOptions {
    bool resume = false;     // continue from <out>.ckpt
    int stop_after = 0;      // stop (checkpoint kept, no run file) after this many tasks (0 = run all)
    std::string spec_source; // the spec file, for messages and the output check ("" = none)
    // The processes of a data-parallel run (null: this one alone); train.shards must be a multiple
    // of their number and divide expand.batch_size. Every process runs the whole stream on the same
    // data, each computing its shards of every training step; rank 0 writes the checkpoints and the
    // run file (docs/distributed.md).
    train::Communicator * comm = nullptr;
};

// The checkpoint beside a run file.
std::string checkpoint_path(const std::string & out_path);

// Runs the stream the spec describes and writes out_path atomically when every task is done
// (the checkpoint <out>.ckpt is written after every task and removed at the end).
// Throws moe::Error (spec / io / numeric / interrupted).
StreamSummary run_stream(const spec::Spec & spec, const std::string & out_path, StreamObserver & obs,
                         const StreamOptions & opt);

} // namespace moe::expand
