// expand: what each continual-learning method does with a task of the stream. The strategies
// share the frozen base, the sites and the phases; they differ in which adapters they add and
// train (sema: only where a shift is detected; adapter_per_task: one per task at every
// expandable site; single_adapter: one adapter per site trained on every task in turn;
// head_only: the classifier alone; mole_joint: every adapter and the router trained on all tasks
// at once, the upper bound).
#include <string>
#include <vector>

#include "internal.hpp"

#include "moe/core/error.hpp"

namespace moe::expand {

namespace {

using TaskFn = void (*)(Expander &, int, TaskReport &);

std::vector<int> none_new(const Expander & ex) { return std::vector<int>(ex.sites().size(), -1); }

// Task 0 of the adapter strategies and every task of single_adapter / head_only: the adapters in
// use (none for head_only) and the classifier on the task.
void train_in_use(Expander & ex, int t, bool adapters) {
    const auto & st = ex.stream();
    ex.func_phase(st.train[t], st.lo[t], st.hi[t], none_new(ex), adapters, task_tag(t));
    ex.freeze_all();
}

void sema(Expander & ex, int t, TaskReport & rep) {
    const auto & st = ex.stream();
    if (t == 0) { // the first adapters, their descriptors' statistics from both phases
        for (auto * s : ex.sites())
            if (s->has_descriptors()) s->set_updating({true});
        ex.func_phase(st.train[0], st.lo[0], st.hi[0], none_new(ex), true, task_tag(0));
        ex.rd_phase(st.train[0], std::vector<int>(ex.sites().size(), 0), task_tag(0));
        ex.freeze_all();
        return;
    }
    rep.expanded = ex.detect_and_expand(t, rep.first_pass_z);
    if (rep.expanded.empty()) { // nothing new: train only the classifier
        ex.func_phase(st.train[t], st.lo[t], st.hi[t], none_new(ex), false, task_tag(t));
        ex.freeze_all();
    }
}

void adapter_per_task(Expander & ex, int t, TaskReport & rep) {
    if (t == 0) return train_in_use(ex, 0, true);
    const auto & st = ex.stream();
    std::vector<int> slot = none_new(ex);
    for (size_t s = 0; s < ex.sites().size(); ++s) {
        auto & site = *ex.sites()[s];
        if (!site.expandable() || site.adapters() >= site.slots()) continue;
        slot[s] = site.adapters();
        site.set_adapters(site.adapters() + 1);
        rep.expanded.push_back(site.name());
        ex.expanded(t, (int)s);
    }
    ex.func_phase(st.train[t], st.lo[t], st.hi[t], slot, false, task_tag(t));
    ex.freeze_all();
}

void single_adapter(Expander & ex, int t, TaskReport &) { train_in_use(ex, t, true); }

void head_only(Expander & ex, int t, TaskReport &) { train_in_use(ex, t, false); }

void mole_joint(Expander & ex, int t, TaskReport &) {
    // one MoLE trained on every task at once (at the first task; later rows evaluate the same model)
    if (t > 0) return;
    const auto & st = ex.stream();
    ex.func_phase(st.all_train, 0, st.hi.back(), none_new(ex), true, task_tag(0));
    ex.freeze_all();
}

struct Strategy {
    const char * name;
    TaskFn task;
};

const Strategy kStrategies[] = {
    {"sema", &sema},
    {"adapter_per_task", &adapter_per_task},
    {"single_adapter", &single_adapter},
    {"head_only", &head_only},
    {"mole_joint", &mole_joint},
};

} // namespace

void run_task(Expander & ex, int t, TaskReport & rep) {
    for (const auto & s : kStrategies)
        if (ex.strategy() == s.name) return s.task(ex, t, rep);
    throw Error(ErrorCode::spec, "expand.strategy: unknown strategy '" + ex.strategy() + "'");
}

} // namespace moe::expand
