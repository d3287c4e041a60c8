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
#include "moe/data/config.hpp"

namespace moe::data {

// The largest label and task id a data file may hold: the class count sizes the head and the
// per-class routing statistics, the task count the per-task ones (an id of 2e9 would ask for
// gigabytes before anything else failed).
inline constexpr int64_t kMaxLabel = (int64_t(1) << 20) - 1;  // 1,048,576 classes
inline constexpr int64_t kMaxTaskId = (int64_t(1) << 16) - 1; // 65,536 tasks

struct Dataset {
    int64_t n = 0;    // samples
    int d = 0;        // features per sample
    int channels = 0; // image geometry; 0 when not an image (then d is a flat vector)
    int height = 0;
    int width = 0;
    int n_classes = 0;         // labels are in [0, n_classes)
    std::vector<float> x;      // (n, d) row-major
    std::vector<int32_t> y;    // (n)
    std::vector<int32_t> task; // (n) task id of each sample
    bool is_image() const { return channels > 0 && height > 0 && width > 0; }
};

// ---- sources ---------------------------------------------------------------------------------

// Directory resolution: cfg dir if set, else $MOE_FASHION_MNIST_DIR, else the Debian default.
std::string fashion_mnist_dir(const std::string & configured);
// Every loader takes a row limit: limit > 0 reads only the first `limit` samples (the rows
// data.train_limit / data.test_limit keep), 0 reads them all.
// IDX pair (images idx3-ubyte, labels idx1-ubyte), ".gz" or plain; pixels scaled to [0,1].
Dataset load_idx(const std::string & images_path, const std::string & labels_path, int64_t limit = 0);
// "train" or "t10k" split from a Fashion-MNIST directory (finds the .gz or plain file).
Dataset load_fashion_mnist(const std::string & dir, const std::string & split, int64_t limit = 0);
Dataset load_csv(const std::string & path, int label_column, int task_column, bool header, int64_t limit = 0);
Dataset load_hdf5(const std::string & path, const std::string & features, const std::string & labels,
                  const std::string & task, int64_t limit = 0);
// Synthetic teacher-labelled tasks: task t draws x ~ N(mu_t, I) and is labelled by its own
// random teacher MLP. Both splits come from the same teachers; task ids are set.
void make_synthetic(Dataset & train, Dataset & test, const SyntheticConfig & cfg, uint64_t seed);

// ---- task construction -------------------------------------------------------------------------
Dataset subset_classes(const Dataset & src, const std::vector<int> & classes, bool relabel);
void apply_transform(Dataset & ds, const TransformConfig & t, uint64_t seed);
// Concatenate b into a (same d and geometry).
void append(Dataset & a, const Dataset & b);
// The samples of src whose task id is t, in order.
Dataset rows_of_task(const Dataset & src, int t);

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
    void start_epoch(int64_t epoch);   // fixes the order of this epoch
    int64_t batches_per_epoch() const; // last partial batch included
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
