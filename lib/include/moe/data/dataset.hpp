// moe/data/dataset.hpp — data sets, sources, task construction and batching.
//
// Every sample carries features x (d floats), a label y and a task id. Images keep their
// geometry (channels, height, width) so transforms and the ViT patch embedding know it.
// Sources: Fashion-MNIST IDX files (gzip or not), CSV, HDF5 (features + labels [+ task]),
// and a synthetic generator of teacher-labelled tasks whose true routing is known.
// Tasks are built from a source by class subset and by transforms. All randomness is seeded.
// Every failure throws moe::Error: ErrorCode::io for unreadable/bad files (naming the file and,
// where it applies, the line/column or record), ErrorCode::spec for impossible configurations.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "moe/core/rng.hpp"

namespace moe::data {

// The largest label and task id a data file may hold: the class count sizes the head and the
// per-class routing statistics, the task count the per-task ones (an id of 2e9 would ask for
// gigabytes before anything else failed).
inline constexpr int64_t kMaxLabel = (int64_t(1) << 20) - 1; // 1,048,576 classes
inline constexpr int64_t kMaxTaskId = (int64_t(1) << 16) - 1; // 65,536 tasks

struct Dataset {
    int64_t n = 0;           // samples
    int d = 0;               // features per sample
    int channels = 0;        // image geometry; 0 when not an image (then d is a flat vector)
    int height = 0;
    int width = 0;
    int n_classes = 0;       // labels are in [0, n_classes)
    std::vector<float> x;    // (n, d) row-major
    std::vector<int32_t> y;  // (n)
    std::vector<int32_t> task; // (n) task id of each sample
    bool is_image() const { return channels > 0 && height > 0 && width > 0; }
};

// ---- configuration (filled from the spec's "data" section) ---------------------------------

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
    std::string name;                       // defaults to "task<i>"
    std::vector<int> classes;               // class subset of the source; empty = all classes
    bool relabel = false;                   // map the subset to 0..len-1 (else keep source labels)
    std::vector<TransformConfig> transforms;// applied in order, to train and test alike
    double weight = 1.0;                    // relative share of training samples (max weight = all)
};

struct SyntheticConfig {
    int n_tasks = 4;        // one teacher per task
    int dim = 32;           // feature dimension
    int n_classes = 4;      // teacher output classes
    int hidden = 32;        // teacher hidden width (tanh)
    int n_train = 2000;     // training samples per task
    int n_test = 500;       // test samples per task
    double separation = 3.0;// distance between task input means (so tasks are recognisable)
};

// Training-time augmentation of image batches (never applied to validation or test data).
struct AugmentConfig {
    bool hflip = false;  // flip each image horizontally with probability 1/2
    int shift = 0;       // translate by up to ±shift pixels in x and y (edge pixels repeated)
};

struct DataConfig {
    std::string source = "fashion-mnist";   // "fashion-mnist" | "csv" | "hdf5" | "synthetic"
    std::string dir;                        // fashion-mnist directory; "" = $MOE_FASHION_MNIST_DIR
                                            // or /usr/share/datasets/fashion-mnist
    std::string train_path;                 // csv / hdf5: training file
    std::string test_path;                  // csv / hdf5: test file ("" = none)
    int label_column = -1;                  // csv: label column (-1 = last)
    int task_column = -2;                   // csv: task column (-2 = none, -1 = last)
    bool header = false;                    // csv: first row is a header
    std::string features_dataset = "features"; // hdf5 dataset names
    std::string labels_dataset = "labels";
    std::string task_dataset = "";          // "" = none
    SyntheticConfig synthetic;
    std::string normalize = "standard";     // "none" | "standard" (global mean/std from train)
    double val_fraction = 0.1;              // held out of train for validation (0 = no validation)
    int64_t train_limit = 0;                // use at most this many source training samples (0 = all)
    int64_t test_limit = 0;
    std::vector<TaskConfig> tasks;          // empty = one task with every class, no transform
    AugmentConfig augment;
};

// ---- sources ---------------------------------------------------------------------------------

// Directory resolution: cfg dir if set, else $MOE_FASHION_MNIST_DIR, else the Debian default.
std::string fashion_mnist_dir(const std::string & configured);
// IDX pair (images idx3-ubyte, labels idx1-ubyte), ".gz" or plain; pixels scaled to [0,1].
Dataset load_idx(const std::string & images_path, const std::string & labels_path);
// "train" or "t10k" split from a Fashion-MNIST directory (finds the .gz or plain file).
Dataset load_fashion_mnist(const std::string & dir, const std::string & split);
Dataset load_csv(const std::string & path, int label_column, int task_column, bool header);
Dataset load_hdf5(const std::string & path, const std::string & features, const std::string & labels,
                  const std::string & task);
// Synthetic teacher-labelled tasks: task t draws x ~ N(mu_t, I) and is labelled by its own
// random teacher MLP. Both splits come from the same teachers; task ids are set.
void make_synthetic(Dataset & train, Dataset & test, const SyntheticConfig & cfg, uint64_t seed);

// ---- task construction -------------------------------------------------------------------------
Dataset subset_classes(const Dataset & src, const std::vector<int> & classes, bool relabel);
void apply_transform(Dataset & ds, const TransformConfig & t, uint64_t seed);
// Concatenate b into a (same d and geometry).
void append(Dataset & a, const Dataset & b);

struct Splits {
    Dataset train, val, test;
    std::vector<std::string> task_names;
};

// Everything the "data" section describes: load the source, build every task (class subset,
// transforms, weight), set task ids, split validation off the training set (seeded,
// stratification not required), normalise with training statistics. Deterministic in seed.
Splits build_splits(const DataConfig & cfg, uint64_t seed);

// Checks every feature is finite; throws ErrorCode::io naming `what` and the first bad sample.
void check_finite(const Dataset & ds, const std::string & what);

// Augment a batch of B images in place, x (B, C*H*W); scratch holds one image (C*H*W floats).
void augment_batch(float * x, int B, int C, int H, int W, const AugmentConfig & a, Rng & rng, float * scratch);

// ---- batching ----------------------------------------------------------------------------------
// Deterministic shuffling: the order of epoch e is a permutation drawn from
// Rng(seed_for(seed, "data.order.epoch<e>")) — so a run can resume at any (epoch, position).
class Batcher {
  public:
    Batcher(const Dataset & ds, int batch_size, bool shuffle, uint64_t seed);
    void start_epoch(int64_t epoch);       // fixes the order of this epoch
    int64_t batches_per_epoch() const;     // last partial batch included
    // Copies batch i of the current epoch into x (B,d), y (B), task (B); returns its size.
    int fill(int64_t i, float * x, int32_t * y, int32_t * task) const;
    int64_t epoch() const { return epoch_; }

  private:
    const Dataset * ds_;
    int batch_;
    bool shuffle_;
    uint64_t seed_;
    int64_t epoch_ = -1;
    std::vector<int64_t> order_;
};

} // namespace moe::data
