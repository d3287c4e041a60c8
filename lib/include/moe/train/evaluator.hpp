// moe/train/evaluator.hpp — rebuild a trained network from its run file and analyse it:
// per-task loss and accuracy, per-site routing (load, entropy, experts per token, dropped,
// adapter FLOPs vs dense), specialisation (task x expert and class x expert affinity, mutual
// information and normalised MI between task and expert), inference-time routing changes
// (another k, uniform or oracle-by-task routing, disabled experts) and expert ablation.
//
// The oracle sends every token to the expert of its task. Which expert that is comes from the
// run itself (oracle_map "affinity", the default): the test split is first evaluated with the
// router, giving the task x expert affinity of every site, and each site's tasks are assigned to
// experts to maximise the summed affinity (assign_experts). oracle_map "fixed" takes expert
// t mod E for task t, for experts trained one per task in task-id order.
#pragma once
#include <string>
#include <vector>

#include "moe/train/trainer.hpp"

namespace moe::train {

struct EvalOptions {
    std::vector<std::string> overrides;  // --set on the run's spec (e.g. other data or tasks)
    std::string split = "test";          // test | val
    int k = 0;                           // > 0: evaluate with another top-k
    std::string force;                   // "" | uniform | oracle
    std::string oracle_map = "affinity"; // with force = oracle: affinity (learned) | fixed (t mod E)
    std::vector<int> disable;            // experts removed at every site
    bool ablate = false;                 // drop each (site, expert) in turn
    int threads = -1;
    std::string out; // EVAL.h5 the caller will write ("" = none): checked first
};

struct SiteReport {
    std::string site;
    int experts = 0;
    std::vector<double> load; // (E) share of assignments
    double entropy = 0, active = 0, dropped = 0, flops_ratio = 0;
    std::vector<double> affinity;       // (n_tasks, E): share of each task's assignments per expert
    std::vector<double> class_affinity; // (n_classes, E)
    double mi = 0, nmi = 0;             // task vs expert (nats; NMI = MI / sqrt(H(task) H(expert)))
    std::vector<int> oracle;            // --oracle: the expert of each task (n_tasks); empty otherwise
};

struct Ablation {
    std::string site;
    int expert = 0;
    std::vector<double> delta;     // (n_tasks) accuracy change when the expert is removed
    std::vector<double> delta_bpb; // text: (n_tasks) change of bits per byte
};

struct EvalReport {
    std::string run_path, split, source;
    bool ground_truth = false; // synthetic teacher tasks: the task IS the true routing
    bool text = false;         // a language model on a text corpus (tasks are its domains)
    EvalInfo overall;
    std::vector<std::string> task_names;
    int n_classes = 0;
    std::vector<SiteReport> sites;
    std::vector<Ablation> ablations;
    EvalOptions options; // what made the report (stored in EVAL.h5)
};

EvalReport evaluate_run(const std::string & run_path, const EvalOptions & opt);
// Writes the report to a new HDF5 file (atomically), layout in docs/run-file.md (EVAL.h5).
void write_eval_report(const EvalReport & r, const std::string & out_path);

// The oracle's expert for each task at one site, from its task x expert affinity (tasks rows,
// experts columns, row-major): with tasks <= experts, distinct experts maximising the summed
// affinity (the assignment problem, solved exactly by the Hungarian algorithm in O(n^2 m), Kuhn
// 1955 / Munkres 1957, in the potentials form of Jonker and Volgenant); with more tasks than
// experts, each task's highest-affinity expert (the lower index on a tie; experts then serve
// several tasks).
std::vector<int> assign_experts(const std::vector<double> & affinity, int tasks, int experts);

// Mutual information (nats) and NMI of a joint count table (rows x cols).
void mutual_information(const std::vector<double> & joint, int rows, int cols, double & mi, double & nmi);
// Each row of a count table (rows x cols, row-major) as shares of its sum (0 for an empty row).
std::vector<double> row_shares(const std::vector<int64_t> & counts, int rows, int cols);

} // namespace moe::train
