// moe/models/batch.hpp — what a model is given: B samples with their inputs (features or token
// ids), a target and a mask per output row, and a task id per sample. A model returns logits
// (rows, V) with rows = B * rows_per_sample(): one row per sample for a classifier, one per
// position for a language model; losses and metrics work per row.
#pragma once
#include <cstdint>

namespace moe::models {

template <typename T>
struct Batch {
    int B = 0;                         // samples
    const T * x = nullptr;             // (B, d) features or images (classifiers)
    const int32_t * tokens = nullptr;  // (B, T) token ids (language models)
    const int32_t * targets = nullptr; // (rows) target of each output row
    const uint8_t * mask = nullptr;    // (rows) 1 = the row counts (null: every row)
    const int32_t * task = nullptr;    // (B) task id of each sample (null: task 0)
};

} // namespace moe::models
