// moe/data/stream.hpp — a continual-learning stream: data.tasks in order, or the class blocks of
// a class-incremental split (stream.class_split), each task with its training and test data and
// its block of logits when the label space grows.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "moe/data/config.hpp"
#include "moe/data/dataset.hpp"

namespace moe::data {

struct Stream {
    std::vector<std::string> names;
    std::vector<Dataset> train, test;
    std::vector<int> lo, hi;      // training mask [lo, hi) of task i
    std::vector<int> eval_hi;     // evaluation: argmax over [0, eval_hi) after task i
    std::vector<int> logit_class; // source class of every logit
    Dataset all_train;            // every task (mole_joint), logit labels
    int V = 0;                    // source classes
    int n_logits = 0;             // classifier outputs (V when shared)
    bool growing = false;
};

// The order of the source's n classes a class split cuts into blocks: the explicit order when
// given (every class once, else ErrorCode::spec naming stream.class_split.order), else numpy's
// legacy np.random.seed(order_seed); np.random.permutation(n) when shuffled (SEMA and PILOT's
// class order), else 0..n-1.
std::vector<int> class_order(const ClassSplit & cs, int n);

// Builds the stream the data and stream sections describe. Deterministic in seed.
Stream build_stream(const DataConfig & data, const StreamConfig & stream, uint64_t seed);

} // namespace moe::data
