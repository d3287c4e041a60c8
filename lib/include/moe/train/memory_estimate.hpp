// moe/train/memory_estimate.hpp — the memory guard: what a run will allocate, estimated before
// anything large is allocated or read, against what the process may still allocate
// (moe/core/memory_limit.hpp). The parts: the data (from the sources' declared shapes and the
// row limits, moe/data/source_size.hpp), parameters, gradients (trainable tensors only),
// optimizer state (AdamW m and v, SGD momentum, and the checkpoint's copy of them), the
// activations the network plans for max(train micro-batch, eval batch), and a fixed overhead
// (the binaries, their libraries and OpenBLAS's buffers, measured: docs/memory.md).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "moe/core/memory_limit.hpp"
#include "moe/spec/spec.hpp"

namespace moe::train {

struct MemoryPart {
    std::string name;              // data, parameters, gradients, optimizer, activations, overhead
    uint64_t bytes = 0;
    std::vector<std::string> keys; // the spec keys that size it
};

struct MemoryEstimate {
    std::vector<MemoryPart> parts; // in the order above
    std::string data_note;         // what the data is, e.g. "1000000000 training rows of 5 features"
    uint64_t total() const;
    // Address space beyond the resident estimate that a limit on it (ulimit -v) also counts.
    uint64_t address_space_extra = 0;
};

// The counts the estimate is made of (the arithmetic, unit-tested on its own).
struct MemoryCounts {
    uint64_t data_bytes = 0;
    uint64_t n_trainable = 0, n_frozen = 0; // elements (n_frozen: in either storage)
    uint64_t n_frozen_bf16 = 0;             // of n_frozen, kept in bfloat16 (2 bytes each)
    uint64_t bf16_scratch = 0;              // float32 elements of the scratch that widens them
    std::string optimizer = "adamw";        // "adamw": m and v; "sgd": momentum when momentum > 0
    double momentum = 0;
    bool checkpoint_copy = true;            // the trainer's checkpoint keeps a copy of m and v
    int shards = 1;                         // train.shards > 1: a gradient copy per shard (one process)
    uint64_t activation_bytes = 0;
    uint64_t overhead = 0;
};
MemoryEstimate combine(const MemoryCounts & c);

// The estimate of a moe-train or moe-expand run of spec (tool "moe-train" | "moe-expand"):
// reads only the sources' headers and declares (never allocates) the network.
MemoryEstimate estimate_run_memory(const spec::Spec & spec, const std::string & tool);

// Throws ErrorCode::spec when the estimate exceeds what is available: the estimate, the memory
// available and the limit that sets it, and the spec keys that size the run, largest part first.
void check_memory(const MemoryEstimate & e, const AvailableMemory & avail);

// The estimate part by part and the available memory, one line each (--estimate-memory).
std::string memory_report(const MemoryEstimate & e, const AvailableMemory & avail);

} // namespace moe::train
