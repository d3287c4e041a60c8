// moe/spec/spec.hpp — the experiment spec: JSON -> structs with defaults, every problem reported
// at once with its JSON path, `--set a.b.c=value` overrides, and the resolved spec back to JSON
// (stored in every run file). Every field is described once, in the visit() beside its struct
// (the config.hpp of its module, or below for the sections of moe-train and moe-expand
// themselves), and that description drives parsing, serialisation and docs/spec.md.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/adapters/config.hpp"
#include "moe/core/error.hpp"
#include "moe/data/config.hpp"
#include "moe/models/config.hpp"
#include "moe/routing/config.hpp"

namespace moe::spec {

struct ExpSpec {
    std::string name = "run";
    uint64_t seed = 0;
    int threads = 0; // 0 = all cores (the --threads flag overrides)
};

struct ParamGroupSpec {
    std::string pattern;      // glob over parameter names, e.g. "*.router.*"
    double lr = 0.0;          // absolute learning rate (0 = use lr_scale)
    double lr_scale = 1.0;    // multiplies train.lr (and follows the schedule)
    double weight_decay = -1; // -1 = train.weight_decay
};

struct TrainSpec {
    int epochs = 10;
    int grad_accum = 1;    // micro-batches per optimizer step (batch_size is the whole step)
    int shards = 1;        // gradient shards per step, each grad_accum micro-batches (docs/distributed.md)
    int64_t max_steps = 0; // stop after this many optimizer steps (0 = epochs decide)
    int batch_size = 128;
    std::string optimizer = "adamw"; // adamw | sgd
    double lr = 1e-3;
    double momentum = 0.9;                         // sgd
    bool nesterov = false;                         // sgd
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8; // adamw
    double weight_decay = 0.0;
    std::string schedule = "cosine"; // constant | cosine | step
    int64_t warmup_steps = 0;        // linear warmup from 0
    double min_lr = 0.0;             // cosine floor
    int64_t step_size = 1000;        // step schedule: multiply by gamma every step_size steps
    double gamma = 0.1;
    double clip_grad_norm = 0.0;        // 0 = no clipping
    std::vector<ParamGroupSpec> groups; // first matching pattern wins
    std::vector<std::string> freeze;    // parameters matching any pattern are not trained
    std::vector<std::string> unfreeze;  // with adapters: base parameters that still train (e.g. "head.*")
    double router_lr = 0.0;             // peak lr of "*.router.*" (0 = train.lr)
    double adapter_lr = 0.0;            // peak lr of "*.experts.*" (0 = train.lr)
};

struct EvalSpec {
    bool val = true;      // evaluate on the validation split
    bool test = true;     // evaluate on the test split
    int every_epochs = 1; // evaluation period in epochs (the last epoch is always evaluated)
    int batch_size = 512;
};

struct LogSpec {
    int every = 50;                // steps between train-metric records
    std::string progress = "auto"; // auto | bar | lines | none
    int64_t checkpoint_every = 0;  // moe-train: steps between checkpoints (0 = after each epoch and on a signal)
};

// moe-expand: strategy, adapters, descriptors, phases. Defaults are SEMA's reference defaults
// where they exist (huizhang0812/SEMA configs).
struct ExpandSpec {
    std::string strategy = "sema";       // sema | adapter_per_task | single_adapter | head_only | mole_joint
    std::vector<std::string> sites;      // adapted Linear sites (glob patterns); empty = every hidden site
    std::vector<std::string> expandable; // subset that can expand (empty = every adapted site)
    std::string adapter = "bottleneck";  // bottleneck (SEMA: down, ReLU, up, biases) | lora
    int rank = 16;                       // bottleneck width / LoRA rank (SEMA ffn_num)
    double lora_alpha = 16.0;            // LoRA scale alpha / rank
    int rd_dim = 128;                    // representation descriptor (linear autoencoder) width
    int buffer_size = 500;               // FIFO of descriptor losses
    double threshold = 2.0;              // expansion when min_k mean_batch z_k > threshold
    int detect_batch_size = 128;
    bool detect_drop_last = false; // reference: false (a tiny last batch may trigger)
    int max_adapters = 0;          // per site (0 = one per task)
    std::string head = "reinit";   // reinit (SEMA: a fresh classifier) | base (start from the base head)
    // functional phase (adapters, new router column, classifier) and descriptor phase
    int batch_size = 32;
    std::string optimizer = "sgd"; // sgd | adamw
    double momentum = 0.9;
    double weight_decay = 5e-4;
    int func_epochs = 5;
    double func_lr = 0.005;
    int rd_epochs = 20;
    double rd_lr = 0.01;
    double min_lr = 0.0; // cosine floor, stepped per epoch
    int eval_batch_size = 512;
};

struct Spec {
    int version = 1;
    std::string base; // run file of a pre-trained base model to load (frozen unless trained)
    ExpSpec exp;
    data::DataConfig data;
    models::ModelConfig model;
    adapters::AdapterConfig adapters; // empty sites = no adapters (the base itself trains)
    routing::RouterConfig routing;
    routing::BalanceConfig loss;
    TrainSpec train;
    EvalSpec eval;
    LogSpec log;
    data::StreamConfig stream; // moe-expand: the task stream
    ExpandSpec expand;         // moe-expand: strategy, adapters, descriptors, phases
    // Not part of the spec (not serialised): what load_spec found harmless but worth saying, such
    // as a key with no effect left at its default (moe/spec/effect.hpp). The apps print them.
    std::vector<SpecProblem> warnings;
};

// Arrays and objects nest at most this deep in a spec file or a --set value (a spec needs 6:
// data.tasks[i].transforms[j].kind); deeper is a SpecError naming the line and column.
constexpr int kMaxDepth = 64;

// Parse (and validate) a spec object. `source` names the file in messages.
// Throws SpecError listing every problem with its JSON path.
Spec parse_spec(const nlohmann::json & j, const std::string & source);
// Read a JSON file (syntax errors report line and column; duplicate keys and nesting deeper than
// kMaxDepth are errors), apply overrides "a.b.c=value" (value parsed as JSON, else taken as a
// string), parse, and check for settings that have no effect (moe/spec/effect.hpp: errors, or
// warnings in Spec::warnings). Throws SpecError (or Error io when the file cannot be read).
Spec load_spec(const std::string & path, const std::vector<std::string> & overrides);

// The files a run reads, as (what, path), for the output checks (io::check_output_not_input):
// the base run, data.train_path / test_path, and the Fashion-MNIST files (.gz or plain).
std::vector<std::pair<std::string, std::string>> input_files(const Spec & s);

// runs/<exp.name>.h5, the output when -o is not given. Throws SpecError (exp.name) unless the
// name is one plain file name (not empty, no '/', not . or ..).
std::string default_run_path(const Spec & s);
// Apply one "a.b.c=value" override to a JSON object (creates missing object keys).
void apply_override(nlohmann::json & j, const std::string & assignment);
nlohmann::json to_json(const Spec & s);

// One row of the spec reference: "train.lr", "number", "0.001", "learning rate ..."
struct FieldDoc {
    std::string path, type, default_value, doc;
};
std::vector<FieldDoc> spec_reference();

} // namespace moe::spec
