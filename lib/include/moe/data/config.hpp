// moe/data/config.hpp — the "data" and "stream" sections of a spec: the source, the tasks built from
// it, the split and normalisation; and the order of tasks a continual-learning stream presents.
// Each struct's fields are described once, in its visit() (core/check.hpp).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "moe/core/check.hpp"

namespace moe::data {

// One transform of a task. kind:
//   "rotate90" (k quarter turns counter-clockwise), "rotate" (angle degrees, bilinear, zero fill),
//   "hflip", "vflip", "invert" (x -> 1 - x on [0,1] images), "permute" (fixed pixel permutation
//   drawn from seed), "noise" (additive Gaussian, std, fixed per sample from seed, clipped to
//   [0,1] for images), "blur" (Gaussian blur, sigma in pixels)
struct TransformConfig {
    std::string kind = "rotate90";
    int k = 1;
    double angle = 0.0;
    uint64_t seed = 0;
    double std = 0.1;
    double sigma = 1.0;
};

struct TaskConfig {
    std::string name;                        // defaults to "task<i>"
    std::vector<int> classes;                // class subset of the source; empty = all classes
    bool relabel = false;                    // map the subset to 0..len-1 (else keep source labels)
    std::vector<TransformConfig> transforms; // applied in order, to train and test alike
    double weight = 1.0;                     // relative share of training samples (max weight = all)
};

struct SyntheticConfig {
    int n_tasks = 4;         // one teacher per task
    int dim = 32;            // feature dimension
    int n_classes = 4;       // teacher output classes
    int hidden = 32;         // teacher hidden width (tanh)
    int n_train = 2000;      // training samples per task
    int n_test = 500;        // test samples per task
    double separation = 3.0; // distance between task input means (so tasks are recognisable)
};

// Training-time augmentation of image batches (never applied to validation or test data).
struct AugmentConfig {
    bool hflip = false; // flip each image horizontally with probability 1/2
    int shift = 0;      // translate by up to ±shift pixels in x and y (edge pixels repeated)
};

// One domain of a text corpus (a task of a language-model run).
struct TextDomainConfig {
    std::string name;               // the split rule hashes it: renaming a domain re-splits it
    std::vector<std::string> paths; // files, directories (every regular file below) or globs
    double weight = 1.0;            // relative share of training sequences
    int64_t train_bytes = 0;        // cap of the train split in bytes, in key order (0 = all)
    int64_t test_bytes = 0;         // cap of the val and test splits each (0 = all)
};

struct TextConfig {
    std::vector<TextDomainConfig> domains;
    std::string tokenizer = "byte";      // byte | gpt2 | sentencepiece (moe/data/tokenizer.hpp)
    std::string tokenizer_path;          // gpt2: folder or tokenizer.json; sentencepiece: tokenizer.model
    int block_size = 256;                // tokens per training sequence (= model.gpt.context)
    int test_percent = 10;               // the split rule's test bucket
    int val_percent = 0;                 // the next bucket, held out for validation
    std::string cache_dir;               // "" = $MOE_CACHE_DIR, else $XDG_CACHE_HOME/moe-lab, else ~/.cache/moe-lab
    int eval_stride = 0;                 // evaluation windows start every eval_stride tokens (0 = block_size)
    int64_t eval_tokens = 0;             // at most this many scored targets per domain per evaluation (0 = all)
    std::string batch_domains = "mixed"; // mixed: domain drawn per sequence; one: per micro-batch
};

struct DataConfig {
    std::string source = "fashion-mnist";      // "fashion-mnist" | "csv" | "hdf5" | "synthetic" | "text"
    std::string dir;                           // fashion-mnist directory; "" = $MOE_FASHION_MNIST_DIR
                                               // or /usr/share/datasets/fashion-mnist
    std::string train_path;                    // csv / hdf5: training file
    std::string test_path;                     // csv / hdf5: test file ("" = none)
    int label_column = -1;                     // csv: label column (-1 = last)
    int task_column = -2;                      // csv: task column (-2 = none, -1 = last)
    bool header = false;                       // csv: first row is a header
    std::string features_dataset = "features"; // hdf5 dataset names
    std::string labels_dataset = "labels";
    std::string task_dataset = ""; // "" = none
    SyntheticConfig synthetic;
    std::string normalize = "standard"; // "none" | "standard" (global mean/std from train)
    double val_fraction = 0.1;          // held out of train for validation (0 = no validation)
    int64_t train_limit = 0;            // use at most this many source training samples (0 = all)
    int64_t test_limit = 0;
    std::vector<TaskConfig> tasks; // empty = one task with every class, no transform
    AugmentConfig augment;
    TextConfig text;
};

// Class-incremental split of the source classes into consecutive blocks (moe-expand).
struct ClassSplit {
    int init = 0;        // classes of the first task (0 = no class split)
    int increment = 2;   // classes of every later task (a remainder forms a last task)
    bool shuffle = true; // seeded class order: numpy's legacy np.random.seed(order_seed);
                         // np.random.permutation(n), as SEMA / PILOT order their classes
    uint64_t order_seed = 1993;
    std::vector<int> order; // an explicit class order (every class once); overrides shuffle
};

// The stream is data.tasks, in order. A class split builds those tasks from the class blocks
// (then data.tasks, when given, supplies each block's name and transforms: both kinds at once).
struct StreamConfig {
    ClassSplit class_split;
    std::string labels = "auto"; // shared | growing | auto (growing with a class split, else shared)
};

// ---- field descriptions ----------------------------------------------------------------------

template <typename V>
void visit(V & v, TransformConfig & s) {
    v.field("kind", s.kind, "Transform applied to every image of the task.",
            one_of({"rotate90", "rotate", "hflip", "vflip", "invert", "permute", "noise", "blur"}));
    v.field("k", s.k, "rotate90: number of counter-clockwise quarter turns.");
    v.field("angle", s.angle, "rotate: angle in degrees (bilinear, zero fill).");
    v.field("seed", s.seed, "permute / noise: seed of the fixed permutation / of the noise.");
    v.field("std", s.std, "noise: standard deviation of the additive Gaussian noise.", at_least(0));
    v.field("sigma", s.sigma, "blur: Gaussian blur sigma in pixels.", [] {
        Check c = positive();
        c.max = 100;
        return c;
    }());
}

template <typename V>
void visit(V & v, TaskConfig & s) {
    v.field("name", s.name, "Task name (default task<i>).");
    v.field("classes", s.classes, "Class subset of the source (empty = all classes).", at_least(0));
    v.field("relabel", s.relabel, "Map the class subset to labels 0..n-1 (else keep the source labels).");
    v.list("transforms", s.transforms, "Transforms applied in order to this task's train and test images.");
    v.field("weight", s.weight, "Relative share of training samples (the largest weight uses all).", positive());
}

template <typename V>
void visit(V & v, SyntheticConfig & s) {
    v.field("n_tasks", s.n_tasks, "Number of tasks, one random teacher network each.", range(1, 1024));
    v.field("dim", s.dim, "Feature dimension.", range(1, 1 << 20));
    v.field("n_classes", s.n_classes, "Classes of every teacher.", range(2, 1 << 16));
    v.field("hidden", s.hidden, "Hidden width of the teachers (tanh).", range(1, 1 << 16));
    v.field("n_train", s.n_train, "Training samples per task.", range(1, 1 << 28));
    v.field("n_test", s.n_test, "Test samples per task.", at_least(0));
    v.field("separation", s.separation, "Distance of each task's input mean from the origin.", at_least(0));
}

template <typename V>
void visit(V & v, AugmentConfig & s) {
    v.field("hflip", s.hflip, "Flip training images horizontally with probability 1/2.");
    v.field("shift", s.shift, "Translate training images by up to this many pixels (edge pixels repeated).",
            range(0, 64));
}

template <typename V>
void visit(V & v, TextDomainConfig & s) {
    v.field("name", s.name, "Domain name (the split rule hashes name:key, so renaming re-splits the documents).");
    v.field("paths", s.paths,
            "Files, directories (every regular file below, symlinks skipped) or globs ('*', '?', '[..]'; '**/' any "
            "folders) of the domain's documents; a document's key is its path below the folder it was found in.");
    v.field("weight", s.weight, "Relative share of training sequences drawn from this domain.", positive());
    v.field("train_bytes", s.train_bytes, "Cap of the train split in bytes, documents in key order (0 = all).",
            at_least(0));
    v.field("test_bytes", s.test_bytes, "Cap of the test (and val) split in bytes, in key order (0 = all).",
            at_least(0));
}

template <typename V>
void visit(V & v, TextConfig & s) {
    v.list("domains", s.domains, "The domains of the corpus, each a task of the run.");
    v.field(
        "tokenizer", s.tokenizer,
        "byte: ids 0..255 are bytes, 256 the document boundary; gpt2: GPT-2 byte-level BPE (its end-of-text token the "
        "boundary); sentencepiece: a SentencePiece model (its eos the boundary). See docs/tokenizers.md.",
        one_of({"byte", "gpt2", "sentencepiece"}));
    v.field("tokenizer_path", s.tokenizer_path,
            "gpt2: a folder with vocab.json + merges.txt (or encoder.json + vocab.bpe, or tokenizer.json), or a "
            "tokenizer.json file; sentencepiece: the tokenizer.model file; unused for byte.");
    v.field("block_size", s.block_size, "Tokens per training sequence (must equal model.gpt.context).",
            range(1, 1 << 16));
    v.field("test_percent", s.test_percent,
            "A document is test iff int(sha256(domain:key)[:8], 16) % 100 < test_percent.", range(0, 100));
    v.field("val_percent", s.val_percent, "The next val_percent buckets of the rule are the validation split.",
            range(0, 100));
    v.field(
        "cache_dir", s.cache_dir,
        "Folder of the token caches (empty = $MOE_CACHE_DIR, else $XDG_CACHE_HOME/moe-lab, else ~/.cache/moe-lab).");
    v.field(
        "eval_stride", s.eval_stride,
        "Evaluation windows start every eval_stride tokens (0 = block_size: disjoint windows; smaller: sliding, each "
        "target scored once with at least block_size - stride tokens of context).",
        at_least(0));
    v.field("eval_tokens", s.eval_tokens, "Score at most this many targets per domain per evaluation (0 = all).",
            at_least(0));
    v.field("batch_domains", s.batch_domains,
            "mixed: each training sequence draws its domain by weight; one: every sequence of a micro-batch comes "
            "from one domain drawn by weight.",
            one_of({"mixed", "one"}));
}

template <typename V>
void visit(V & v, DataConfig & s) {
    v.field("source", s.source, "Where samples come from (text: token sequences of data.text's domains).",
            one_of({"fashion-mnist", "csv", "hdf5", "synthetic", "text"}));
    v.field("dir", s.dir,
            "fashion-mnist: directory of the IDX files (.gz or plain); empty = $MOE_FASHION_MNIST_DIR, "
            "else /usr/share/datasets/fashion-mnist.");
    v.field("train_path", s.train_path, "csv / hdf5: training file.");
    v.field("test_path", s.test_path, "csv / hdf5: test file (empty = no test split).");
    v.field("label_column", s.label_column, "csv: label column (-1 = last).");
    v.field("task_column", s.task_column,
            "csv: task-id column (-2 = none, -1 = last; the label is then the one before).");
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
    v.object("augment", s.augment,
             "Training-time augmentation of image batches (validation and test are never augmented).");
    v.object("text", s.text, "text: the domains of a corpus for causal language models.");
}

template <typename V>
void visit(V & v, ClassSplit & s) {
    v.field("init", s.init, "Classes of the first task (0 = no class split: data.tasks is the stream).", at_least(0));
    v.field("increment", s.increment, "Classes of every later task (a remainder forms a last task).", at_least(1));
    v.field("shuffle", s.shuffle,
            "Seeded class order: numpy's legacy permutation(n) after seed(order_seed), as SEMA and PILOT draw it (else "
            "natural order).");
    v.field("order_seed", s.order_seed, "Seed of the class order (SEMA / PILOT use 1993; at most 2^32 - 1).",
            range(0, 4294967295.0));
    v.field("order", s.order,
            "An explicit class order, every class of the source once (empty = shuffle or natural order).", at_least(0));
}

template <typename V>
void visit(V & v, StreamConfig & s) {
    v.object("class_split", s.class_split,
             "Class-incremental split; data.tasks, when given, adds each block's name and transforms.");
    v.field("labels", s.labels,
            "Label space: shared (every task uses all logits), growing (logits of the classes seen so far; "
            "training masks all but the current task's), auto = growing with a class split.",
            one_of({"auto", "shared", "growing"}));
}

} // namespace moe::data
