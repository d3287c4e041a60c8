// moe/spec/sweep.hpp — a sweep file: one base spec, a grid of overrides (cartesian product)
// and/or explicit override sets, seeds, a naming rule and an output directory, expanded into
// the deterministic list of runs that moe-sweep hands to GNU parallel or a Slurm job array
// (docs/sweeps.md). Every run's overrides are checked against its spec (load_spec, as moe-train
// does) before anything runs. The library never prints and never exits.
#pragma once
#include <string>
#include <vector>

#include "moe/core/error.hpp"

namespace moe::spec {

// One run of a sweep: its name (unique, a plain file name), the spec it trains, its --set
// overrides in order ("key=value", the value as JSON; the last one sets exp.name from the
// sweep's exp_name rule unless the sweep sets exp.name itself) and its output run file.
struct SweepRun {
    std::string name;
    std::string spec;
    std::vector<std::string> overrides;
    std::string out; // <out_dir>/<name>.h5
};

struct Sweep {
    std::string source;            // the sweep file (messages)
    std::string name;              // the sweep's name: its "name" key, else the file's stem
    std::string program = "moe-train"; // moe-train | moe-expand
    std::string out_dir;
    std::vector<SweepRun> runs;    // in expansion order: runs[] outer, then grid keys, then seeds
};

// Parse and expand a sweep file (JSON text; `source` names it in messages). `out_dir`, when not
// empty, replaces the file's out_dir. Throws SpecError listing every problem with its JSON path
// (unknown keys, wrong types, empty lists, duplicate names or override sets, bad names).
Sweep parse_sweep(const std::string & text, const std::string & source, const std::string & out_dir = "");
// Read SWEEP.json and parse_sweep it (Error io/SpecError when it cannot be read).
Sweep load_sweep(const std::string & path, const std::string & out_dir = "");
// Load every run's spec with its overrides (load_spec: unknown keys, bad values, settings without
// effect). Throws one SpecError naming each failing run ("runs[name] train.lr: ...").
void check_sweep(const Sweep & sweep);

} // namespace moe::spec
