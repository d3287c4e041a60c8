// spec: one visit() per section describes every field once (key, value, doc, check); three
// visitors use it — Reader (JSON -> structs, collecting every problem with its path), Writer
// (structs -> JSON, the resolved spec) and Documenter (the README's spec reference).
#include "moe/spec/spec.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <cstdlib>
#include <set>
#include <sstream>

#include "moe/core/error.hpp"

namespace moe::spec {

using nlohmann::json;
namespace fs = std::filesystem;

// every section's field list, defined below; declared first so the visitors can recurse
template <typename V> void visit(V & v, ExpSpec & s);
template <typename V> void visit(V & v, data::TransformConfig & s);
template <typename V> void visit(V & v, data::TaskConfig & s);
template <typename V> void visit(V & v, data::SyntheticConfig & s);
template <typename V> void visit(V & v, data::AugmentConfig & s);
template <typename V> void visit(V & v, data::DataConfig & s);
template <typename V> void visit(V & v, models::MlpConfig & s);
template <typename V> void visit(V & v, models::VitConfig & s);
template <typename V> void visit(V & v, models::ModelConfig & s);
template <typename V> void visit(V & v, ParamGroupSpec & s);
template <typename V> void visit(V & v, routing::AdapterConfig & s);
template <typename V> void visit(V & v, routing::RouterConfig & s);
template <typename V> void visit(V & v, routing::BalanceConfig & s);
template <typename V> void visit(V & v, TrainSpec & s);
template <typename V> void visit(V & v, EvalSpec & s);
template <typename V> void visit(V & v, LogSpec & s);
template <typename V> void visit(V & v, expand::ClassSplit & s);
template <typename V> void visit(V & v, expand::StreamConfig & s);
template <typename V> void visit(V & v, expand::ExpandConfig & s);
template <typename V> void visit(V & v, Spec & s);

namespace {

struct Check {
    std::optional<double> min, max;
    bool min_exclusive = false;
    std::vector<std::string> choices;
};
Check at_least(double v) { Check c; c.min = v; return c; }
Check positive() { Check c; c.min = 0; c.min_exclusive = true; return c; }
Check range(double lo, double hi) { Check c; c.min = lo; c.max = hi; return c; }
Check one_of(std::vector<std::string> v) { Check c; c.choices = std::move(v); return c; }

std::string fmt_num(double v) {
    if (std::fabs(v) < 1e15 && v == static_cast<double>(static_cast<int64_t>(v))) return std::to_string(static_cast<int64_t>(v));
    std::ostringstream o;
    o << v;
    return o.str();
}

std::string type_name(const json & j) {
    switch (j.type()) {
        case json::value_t::null: return "null";
        case json::value_t::boolean: return "a boolean";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned: return "an integer";
        case json::value_t::number_float: return "a number";
        case json::value_t::string: return "a string";
        case json::value_t::array: return "an array";
        case json::value_t::object: return "an object";
        default: return "a value";
    }
}

// Levenshtein distance for "did you mean" hints on unknown keys.
size_t edit_distance(const std::string & a, const std::string & b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (size_t j = 1; j <= b.size(); ++j)
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

// ---------------------------------------------------------------------------------------- Reader
class Reader {
  public:
    Reader(const json * obj, std::string path, std::vector<SpecProblem> * errs)
        : obj_(obj), path_(std::move(path)), errs_(errs) {}

    template <typename F>
    void field(const char * key, F & ref, const char * /*doc*/, const Check & c = {}) {
        seen_.push_back(key);
        if (!obj_ || !obj_->contains(key)) return;
        read(obj_->at(key), sub(key), ref, c);
    }
    template <typename S>
    void object(const char * key, S & s, const char * /*doc*/) {
        seen_.push_back(key);
        if (!obj_ || !obj_->contains(key)) return;
        const json & j = obj_->at(key);
        if (!j.is_object()) { err(sub(key), "expected an object, got " + type_name(j)); return; }
        Reader r(&j, sub(key), errs_);
        visit(r, s);
        r.finish();
    }
    template <typename S>
    void list(const char * key, std::vector<S> & v, const char * /*doc*/) {
        seen_.push_back(key);
        if (!obj_ || !obj_->contains(key)) return;
        const json & j = obj_->at(key);
        if (!j.is_array()) { err(sub(key), "expected an array of objects, got " + type_name(j)); return; }
        v.clear();
        for (size_t i = 0; i < j.size(); ++i) {
            std::string p = sub(key) + "[" + std::to_string(i) + "]";
            if (!j[i].is_object()) { err(p, "expected an object, got " + type_name(j[i])); continue; }
            S s{};
            Reader r(&j[i], p, errs_);
            visit(r, s);
            r.finish();
            v.push_back(std::move(s));
        }
    }
    void finish() {
        if (!obj_) return;
        for (auto it = obj_->begin(); it != obj_->end(); ++it) {
            if (std::find(seen_.begin(), seen_.end(), it.key()) != seen_.end()) continue;
            std::string msg = "unknown key";
            size_t best = 3;
            std::string hint;
            for (const auto & k : seen_) {
                size_t d = edit_distance(it.key(), k);
                if (d < best) { best = d; hint = k; }
            }
            if (!hint.empty()) msg += " (did you mean '" + hint + "'?)";
            else {
                msg += "; expected one of:";
                for (const auto & k : seen_) msg += " " + k;
            }
            err(sub(it.key()), msg);
        }
    }

  private:
    std::string sub(const std::string & key) const { return path_.empty() ? key : path_ + "." + key; }
    void err(const std::string & p, const std::string & m) { errs_->push_back({p, m}); }

    // false (and the problem recorded) when v is outside the check; the caller then keeps the
    // default, so validate() only ever sees values inside their ranges (a grad_accum of 0 once
    // reached `batch_size % grad_accum`; found by tests/fuzz/fuzz_spec).
    bool check_num(const std::string & p, double v, const Check & c) {
        if (c.min && (c.min_exclusive ? !(v > *c.min) : !(v >= *c.min))) {
            err(p, "value " + fmt_num(v) + " out of range: must be " + (c.min_exclusive ? "> " : ">= ") + fmt_num(*c.min) +
                       (c.max ? " and <= " + fmt_num(*c.max) : ""));
            return false;
        }
        if (c.max && !(v <= *c.max)) {
            err(p, "value " + fmt_num(v) + " out of range: must be <= " + fmt_num(*c.max) +
                       (c.min ? std::string(c.min_exclusive ? " and > " : " and >= ") + fmt_num(*c.min) : ""));
            return false;
        }
        return true;
    }
    void read(const json & j, const std::string & p, std::string & out, const Check & c) {
        if (!j.is_string()) { err(p, "expected a string, got " + type_name(j)); return; }
        out = j.get<std::string>();
        if (!c.choices.empty() && std::find(c.choices.begin(), c.choices.end(), out) == c.choices.end()) {
            std::string m = "'" + out + "' is not one of:";
            for (auto & s : c.choices) m += " " + s;
            err(p, m);
        }
    }
    void read(const json & j, const std::string & p, bool & out, const Check &) {
        if (!j.is_boolean()) { err(p, "expected a boolean (true/false), got " + type_name(j)); return; }
        out = j.get<bool>();
    }
    // I is int64_t or uint64_t. Values outside I are reported, never converted (a float-to-integer
    // conversion out of range is undefined behaviour; found by tests/fuzz/fuzz_spec).
    template <typename I>
    bool read_integer(const json & j, const std::string & p, I & out, const Check & c) {
        const char * what = std::is_unsigned_v<I> ? "an unsigned 64-bit integer" : "a 64-bit integer";
        if (j.is_number_float()) {
            double d = j.get<double>();
            if (std::trunc(d) != d) { err(p, "expected an integer, got " + fmt_num(d)); return false; }
            // [min, max + 1) of I, exact in double: [-2^63, 2^63) or [0, 2^64)
            if (!(d >= static_cast<double>(std::numeric_limits<I>::min()) &&
                  d < static_cast<double>(std::numeric_limits<I>::max()))) {
                err(p, "value " + fmt_num(d) + " out of range for " + what);
                return false;
            }
            if (!check_num(p, d, c)) return false;
            out = static_cast<I>(d);
            return true;
        }
        // (is_number_integer() is true for signed and unsigned JSON integers)
        if (!j.is_number_integer()) { err(p, "expected an integer, got " + type_name(j)); return false; }
        if (j.is_number_unsigned()) {
            if (j.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<I>::max())) {
                err(p, "value " + std::to_string(j.get<uint64_t>()) + " out of range for " + what);
                return false;
            }
        } else if (std::is_unsigned_v<I> && j.get<int64_t>() < 0) {
            err(p, "value " + std::to_string(j.get<int64_t>()) + " out of range: must be >= 0");
            return false;
        }
        const I v = j.get<I>();
        if (!check_num(p, static_cast<double>(v), c)) return false;
        out = v;
        return true;
    }
    void read(const json & j, const std::string & p, int & out, const Check & c) {
        int64_t v = out;
        if (read_integer(j, p, v, c)) {
            if (v > INT32_MAX || v < INT32_MIN) err(p, "value out of range for a 32-bit integer");
            else out = static_cast<int>(v);
        }
    }
    void read(const json & j, const std::string & p, int64_t & out, const Check & c) { read_integer(j, p, out, c); }
    void read(const json & j, const std::string & p, uint64_t & out, const Check & c) { read_integer(j, p, out, c); }
    void read(const json & j, const std::string & p, double & out, const Check & c) {
        if (!j.is_number()) { err(p, "expected a number, got " + type_name(j)); return; }
        const double v = j.get<double>();
        if (check_num(p, v, c)) out = v;
    }
    void read(const json & j, const std::string & p, std::vector<int> & out, const Check & c) {
        if (!j.is_array()) { err(p, "expected an array of integers, got " + type_name(j)); return; }
        out.clear();
        for (size_t i = 0; i < j.size(); ++i) {
            int v = 0;
            read(j[i], p + "[" + std::to_string(i) + "]", v, c);
            out.push_back(v);
        }
    }
    void read(const json & j, const std::string & p, std::vector<std::string> & out, const Check & c) {
        if (!j.is_array()) { err(p, "expected an array of strings, got " + type_name(j)); return; }
        out.clear();
        for (size_t i = 0; i < j.size(); ++i) {
            std::string v;
            read(j[i], p + "[" + std::to_string(i) + "]", v, c);
            out.push_back(v);
        }
    }

    const json * obj_;
    std::string path_;
    std::vector<SpecProblem> * errs_;
    std::vector<std::string> seen_;
};

// ---------------------------------------------------------------------------------------- Writer
class Writer {
  public:
    json out = json::object();
    template <typename F>
    void field(const char * key, F & ref, const char *, const Check & = {}) { out[key] = ref; }
    template <typename S>
    void object(const char * key, S & s, const char *) {
        Writer w;
        visit(w, s);
        out[key] = std::move(w.out);
    }
    template <typename S>
    void list(const char * key, std::vector<S> & v, const char *) {
        json a = json::array();
        for (auto & s : v) {
            Writer w;
            visit(w, s);
            a.push_back(std::move(w.out));
        }
        out[key] = std::move(a);
    }
};

// ---------------------------------------------------------------------------------------- Documenter
class Documenter {
  public:
    explicit Documenter(std::string path, std::vector<FieldDoc> * rows) : path_(std::move(path)), rows_(rows) {}
    template <typename F>
    void field(const char * key, F & ref, const char * doc, const Check & c = {}) {
        std::string d = doc;
        if (!c.choices.empty()) {
            d += " One of:";
            for (auto & s : c.choices) d += " `" + s + "`";
            d += ".";
        }
        rows_->push_back({sub(key), type_of(ref), json(ref).dump(), d});
    }
    template <typename S>
    void object(const char * key, S & s, const char * doc) {
        rows_->push_back({sub(key), "object", "", doc});
        Documenter d(sub(key), rows_);
        visit(d, s);
    }
    template <typename S>
    void list(const char * key, std::vector<S> &, const char * doc) {
        rows_->push_back({sub(key), "array of objects", "[]", doc});
        S s{};
        Documenter d(sub(key) + "[]", rows_);
        visit(d, s);
    }

  private:
    std::string sub(const std::string & k) const { return path_.empty() ? k : path_ + "." + k; }
    static std::string type_of(const std::string &) { return "string"; }
    static std::string type_of(const bool &) { return "bool"; }
    static std::string type_of(const int &) { return "integer"; }
    static std::string type_of(const int64_t &) { return "integer"; }
    static std::string type_of(const uint64_t &) { return "integer"; }
    static std::string type_of(const double &) { return "number"; }
    static std::string type_of(const std::vector<int> &) { return "array of integers"; }
    static std::string type_of(const std::vector<std::string> &) { return "array of strings"; }
    std::string path_;
    std::vector<FieldDoc> * rows_;
};

} // namespace

// ---------------------------------------------------------------------------------------- fields
template <typename V>
void visit(V & v, ExpSpec & s) {
    v.field("name", s.name, "Run name, stored in the run file and shown in summaries.");
    v.field("seed", s.seed, "Seed of every random draw (initialisation by parameter name, data order, transforms).");
    v.field("threads", s.threads, "threads of the run, one pool for the matrix products and the kernels (0 = all cores); `--threads` overrides.", range(0, 1024));
}

template <typename V>
void visit(V & v, data::TransformConfig & s) {
    v.field("kind", s.kind, "Transform applied to every image of the task.",
            one_of({"rotate90", "rotate", "hflip", "vflip", "invert", "permute", "noise", "blur"}));
    v.field("k", s.k, "rotate90: number of counter-clockwise quarter turns.");
    v.field("angle", s.angle, "rotate: angle in degrees (bilinear, zero fill).");
    v.field("seed", s.seed, "permute / noise: seed of the fixed permutation / of the noise.");
    v.field("std", s.std, "noise: standard deviation of the additive Gaussian noise.", at_least(0));
    v.field("sigma", s.sigma, "blur: Gaussian blur sigma in pixels.", [] { Check c = positive(); c.max = 100; return c; }());
}

template <typename V>
void visit(V & v, data::TaskConfig & s) {
    v.field("name", s.name, "Task name (default task<i>).");
    v.field("classes", s.classes, "Class subset of the source (empty = all classes).", at_least(0));
    v.field("relabel", s.relabel, "Map the class subset to labels 0..n-1 (else keep the source labels).");
    v.list("transforms", s.transforms, "Transforms applied in order to this task's train and test images.");
    v.field("weight", s.weight, "Relative share of training samples (the largest weight uses all).", positive());
}

template <typename V>
void visit(V & v, data::SyntheticConfig & s) {
    v.field("n_tasks", s.n_tasks, "Number of tasks, one random teacher network each.", range(1, 1024));
    v.field("dim", s.dim, "Feature dimension.", range(1, 1 << 20));
    v.field("n_classes", s.n_classes, "Classes of every teacher.", range(2, 1 << 16));
    v.field("hidden", s.hidden, "Hidden width of the teachers (tanh).", range(1, 1 << 16));
    v.field("n_train", s.n_train, "Training samples per task.", range(1, 1 << 28));
    v.field("n_test", s.n_test, "Test samples per task.", at_least(0));
    v.field("separation", s.separation, "Distance of each task's input mean from the origin.", at_least(0));
}

template <typename V>
void visit(V & v, data::AugmentConfig & s) {
    v.field("hflip", s.hflip, "Flip training images horizontally with probability 1/2.");
    v.field("shift", s.shift, "Translate training images by up to this many pixels (edge pixels repeated).", range(0, 64));
}

template <typename V>
void visit(V & v, data::DataConfig & s) {
    v.field("source", s.source, "Where samples come from.", one_of({"fashion-mnist", "csv", "hdf5", "synthetic"}));
    v.field("dir", s.dir,
            "fashion-mnist: directory of the IDX files (.gz or plain); empty = $MOE_FASHION_MNIST_DIR, "
            "else /usr/share/datasets/fashion-mnist.");
    v.field("train_path", s.train_path, "csv / hdf5: training file.");
    v.field("test_path", s.test_path, "csv / hdf5: test file (empty = no test split).");
    v.field("label_column", s.label_column, "csv: label column (-1 = last).");
    v.field("task_column", s.task_column, "csv: task-id column (-2 = none, -1 = last; the label is then the one before).");
    v.field("header", s.header, "csv: the first row is a header.");
    v.field("features_dataset", s.features_dataset, "hdf5: features dataset (n,d) or images (n,h,w) / (n,c,h,w).");
    v.field("labels_dataset", s.labels_dataset, "hdf5: integer labels dataset (n).");
    v.field("task_dataset", s.task_dataset, "hdf5: task-id dataset (n); empty = none.");
    v.object("synthetic", s.synthetic, "synthetic: teacher-labelled tasks with known ground-truth routing.");
    v.field("normalize", s.normalize, "Feature normalisation with training statistics.", one_of({"standard", "none"}));
    v.field("val_fraction", s.val_fraction, "Share of the training set held out for validation.", range(0, 0.9));
    v.field("train_limit", s.train_limit, "Use at most this many source training samples (0 = all).", at_least(0));
    v.field("test_limit", s.test_limit, "Use at most this many source test samples (0 = all).", at_least(0));
    v.list("tasks", s.tasks, "Tasks built from the source (empty = one task with every class).");
    v.object("augment", s.augment, "Training-time augmentation of image batches (validation and test are never augmented).");
}

template <typename V>
void visit(V & v, models::MlpConfig & s) {
    v.field("hidden", s.hidden, "Hidden layer widths; the sites are layers.0 .. layers.{n-1} and head.", range(1, 1 << 20));
    v.field("activation", s.activation, "Hidden activation.", one_of({"gelu", "relu"}));
}

template <typename V>
void visit(V & v, models::VitConfig & s) {
    v.field("patch", s.patch, "Patch size in pixels (must divide the image size).", range(1, 1024));
    v.field("width", s.width, "Token width D.", range(1, 1 << 16));
    v.field("depth", s.depth, "Number of pre-LN transformer blocks.", range(0, 256));
    v.field("heads", s.heads, "Attention heads (must divide width).", range(1, 1024));
    v.field("mlp_dim", s.mlp_dim, "Hidden width of each block's MLP.", range(1, 1 << 20));
}

template <typename V>
void visit(V & v, models::ModelConfig & s) {
    v.field("kind", s.kind, "Base model.", one_of({"mlp", "vit"}));
    v.object("mlp", s.mlp, "mlp settings (used when kind = mlp).");
    v.object("vit", s.vit, "vit settings (used when kind = vit).");
}

template <typename V>
void visit(V & v, routing::AdapterConfig & s) {
    v.field("sites", s.sites, "Glob patterns of the Linear sites that get an adapter mixture, e.g. \"blocks.*.mlp.fc1\" "
                              "(empty = no adapters; the base itself trains).");
    v.field("kind", s.kind, "Expert type: LoRA (PEFT) or bottleneck (down, ReLU, up).", one_of({"lora", "bottleneck"}));
    v.field("experts", s.experts, "Experts per site E (1 = a single adapter).", range(1, 4096));
    v.field("rank", s.rank, "LoRA rank r / bottleneck width.", range(1, 1 << 16));
    v.field("alpha", s.alpha, "LoRA alpha: scale alpha/r (or alpha/sqrt(r) with rslora).", positive());
    v.field("rslora", s.rslora, "rsLoRA scaling alpha/sqrt(r).");
    v.field("dropout", s.dropout, "Dropout on the LoRA input (training only).", range(0, 0.95));
    v.field("init", s.init, "A initialisation: PEFT kaiming-uniform U(±1/sqrt(d_in)) or gaussian N(0, 1/r); B = 0.",
            one_of({"kaiming", "gaussian"}));
}

template <typename V>
void visit(V & v, routing::RouterConfig & s) {
    v.field("router", s.kind, "Router (routing.md): soft = LoRAMoE dense softmax; topk = Mixtral/MoLA/MixLoRA; switch = top-1 "
                              "with capacity; topp = MixLoRA-dynamic; dynmole = Tsallis hybrid; expert_choice; null_experts = "
                              "AdaMoE; sigmoid_bias = DeepSeek-V3 aux-loss-free; random_fixed = SMoE-Dropout; task = Poly/MHR "
                              "per-task skill weights mixed before the matmul; none = every token to expert 0.",
            one_of({"none", "soft", "topk", "switch", "topp", "dynmole", "expert_choice", "null_experts", "sigmoid_bias",
                    "random_fixed", "task"}));
    v.field("k", s.k, "Experts per token (topk, null_experts incl. null slots, sigmoid_bias, random_fixed final k).", range(1, 4096));
    v.field("renormalize", s.renormalize, "topk: renormalise the selected probabilities (Mixtral) or not (raw softmax weights).");
    v.field("jitter", s.jitter, "Multiplicative router-input jitter U(1-eps, 1+eps) in training (Switch default 0.01).", range(0, 1));
    v.field("capacity_factor", s.capacity_factor, "switch: expert capacity ceil(cf*N/E); expert_choice: each expert takes cf*N/E tokens.", positive());
    v.field("top_p", s.top_p, "topp: keep the smallest prefix whose cumulative probability reaches top_p (MixLoRA 0.8).", range(0, 1));
    v.field("dynmole_top_p", s.dynmole_top_p, "dynmole: keep experts with cumulative probability <= top_p (DynMoLE 0.75).", range(0, 1));
    v.field("keep_top_k", s.keep_top_k, "dynmole: minimum experts per token.", range(1, 4096));
    v.field("entropy_threshold", s.entropy_threshold, "dynmole: above this normalised Tsallis entropy every expert is used.", range(0, 1));
    v.field("entropy_q", s.entropy_q, "dynmole: Tsallis index q (0 < q <= 2).", range(1e-6, 2));
    v.field("entropy_eps", s.entropy_eps, "dynmole: epsilon added to the probabilities.", at_least(0));
    v.field("null_experts", s.null_experts, "null_experts: number M of zero-compute experts in the softmax.", range(0, 4096));
    v.field("bias_update_rate", s.bias_update_rate, "sigmoid_bias: u in b_e += u*sign(mean load - load_e) after each step.", at_least(0));
    v.field("route_scale", s.route_scale, "sigmoid_bias: gates multiplied after renormalisation (DeepSeek-V3 uses 2.5).", positive());
    v.field("init_std", s.init_std, "Router weight initialisation N(0, init_std^2) (MixLoRA 0.02).", positive());
    v.field("k_start", s.k_start, "random_fixed: active experts at step 0.", range(1, 4096));
    v.field("k_grow_steps", s.k_grow_steps, "random_fixed: steps over which the active experts grow linearly to k.", at_least(0));
    v.field("n_splits", s.n_splits, "task: heads q (Poly = 1, MHR > 1; must divide the site widths).", range(1, 4096));
    v.field("n_tasks", s.n_tasks, "task: number of task ids (0 = the number of tasks in the data).", at_least(0));
    v.field("temperature", s.temperature, "task: relaxed-Bernoulli temperature in training (evaluation uses the sigmoid).", positive());
}

template <typename V>
void visit(V & v, routing::BalanceConfig & s) {
    v.field("lbl", s.lbl, "Load-balancing convention (no silent rescaling): mixtral = E*sum f*P with f over k slots (balanced "
                          "= k); megatron = f/k (balanced = 1); switch = top-1 f (balanced = 1).",
            one_of({"none", "mixtral", "megatron", "switch"}));
    v.field("lbl_coef", s.lbl_coef, "Coefficient of the load-balancing loss.", at_least(0));
    v.field("lbl_scope", s.lbl_scope, "micro = f per micro-batch; global = f accumulated over the step's micro-batches "
                                      "(Demons in the Detail; Megatron's running form).", one_of({"micro", "global"}));
    v.field("lbl_pool", s.lbl_pool, "layers = f and P pooled over every adapted site (HF Mixtral / Switch concatenate all "
                                    "layers' router logits); site = one loss per site, summed (Megatron); auto = layers for "
                                    "mixtral and switch, site for megatron.", one_of({"auto", "layers", "site"}));
    v.field("z_coef", s.z_coef, "Router z-loss coefficient (ST-MoE 0.001).", at_least(0));
    v.field("dynmole_beta", s.dynmole_beta, "dynmole: Tsallis entropy loss coefficient.", at_least(0));
    v.field("dynmole_alpha", s.dynmole_alpha, "dynmole: its load-balancing coefficient.", at_least(0));
    v.field("null_coef", s.null_coef, "null_experts: AdaMoE pooled-null load-balancing coefficient.", at_least(0));
}

template <typename V>
void visit(V & v, ParamGroupSpec & s) {
    v.field("pattern", s.pattern, "Glob over parameter names ('*' matches dots too), e.g. \"head.*\".");
    v.field("lr", s.lr, "Absolute peak learning rate of the group (0 = train.lr * lr_scale).", at_least(0));
    v.field("lr_scale", s.lr_scale, "Multiplier of train.lr for the group.", at_least(0));
    v.field("weight_decay", s.weight_decay, "Weight decay of the group (-1 = train.weight_decay).", at_least(-1));
}

template <typename V>
void visit(V & v, TrainSpec & s) {
    v.field("epochs", s.epochs, "Passes over the training set.", at_least(0));
    v.field("grad_accum", s.grad_accum, "Micro-batches per optimizer step (batch_size is split among them).", range(1, 1 << 16));
    v.field("max_steps", s.max_steps, "Stop after this many optimizer steps (0 = the epochs decide).", at_least(0));
    v.field("batch_size", s.batch_size, "Samples per optimizer step.", range(1, 1 << 20));
    v.field("optimizer", s.optimizer, "Optimizer.", one_of({"adamw", "sgd"}));
    v.field("lr", s.lr, "Peak learning rate.", positive());
    v.field("momentum", s.momentum, "sgd: momentum (0 = none).", range(0, 1));
    v.field("nesterov", s.nesterov, "sgd: Nesterov momentum.");
    v.field("beta1", s.beta1, "adamw: beta1.", range(0, 1));
    v.field("beta2", s.beta2, "adamw: beta2.", range(0, 1));
    v.field("eps", s.eps, "adamw: epsilon.", positive());
    v.field("weight_decay", s.weight_decay, "Decoupled weight decay (adamw) / L2 added to the gradient (sgd).", at_least(0));
    v.field("schedule", s.schedule, "Learning-rate schedule after warmup.", one_of({"constant", "cosine", "step"}));
    v.field("warmup_steps", s.warmup_steps, "Linear warmup from 0 over this many steps.", at_least(0));
    v.field("min_lr", s.min_lr, "cosine: final learning rate (as a fraction of the peak: min_lr/lr).", at_least(0));
    v.field("step_size", s.step_size, "step: multiply the rate by gamma every step_size steps.", at_least(1));
    v.field("gamma", s.gamma, "step: decay factor.", range(0, 1));
    v.field("clip_grad_norm", s.clip_grad_norm, "Clip the global gradient norm to this value (0 = off).", at_least(0));
    v.list("groups", s.groups, "Parameter groups with their own learning rate / weight decay; first match wins.");
    v.field("freeze", s.freeze, "Parameters matching any of these globs are frozen (no gradient buffer).");
    v.field("unfreeze", s.unfreeze, "With adapters the base is frozen; base parameters matching these globs still train.");
    v.field("router_lr", s.router_lr, "Peak learning rate of router parameters (0 = train.lr).", at_least(0));
    v.field("adapter_lr", s.adapter_lr, "Peak learning rate of expert parameters (0 = train.lr).", at_least(0));
}

template <typename V>
void visit(V & v, EvalSpec & s) {
    v.field("val", s.val, "Evaluate on the validation split.");
    v.field("test", s.test, "Evaluate on the test split.");
    v.field("every_epochs", s.every_epochs, "Evaluate every this many epochs (and after the last).", at_least(1));
    v.field("batch_size", s.batch_size, "Evaluation batch size.", range(1, 1 << 20));
}

template <typename V>
void visit(V & v, LogSpec & s) {
    v.field("every", s.every, "Optimizer steps between records of the training metrics.", at_least(1));
    v.field("progress", s.progress, "Console output: auto = a bar on a terminal, plain lines otherwise.",
            one_of({"auto", "bar", "lines", "none"}));
    v.field("checkpoint_every", s.checkpoint_every,
            "moe-train: optimizer steps between checkpoints to <out>.ckpt (0 = only after each epoch and on SIGINT/SIGTERM).",
            at_least(0));
}

template <typename V>
void visit(V & v, expand::ClassSplit & s) {
    v.field("init", s.init, "Classes of the first task (0 = no class split: data.tasks is the stream).", at_least(0));
    v.field("increment", s.increment, "Classes of every later task (a remainder forms a last task).", at_least(1));
    v.field("shuffle", s.shuffle, "Seeded class order (else natural order).");
    v.field("order_seed", s.order_seed, "Seed of the class order (SEMA / PILOT use 1993).");
}

template <typename V>
void visit(V & v, expand::StreamConfig & s) {
    v.object("class_split", s.class_split,
             "Class-incremental split; data.tasks, when given, adds each block's name and transforms.");
    v.field("labels", s.labels,
            "Label space: shared (every task uses all logits), growing (logits of the classes seen so far; "
            "training masks all but the current task's), auto = growing with a class split.",
            one_of({"auto", "shared", "growing"}));
}

template <typename V>
void visit(V & v, expand::ExpandConfig & s) {
    v.field("strategy", s.strategy, "Continual-learning strategy.",
            one_of({"sema", "adapter_per_task", "single_adapter", "head_only", "mole_joint"}));
    v.field("sites", s.sites, "Adapted Linear sites (glob patterns); empty = every site but the head.");
    v.field("expandable", s.expandable, "Adapted sites that may expand (empty = all); the others keep one adapter trained in the first task.");
    v.field("adapter", s.adapter, "Functional adapter: bottleneck (SEMA) or lora.", one_of({"bottleneck", "lora"}));
    v.field("rank", s.rank, "Bottleneck width / LoRA rank (SEMA ffn_num).", range(1, 1 << 16));
    v.field("lora_alpha", s.lora_alpha, "LoRA scale alpha / rank.", positive());
    v.field("rd_dim", s.rd_dim, "Width of the representation descriptor (linear autoencoder).", range(1, 1 << 16));
    v.field("buffer_size", s.buffer_size, "FIFO of descriptor losses behind the z-score statistics.", range(3, 1 << 24));
    v.field("threshold", s.threshold, "Expand when every descriptor of a site finds the batch novel: min_k mean_b z > threshold.", positive());
    v.field("detect_batch_size", s.detect_batch_size, "Batch size of the detection passes.", range(1, 1 << 20));
    v.field("detect_drop_last", s.detect_drop_last, "Skip the last partial detection batch (the reference keeps it).");
    v.field("max_adapters", s.max_adapters, "Adapters per site at most (0 = one per task).", at_least(0));
    v.field("head", s.head, "Classifier: reinit (a fresh one, SEMA) or base (start from the base model's head).",
            one_of({"reinit", "base"}));
    v.field("batch_size", s.batch_size, "Training batch size of both phases.", range(1, 1 << 20));
    v.field("optimizer", s.optimizer, "Optimizer of both phases (a fresh one per phase).", one_of({"sgd", "adamw"}));
    v.field("momentum", s.momentum, "sgd momentum.", range(0, 1));
    v.field("weight_decay", s.weight_decay, "Weight decay of both phases.", at_least(0));
    v.field("func_epochs", s.func_epochs, "Epochs of the functional phase (adapters, new router column, classifier).", at_least(1));
    v.field("func_lr", s.func_lr, "Peak learning rate of the functional phase (cosine per epoch).", positive());
    v.field("rd_epochs", s.rd_epochs, "Epochs of the descriptor phase.", at_least(1));
    v.field("rd_lr", s.rd_lr, "Peak learning rate of the descriptor phase (cosine per epoch).", positive());
    v.field("min_lr", s.min_lr, "Cosine floor of both phases.", at_least(0));
    v.field("eval_batch_size", s.eval_batch_size, "Evaluation batch size.", range(1, 1 << 20));
}

template <typename V>
void visit(V & v, Spec & s) {
    v.field("version", s.version, "Spec format version (1).", range(1, 1));
    v.field("base", s.base, "Run file of a pre-trained base model whose parameters are loaded by name.");
    v.object("exp", s.exp, "Experiment identity.");
    v.object("data", s.data, "Data source, tasks, split and normalisation.");
    v.object("model", s.model, "Base model architecture.");
    v.object("adapters", s.adapters, "Adapter experts attached to base sites (the base is then frozen).");
    v.object("routing", s.routing, "Router of every adapted site.");
    v.object("loss", s.loss, "Balancing and router losses.");
    v.object("train", s.train, "Optimisation.");
    v.object("eval", s.eval, "Evaluation.");
    v.object("log", s.log, "Logging and checkpoints.");
    v.object("stream", s.stream, "moe-expand: the stream of tasks (data.tasks in order, or a class split).");
    v.object("expand", s.expand, "moe-expand: strategy, adapters, descriptors and training phases.");
}

// ---------------------------------------------------------------------------------------- validation
static void validate(const Spec & s, std::vector<SpecProblem> & errs) {
    if (s.data.source == "fashion-mnist") {
        std::string dir = data::fashion_mnist_dir(s.data.dir);
        std::error_code ec;
        const char * env = std::getenv("MOE_FASHION_MNIST_DIR");
        const std::string from = !s.data.dir.empty()          ? ""
                                 : env != nullptr && *env != 0 ? " (from $MOE_FASHION_MNIST_DIR; data.dir is not set)"
                                                               : " (the default; data.dir is not set)";
        if (!fs::is_directory(dir, ec))
            errs.push_back({"data.dir", "data directory '" + dir + "'" + from +
                                            " does not exist (install the Debian package dataset-fashion-mnist, or set "
                                            "data.dir or MOE_FASHION_MNIST_DIR)"});
    }
    if (s.data.source == "csv" || s.data.source == "hdf5") {
        std::error_code ec;
        if (s.data.train_path.empty())
            errs.push_back({"data.train_path", "required for source '" + s.data.source + "'"});
        else if (!fs::exists(s.data.train_path, ec))
            errs.push_back({"data.train_path", "file '" + s.data.train_path + "' does not exist"});
        if (!s.data.test_path.empty() && !fs::exists(s.data.test_path, ec))
            errs.push_back({"data.test_path", "file '" + s.data.test_path + "' does not exist"});
    }
    if (s.model.kind == "vit" && s.model.vit.heads > 0 && s.model.vit.width % s.model.vit.heads != 0)
        errs.push_back({"model.vit.heads", "width " + std::to_string(s.model.vit.width) +
                                               " is not divisible by heads " + std::to_string(s.model.vit.heads)});
    if (!s.base.empty()) {
        std::error_code ec;
        if (!fs::exists(s.base, ec)) errs.push_back({"base", "run file '" + s.base + "' does not exist"});
    }
    for (size_t i = 0; i < s.train.groups.size(); ++i)
        if (s.train.groups[i].pattern.empty())
            errs.push_back({"train.groups[" + std::to_string(i) + "].pattern", "must not be empty"});
    if (s.train.schedule == "cosine" && s.train.lr > 0 && s.train.min_lr > s.train.lr)
        errs.push_back({"train.min_lr", "must not exceed train.lr"});
    if (!s.adapters.sites.empty()) {
        const auto & r = s.routing;
        const int P = s.adapters.experts + (r.kind == "null_experts" ? r.null_experts : 0);
        const bool uses_k = r.kind == "topk" || r.kind == "null_experts" || r.kind == "sigmoid_bias" || r.kind == "random_fixed";
        if (uses_k && r.k > P)
            errs.push_back({"routing.k", "k = " + std::to_string(r.k) + " exceeds the " + std::to_string(P) + " experts of adapters.experts"});
        if (r.kind == "random_fixed" && r.k_start > r.k) errs.push_back({"routing.k_start", "must not exceed routing.k"});
        if (r.kind == "null_experts" && r.null_experts == 0)
            errs.push_back({"routing.null_experts", "router null_experts needs at least one null expert"});
        if (s.adapters.experts > 1 && r.kind == "none")
            errs.push_back({"routing.router", "'none' sends every token to expert 0; use it only with adapters.experts = 1"});
    }
    if (s.train.batch_size % s.train.grad_accum != 0)
        errs.push_back({"train.grad_accum", "train.batch_size (" + std::to_string(s.train.batch_size) +
                                                ") must be divisible by grad_accum (" + std::to_string(s.train.grad_accum) + ")"});
    if (s.train.epochs == 0 && s.train.max_steps == 0)
        errs.push_back({"train.epochs", "train.epochs and train.max_steps are both 0: nothing would be trained"});
}

Spec parse_spec(const json & j, const std::string & source) {
    std::vector<SpecProblem> errs;
    Spec s;
    if (!j.is_object()) {
        errs.push_back({"", "the spec must be a JSON object, got " + type_name(j)});
        throw SpecError(source, errs);
    }
    Reader r(&j, "", &errs);
    visit(r, s);
    r.finish();
    validate(s, errs);
    if (!errs.empty()) throw SpecError(source, errs);
    return s;
}

json to_json(const Spec & s) {
    Writer w;
    Spec copy = s;
    visit(w, copy);
    return w.out;
}

std::vector<FieldDoc> spec_reference() {
    std::vector<FieldDoc> rows;
    Documenter d("", &rows);
    Spec s;
    visit(d, s);
    return rows;
}

std::vector<std::pair<std::string, std::string>> input_files(const Spec & s) {
    std::vector<std::pair<std::string, std::string>> in = {
        {"the base run", s.base}, {"data.train_path", s.data.train_path}, {"data.test_path", s.data.test_path}};
    if (s.data.source == "fashion-mnist") {
        const std::string dir = data::fashion_mnist_dir(s.data.dir);
        for (const char * f : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                               "t10k-labels-idx1-ubyte"})
            for (const char * ext : {"", ".gz"})
                in.push_back({"a Fashion-MNIST file", (fs::path(dir) / (std::string(f) + ext)).string()});
    }
    return in;
}

std::string default_run_path(const Spec & s) {
    const std::string & n = s.exp.name;
    if (n.empty() || n == "." || n == ".." || n.find('/') != std::string::npos || n.find('\0') != std::string::npos)
        throw SpecError("exp.name", {{"exp.name", "the default output is runs/<exp.name>.h5, so it must be one file name "
                                                  "(not empty, no '/'), got " + json(n).dump() + "; or give -o"}});
    return "runs/" + n + ".h5";
}

void apply_override(json & j, const std::string & assignment) {
    auto eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0)
        throw SpecError("--set", {{assignment, "expected key=value, e.g. train.lr=0.001"}});
    std::string key = assignment.substr(0, eq), value = assignment.substr(eq + 1);
    try { // a JSON string must be UTF-8 (dumping the resolved spec would fail much later)
        (void)json(assignment).dump();
    } catch (const json::type_error &) {
        throw SpecError("--set", {{json(key).dump(-1, ' ', false, json::error_handler_t::replace),
                                   "the assignment is not valid UTF-8"}});
    }
    { // a[1].b and a[1][2] as a.1.b and a.1.2
        std::string k;
        for (char c : key)
            if (c == '[') k += '.';
            else if (c != ']') k += c;
        key = k;
    }
    std::vector<std::string> parts;
    std::stringstream ss(key);
    for (std::string p; std::getline(ss, p, '.');) parts.push_back(p);
    if (key.back() == '.') parts.push_back("");
    for (const auto & p : parts)
        if (p.empty())
            throw SpecError("--set", {{key, "an empty part in the key (expected names joined by '.', e.g. train.lr)"}});
    if (!j.is_object()) throw SpecError("--set", {{"", "the spec is not a JSON object, got " + type_name(j)}});
    json * cur = &j;
    std::string path;
    for (size_t i = 0; i < parts.size(); ++i) {
        const std::string & p = parts[i];
        const bool last = i + 1 == parts.size();
        path += (path.empty() ? "" : ".") + p;
        if (cur->is_array()) {
            bool digits = !p.empty() && p.size() < 19 &&
                          std::all_of(p.begin(), p.end(), [](unsigned char c) { return std::isdigit(c); });
            if (!digits || std::stoul(p) >= cur->size())
                throw SpecError("--set", {{path, "index '" + p + "' is not an element of the array (size " +
                                                     std::to_string(cur->size()) + ")"}});
            cur = &(*cur)[std::stoul(p)];
        } else {
            if (cur->is_null()) { // a key the spec does not have: an object is made, never an array
                if (std::all_of(p.begin(), p.end(), [](unsigned char c) { return std::isdigit(c); }))
                    throw SpecError("--set", {{path, "index " + p + " into " + path.substr(0, path.size() - p.size() - 1) +
                                                         ", which the spec does not have; set the whole array instead, "
                                                         "e.g. --set 'data.tasks=[{...}]'"}});
                *cur = json::object();
            }
            if (!cur->is_object()) throw SpecError("--set", {{path, "cannot descend into a non-object value"}});
            cur = &(*cur)[p];
        }
        if (last) {
            json v;
            try {
                v = json::parse(value);
            } catch (const json::parse_error &) {
                v = value; // not JSON: a plain string
            } catch (const json::out_of_range &) { // a number beyond double, e.g. 1e999
                throw SpecError("--set", {{path, "value " + value + " is out of range of a number"}});
            }
            *cur = std::move(v);
        }
    }
}

Spec load_spec(const std::string & path, const std::vector<std::string> & overrides) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) throw SpecError(path, {{"", "cannot read spec file '" + path + "': it is a directory"}});
    { // a regular file or a pipe (<(...), /dev/stdin); a device or socket would read forever
        const auto st = fs::status(path, ec).type();
        if (st == fs::file_type::character || st == fs::file_type::block || st == fs::file_type::socket)
            throw SpecError(path, {{"", "cannot read spec file '" + path + "': a device or socket, not a file or pipe"}});
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) throw SpecError(path, {{"", "cannot read spec file '" + path + "'"}});
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw SpecError(path, {{"", "cannot read spec file '" + path + "'"}});
    json j;
    // duplicate keys: JSON parsers keep one of them silently; here each is an error with its path
    struct Frame {
        bool obj;
        std::string path, key;
        size_t index = 0;
        std::set<std::string> keys;
    };
    std::vector<Frame> stack;
    std::vector<SpecProblem> dups;
    auto child_path = [&]() -> std::string {
        if (stack.empty()) return "";
        const Frame & f = stack.back();
        if (f.obj) return f.path.empty() ? f.key : f.path + "." + f.key;
        return f.path + "[" + std::to_string(f.index) + "]";
    };
    auto done_value = [&]() {
        if (!stack.empty() && !stack.back().obj) ++stack.back().index;
    };
    const json::parser_callback_t cb = [&](int, json::parse_event_t ev, json & parsed) {
        switch (ev) {
        case json::parse_event_t::object_start: stack.push_back({true, child_path(), "", 0, {}}); break;
        case json::parse_event_t::array_start: stack.push_back({false, child_path(), "", 0, {}}); break;
        case json::parse_event_t::key: {
            Frame & f = stack.back();
            f.key = parsed.get<std::string>();
            if (!f.keys.insert(f.key).second)
                dups.push_back({child_path(), "duplicate key (it appears more than once in its object)"});
            break;
        }
        case json::parse_event_t::object_end:
        case json::parse_event_t::array_end:
            stack.pop_back();
            done_value();
            break;
        case json::parse_event_t::value: done_value(); break;
        }
        return true;
    };
    try {
        j = json::parse(text, cb);
    } catch (const json::parse_error & e) {
        // line/column from the byte offset
        size_t off = std::min<size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
        size_t line = 1, col = 1;
        for (size_t i = 0; i < off; ++i) {
            if (text[i] == '\n') { ++line; col = 1; } else ++col;
        }
        // nlohmann's message repeats a position of its own ("parse error at line 3, column 0: ..."):
        // keep only what went wrong
        std::string what = e.what();
        auto pos = what.find("parse error");
        if (pos != std::string::npos) what = what.substr(pos);
        if (what.rfind("parse error at line", 0) == 0) {
            auto colon = what.find(": ");
            if (colon != std::string::npos) what = "parse error: " + what.substr(colon + 2);
        }
        throw SpecError(path, {{"", "invalid JSON at line " + std::to_string(line) + ", column " + std::to_string(col) +
                                        ": " + what}});
    } catch (const json::out_of_range & e) { // a number beyond double, e.g. 1e400
        std::string what = e.what();
        const auto pos = what.find("number overflow");
        throw SpecError(path, {{"", "invalid JSON: " + (pos == std::string::npos ? what : what.substr(pos)) +
                                        " (beyond the range of a double)"}});
    }
    if (!dups.empty()) throw SpecError(path, dups);
    if (!j.is_object()) throw SpecError(path, {{"", "the spec must be a JSON object, got " + type_name(j)}});
    for (const auto & o : overrides) apply_override(j, o);
    return parse_spec(j, path);
}

} // namespace moe::spec
