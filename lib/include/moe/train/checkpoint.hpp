// moe/train/checkpoint.hpp — moe-train's checkpoint <out>.ckpt: a run file of the steps so far
// plus what resuming needs, written atomically (temporary name, fsync, rename).
//
//   <out>.ckpt = the run-file layout (/spec, /params, /metrics, /routing) plus
//   /optim                   attrs: kind (adamw | sgd), steps (optimizer step count t)
//   /optim/m/<name>          first moment (adamw) / momentum buffer (sgd) of every trainable tensor
//   /optim/v/<name>          second moment (adamw)
//   /checkpoint              attrs: step, epoch, batch, seconds (the position to continue from)
//   /checkpoint/window       (6) the open log window: loss, accuracy, aux sums, steps, samples, seconds
//   /checkpoint/sites/<site>/load (E) int64 and /sums (RoutingStats::kSums): the window's routing telemetry
//   /checkpoint/series       the metric series paths, one a line (1-D float64, or int64 for the step
//                            counts (is_integer_series); 2-D float32)
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "moe/core/params.hpp"
#include "moe/io/run_file.hpp"
#include "moe/routing/telemetry.hpp"
#include "moe/train/series.hpp"

namespace moe::train {

std::string checkpoint_path(const std::string & out_path); // "<out>.ckpt"

// Everything a resumed run needs besides the parameters.
struct TrainCheckpoint {
    int64_t step = 0;      // optimizer steps done
    int epoch = 0;         // the epoch to continue in (0-based)
    int64_t batch = 0;     // its next step; == steps per epoch: only its evaluation is left
    double seconds = 0;    // training time before the checkpoint
    std::string optimizer; // adamw | sgd
    int64_t optim_steps = 0;
    std::vector<float> m, v; // optimizer state over the trainable block (ParamStore layout)
    // the open log window (reset at every record)
    double win_loss = 0, win_acc = 0, win_aux = 0, win_seconds = 0;
    int64_t win_n = 0, win_samples = 0;
    std::map<std::string, routing::RoutingStats> sites; // the open window of every site, by name
    SeriesLog series;                                   // every record so far
};


// What a run file and a checkpoint share: spec, name, BLAS, series, parameters.
void write_run_body(io::RunWriter & w, const std::string & spec_json, const std::string & run_name,
                    const ParamStore<float> & store, const SeriesLog & series);
// Writes path atomically (temporary name, fsync, rename): spec, every parameter of store,
// the series and the rest of ck. tool names the writer ("moe-train").
void write_checkpoint(const std::string & path, const std::string & tool, const std::string & spec_json,
                      const std::string & run_name, const ParamStore<float> & store, const TrainCheckpoint & ck);
// Loads every parameter of store from path (by name; missing tensors and shape mismatches are
// reported) and returns the rest. ErrorCode::io names the file on any problem, and every field
// is checked first, for a checkpoint edited and resealed: counts whole and >= 0, the log window
// and optimizer state finite (second moments >= 0), one optimizer step per step, the series of
// a group of equal length with their steps counting up to the checkpoint's.
TrainCheckpoint read_checkpoint(const std::string & path, ParamStore<float> & store);
// A finished run file (not a checkpoint) is at path.
bool is_complete_run(const std::string & path);

} // namespace moe::train
