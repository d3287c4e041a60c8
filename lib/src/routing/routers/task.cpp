// routing: router "task" — Poly / MHR (Ponti et al. 2022, arXiv 2202.13914; Caccia et al. 2023,
// arXiv 2211.03831; huggingface/peft@5d602fd src/peft/tuners/poly): per-task skill weights from
// learned module logits, mixing the LoRA parameters before the matmul. It routes samples by
// their task id, not tokens, so it is a site kind of its own (sites/poly_site.hpp); this entry
// only registers the name, its keys and its traits.
#include "moe/routing/registry.hpp"

namespace moe::routing {

static void example_task(RouterConfig & c) {
    c.n_tasks = 3;
    c.n_splits = 1;
    c.temperature = 0.7;
}

RouterEntry router_task() {
    RouterTraits t;
    t.weights = false;
    t.chooses = false;
    t.per_task = true;
    return {"task",  "Poly / MHR: per-task skill weights mixed before the matmul (q heads with n_splits > 1)",
            t,       {"n_splits", "n_tasks", "temperature"},
            {},      nullptr,
            nullptr, &example_task};
}

} // namespace moe::routing
