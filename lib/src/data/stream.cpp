// data: a continual-learning stream of tasks (see moe/data/stream.hpp).
#include "moe/data/stream.hpp"

#include <algorithm>
#include <numeric>

#include "moe/core/error.hpp"
#include "moe/core/numpy_rng.hpp"

namespace moe::data {

std::vector<int> class_order(const ClassSplit & cs, int n) {
    if (!cs.order.empty()) {
        std::vector<int> seen(n, 0);
        bool ok = (int)cs.order.size() == n;
        for (int c : cs.order) ok = ok && c >= 0 && c < n && !seen[c]++;
        MOE_CHECK(ok, ErrorCode::spec,
                  "stream.class_split.order: must list each of the " + std::to_string(n) +
                      " classes of the source (0.." + std::to_string(n - 1) + ") exactly once");
        return cs.order;
    }
    if (cs.shuffle) return numpy_legacy_permutation(cs.order_seed, n);
    std::vector<int> order(n);
    std::iota(order.begin(), order.end(), 0);
    return order;
}

Stream build_stream(const DataConfig & data, const StreamConfig & stream, uint64_t seed) {
    const auto & cs = stream.class_split;
    DataConfig dc = data;
    int n_src_classes = 0;
    std::vector<int> order;
    if (cs.init > 0) {
        MOE_CHECK(dc.source != "synthetic", ErrorCode::spec,
                  "stream.class_split: the synthetic source defines its own tasks; use data.tasks instead");
        if (dc.source == "fashion-mnist") {
            n_src_classes = 10;
        } else {
            DataConfig probe = data;
            probe.tasks.clear();
            n_src_classes = build_splits(probe, seed).train.n_classes;
        }
        MOE_CHECK(cs.init <= n_src_classes, ErrorCode::spec,
                  "stream.class_split.init: " + std::to_string(cs.init) + " exceeds the " +
                      std::to_string(n_src_classes) + " classes of the source");
        order = class_order(cs, n_src_classes);
        std::vector<std::vector<int>> blocks;
        blocks.emplace_back(order.begin(), order.begin() + cs.init);
        for (int p = cs.init; p < n_src_classes; p += cs.increment)
            blocks.emplace_back(order.begin() + p, order.begin() + std::min(n_src_classes, p + cs.increment));
        const auto given = data.tasks;
        MOE_CHECK(given.empty() || given.size() == blocks.size(), ErrorCode::spec,
                  "data.tasks: the class split makes " + std::to_string(blocks.size()) + " tasks but data.tasks has " +
                      std::to_string(given.size()) + " entries (give none, or one per class block)");
        dc.tasks.clear();
        for (size_t i = 0; i < blocks.size(); ++i) {
            TaskConfig tc;
            if (!given.empty()) tc = given[i];
            MOE_CHECK(tc.classes.empty(), ErrorCode::spec,
                      "data.tasks[" + std::to_string(i) + "].classes: the class split chooses the classes");
            tc.classes = blocks[i];
            tc.relabel = false;
            if (tc.name.empty()) {
                tc.name = "classes";
                for (int c : blocks[i]) tc.name += "-" + std::to_string(c);
            }
            dc.tasks.push_back(tc);
        }
    }
    Splits sp = build_splits(dc, seed);
    check_finite(sp.train, "training data");
    check_finite(sp.test, "test data");
    Stream st;
    st.names = sp.task_names;
    const int N = (int)st.names.size();
    st.V = std::max(sp.train.n_classes, sp.test.n_classes);
    const std::string labels = stream.labels;
    st.growing = labels == "growing" || (labels == "auto" && cs.init > 0);
    MOE_CHECK(N >= 1, ErrorCode::spec, "stream: no tasks (data.tasks is empty and no class split)");
    std::vector<std::vector<int>> task_classes(N);
    for (int t = 0; t < N; ++t) {
        st.train.push_back(rows_of_task(sp.train, t));
        st.test.push_back(rows_of_task(sp.test, t));
        std::vector<bool> seen(st.V, false);
        for (int32_t y : st.train.back().y) seen[y] = true;
        for (int c = 0; c < st.V; ++c)
            if (seen[c]) task_classes[t].push_back(c);
        MOE_CHECK(st.train.back().n > 0, ErrorCode::spec, "stream task '" + st.names[t] + "' has no training samples");
    }
    if (st.growing) {
        // every task gets its own block of logits [lo, hi) for its classes (class-incremental:
        // the class order; domain-incremental: a new copy of the classes per domain), so
        // training masks the old blocks and inference is an argmax over every seen block;
        // logit_class maps a logit back to its source class
        for (int t = 0; t < N; ++t) {
            std::vector<int> cls = task_classes[t];
            if (cs.init > 0) { // keep the class order within the block
                std::vector<int> ord;
                for (int c : order)
                    if (std::find(cls.begin(), cls.end(), c) != cls.end()) ord.push_back(c);
                cls = ord;
            }
            std::vector<int> local(st.V, -1);
            st.lo.push_back((int)st.logit_class.size());
            for (int c : cls) {
                local[c] = (int)st.logit_class.size();
                st.logit_class.push_back(c);
            }
            st.hi.push_back((int)st.logit_class.size());
            st.eval_hi.push_back(st.hi.back());
            for (auto & y : st.train[t].y) y = local[y];
        }
    } else {
        for (int c = 0; c < st.V; ++c) st.logit_class.push_back(c);
        for (int t = 0; t < N; ++t) {
            st.lo.push_back(0);
            st.hi.push_back(st.V);
            st.eval_hi.push_back(st.V);
        }
    }
    st.n_logits = (int)st.logit_class.size();
    // every task's training samples with their logit labels (mole_joint trains on all at once)
    st.all_train = st.train[0];
    for (int t = 1; t < N; ++t) append(st.all_train, st.train[t]);
    return st;
}

} // namespace moe::data
