// moe/train/trainer.hpp — train a model from a spec and write the run file (moe-train).
// The trainer never prints: it reports through an Observer the app implements.
//
// Checkpoints: every log.checkpoint_every optimizer steps, at the end of every epoch but the last
// and when a stop is requested (moe/core/interrupt.hpp), the trainer writes <out>.ckpt
// (train/checkpoint.hpp). run_training with TrainOptions::resume continues from it and
// produces the same bits as an uninterrupted run (same thread count); the checkpoint is removed
// once the run file is written.
#pragma once
#include <string>

#include "moe/spec/spec.hpp"
#include "moe/train/checkpoint.hpp"
#include "moe/train/communicator.hpp"
#include "moe/train/observer.hpp"
#include "moe/train/series.hpp"
#include "moe/train/spec_check.hpp"

namespace moe::train {

struct TrainOptions {
    // Continue from checkpoint_path(out_path). Its stored spec must equal the given one (but for
    // exp.threads), else ErrorCode::spec. Without a checkpoint: a complete run file at out_path
    // gives Summary::already_finished, anything else ErrorCode::io ("no checkpoint ...").
    bool resume = false;
    std::string spec_source;    // the spec file, named in messages
    std::string resume_command; // the command that resumes this run, quoted in the interrupt message
    // The processes of a data-parallel run (null: this one alone); train.shards must be a multiple
    // of their number. Rank 0 writes the checkpoints and the run file (docs/distributed.md).
    Communicator * comm = nullptr;
};

// Trains what the spec makes trainable and writes out_path (atomically: the file appears only
// when the run completed). Throws moe::Error (spec / io / numeric; interrupted after writing a
// checkpoint when interrupt_requested()). A numeric failure keeps the last good checkpoint.
Summary run_training(const spec::Spec & spec, const std::string & out_path, Observer & obs,
                     const TrainOptions & opt = {});

} // namespace moe::train
