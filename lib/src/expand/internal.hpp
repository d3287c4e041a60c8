// expand: the stream driver's state, shared by its files (private to lib/src/expand):
//   build.cpp (the network with SEMA sites), phases.cpp (training phases, detection,
//   evaluation), strategies.cpp (what each continual-learning method does per task),
//   state.cpp (the run file and checkpoint), expander.cpp (the stream loop).
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "moe/data/stream.hpp"
#include "moe/expand/expander.hpp"
#include "moe/io/run_file.hpp"
#include "moe/sites/sema_site.hpp"
#include "moe/train/network.hpp"
#include "moe/train/step.hpp"

namespace moe::expand {

class Expander {
  public:
    Expander(const spec::Spec & spec, const std::string & out, StreamObserver & obs, const StreamOptions & opt)
        : spec_(spec), cfg_(spec.expand), out_(out), obs_(obs), opt_(opt), seed_(spec.exp.seed),
          comm_(opt.comm ? *opt.comm : single_), shards_(std::max(1, spec.train.shards)) {}

    StreamSummary run();

    // ---- what the strategies use (strategies.cpp)
    // func phase: the adapter new_slot[s] of each site (-1 = none; all_adapters: every adapter in
    // use) with its router column, and the classifier
    void func_phase(const data::Dataset & ds, int lo, int hi, const std::vector<int> & new_slot, bool all_adapters,
                    const std::string & tag);
    // rd phase: the descriptors of the new slots
    void rd_phase(const data::Dataset & ds, const std::vector<int> & new_slot, const std::string & tag);
    void freeze_all();
    // detection passes of task t (SEMA); returns the sites that expanded
    std::vector<std::string> detect_and_expand(int t, std::vector<double> & first_pass_z);
    // records an expansion of site s in task t
    void expanded(int t, int s) { expansions_.insert(expansions_.end(), {int64_t(t), int64_t(s)}); }
    const data::Stream & stream() const { return st_; }
    const std::vector<sites::SemaSite<float> *> & sites() const { return sites_; }
    const std::string & strategy() const { return cfg_.strategy; }

  private:
    void build();
    void restore(const io::RunReader & r);
    void write_state(io::RunWriter & w, bool final) const;
    void write_checkpoint() const;
    // one training phase over ds with the listed parameters trainable (the others at lr 0)
    void train_phase(const std::string & kind, const data::Dataset & ds, int lo, int hi,
                     const std::vector<std::string> & params, int epochs, double lr, const std::string & tag);
    void evaluate_after(int t);
    void count_params(int64_t & inference, int64_t & total) const;
    // data parallel (parallel.cpp): the shards of a step and the processes checked against the
    // spec; after a sharded step, every shard's held descriptor losses entered into the FIFOs of
    // every process in shard order; rank 0's expansion decision, checked on the others
    void check_shards() const;
    void plan_parallel();
    void enter_held_records();
    bool shared_decision(bool go);
    bool writer() const { return comm_.rank() == 0; }

    const spec::Spec & spec_;
    const spec::ExpandSpec & cfg_;
    std::string out_;
    StreamObserver & obs_;
    StreamOptions opt_;
    uint64_t seed_;
    train::Communicator single_;
    train::Communicator & comm_;
    int shards_ = 1;                  // train.shards: the micro-batches (and shards) of a training step
    std::vector<double> held_blocks_; // (processes, held_len_): every process's held losses of a step
    size_t held_len_ = 0;
    data::Stream st_;
    std::unique_ptr<train::Network> net_;
    std::vector<sites::SemaSite<float> *> sites_; // the network's sites, typed
    train::StepBuffers sbuf_;
    std::vector<float> x_, aug_;
    std::vector<int32_t> y_, task_;
    int Bmax_ = 0, S_ = 1, done_ = 0, phase_counter_ = 0, cur_task_ = 0;
    int64_t steps_ = 0;   // optimizer steps over the stream so far (every phase)
    double seconds_ = 0;  // time spent in the tasks done (earlier sessions' included)
    bool augment_ = false;
    std::vector<std::string> site_names_;
    // results so far
    std::vector<std::vector<double>> R_;  // (done, N)
    std::vector<std::vector<double>> Rt_; // (done, N) task-aware: argmax within task j's own logits
    std::vector<std::vector<int64_t>> adapters_hist_;
    std::vector<int64_t> p_inf_, p_tot_;
    std::vector<double> det_rows_, detz_rows_; // flattened (n,7) and (n,6)
    std::vector<int64_t> expansions_;          // flattened (n,2): task, site
};

// What a strategy does with task t of the stream (strategies.cpp); fills rep.expanded and
// rep.first_pass_z.
void run_task(Expander & ex, int t, TaskReport & rep);

// --resume: the file (a checkpoint or a finished run) must hold this stream: written by moe-expand
// for the same resolved spec (exp.threads may differ), else the differences, one per line.
void check_same_stream(const io::RunReader & r, const spec::Spec & spec, const std::string & spec_name);

// "expand.taskN": the seed tag of task N's phases.
inline std::string task_tag(int t) { return "expand.task" + std::to_string(t); }

} // namespace moe::expand
