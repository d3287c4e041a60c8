// moe/train/evaluator.hpp — rebuild a trained network from its run file and analyse it:
// per-task loss and accuracy, per-site routing (load, entropy, experts per token, dropped,
// adapter FLOPs vs dense), specialisation (task x expert and class x expert affinity, mutual
// information and normalised MI between task and expert), inference-time routing changes
// (another k, uniform or oracle-by-task routing, disabled experts) and expert ablation.
#pragma once
#include <string>
#include <vector>

#include "moe/train/trainer.hpp"

namespace moe::train {

struct EvalOptions {
    std::vector<std::string> overrides; // --set on the run's spec (e.g. other data or tasks)
    std::string split = "test";         // test | val
    int k = 0;                          // > 0: evaluate with another top-k
    std::string force;                  // "" | uniform | oracle
    std::vector<int> disable;           // experts removed at every site
    bool ablate = false;                // drop each (site, expert) in turn
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
};

EvalReport evaluate_run(const std::string & run_path, const EvalOptions & opt);
// Writes the report to a new HDF5 file (atomically), layout in docs/run-file.md (EVAL.h5).
void write_eval_report(const EvalReport & r, const std::string & out_path);

// Mutual information (nats) and NMI of a joint count table (rows x cols).
void mutual_information(const std::vector<double> & joint, int rows, int cols, double & mi, double & nmi);

} // namespace moe::train
