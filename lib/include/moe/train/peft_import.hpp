// moe/train/peft_import.hpp — PEFT LoRA adapters as the experts of a run (spec key adapters.peft):
// a library of independently trained LoRAs evaluated, routed or merged post hoc, or the mixture
// `moe-eval export` wrote, experts and routers, read back (docs/peft.md).
//
// Adapter e of the list is expert e at every site one of its modules is; a site an adapter does
// not adapt gets a zero expert there (it adds nothing). Adapters of one rank, alpha and rsLoRA
// setting are copied as they are; otherwise the rank is the largest (smaller A and B padded with
// zeros) and each adapter's own scale is folded into its B (the run's scale is then 1), which
// changes the product only by float rounding.
#pragma once
#include "moe/core/params.hpp"
#include "moe/spec/spec.hpp"

namespace moe::train {

// With spec.adapters.peft set (and the model known: after with_hf_base), the spec with
// adapters.sites / experts / rank / alpha / rslora from the adapters, and, for an exported mixture,
// routing from its moe_lab_mixture.json. A key the spec set to another value is a SpecError at
// that key; a bad adapter directory is Error(io) naming the file and the tensor or key. Any other
// spec is returned as it is.
spec::Spec with_peft_adapters(const spec::Spec & s);

// Copies the adapters of a spec with_peft_adapters returned into the store's experts (and an
// exported mixture's routers). Error(io) names the file and tensor whose shape the model lacks.
void load_peft_adapters(ParamStore<float> & store, const spec::Spec & s);

} // namespace moe::train
