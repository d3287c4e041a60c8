// build_splits (source -> tasks -> train/val/test, normalised) and the deterministic Batcher.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "moe/core/error.hpp"
#include "moe/core/rng.hpp"
#include "moe/data/dataset.hpp"

namespace moe::data {

namespace {

[[noreturn]] void fail_spec(const std::string & msg) { throw Error(ErrorCode::spec, msg); }

Dataset empty_like(const Dataset & ds) {
    Dataset out;
    out.d = ds.d;
    out.channels = ds.channels;
    out.height = ds.height;
    out.width = ds.width;
    out.n_classes = ds.n_classes;
    return out;
}

// Copy of the given rows (in the given order).
Dataset take_rows(const Dataset & src, const std::vector<int64_t> & rows) {
    Dataset out = empty_like(src);
    const size_t d = size_t(src.d);
    out.n = int64_t(rows.size());
    out.x.resize(rows.size() * d);
    out.y.resize(rows.size());
    out.task.resize(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
        const size_t s = size_t(rows[i]);
        std::copy_n(&src.x[s * d], d, &out.x[i * d]);
        out.y[i] = src.y[s];
        out.task[i] = src.task[s];
    }
    return out;
}

// Keeps only `rows` (ascending) in place.
void keep_rows(Dataset & ds, const std::vector<int64_t> & rows) {
    const size_t d = size_t(ds.d);
    for (size_t i = 0; i < rows.size(); ++i) {
        const size_t s = size_t(rows[i]);
        if (s != i) {
            std::copy_n(&ds.x[s * d], d, &ds.x[i * d]);
            ds.y[i] = ds.y[s];
            ds.task[i] = ds.task[s];
        }
    }
    ds.n = int64_t(rows.size());
    ds.x.resize(rows.size() * d);
    ds.y.resize(rows.size());
    ds.task.resize(rows.size());
}

void truncate(Dataset & ds, int64_t limit) {
    if (limit <= 0 || limit >= ds.n) return;
    ds.n = limit;
    ds.x.resize(size_t(limit) * size_t(ds.d));
    ds.y.resize(size_t(limit));
    ds.task.resize(size_t(limit));
}

// Seeded random subset of k of n rows, returned ascending (partial Fisher-Yates).
std::vector<int64_t> random_subset(int64_t n, int64_t k, uint64_t seed, const std::string & name) {
    std::vector<int64_t> p(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) p[i] = i;
    Rng rng(seed, name);
    for (int64_t i = 0; i < k; ++i) std::swap(p[i], p[i + int64_t(rng.below(uint64_t(n - i)))]);
    p.resize(size_t(k));
    std::sort(p.begin(), p.end());
    return p;
}

bool same_geometry(const Dataset & a, const Dataset & b) {
    return a.d == b.d && a.channels == b.channels && a.height == b.height && a.width == b.width;
}

std::string shape_str(const Dataset & ds) {
    if (ds.is_image()) {
        return std::to_string(ds.channels) + "x" + std::to_string(ds.height) + "x" + std::to_string(ds.width);
    }
    return std::to_string(ds.d) + "-feature";
}

// Concatenates parts (same geometry) in order; global row g goes to `val` when it is listed in
// val_rows (ascending), else to `rest`. Each part is released as soon as it is copied.
// `val` may be null when val_rows is empty; otherwise it gets the geometry even when empty.
void concat_split(std::vector<Dataset> & parts, const std::vector<int64_t> & val_rows, Dataset & rest, Dataset * val) {
    MOE_ASSERT(!parts.empty() && (val || val_rows.empty()));
    if (parts.size() == 1 && val_rows.empty()) {
        if (val) *val = empty_like(parts[0]);
        rest = std::move(parts[0]);
        parts.clear();
        return;
    }
    int64_t total = 0;
    for (const Dataset & p : parts) total += p.n;
    const size_t d = size_t(parts[0].d);
    Dataset r = empty_like(parts[0]), v = empty_like(parts[0]);
    const size_t n_val = val_rows.size(), n_rest = size_t(total) - n_val;
    r.x.reserve(n_rest * d);
    r.y.reserve(n_rest);
    r.task.reserve(n_rest);
    v.x.reserve(n_val * d);
    v.y.reserve(n_val);
    v.task.reserve(n_val);
    int64_t g = 0;
    size_t k = 0;
    for (Dataset & p : parts) {
        // runs of consecutive rows that go to the same destination
        for (int64_t s = 0; s < p.n;) {
            const bool to_val = k < n_val && val_rows[k] == g;
            int64_t e = s + 1;
            if (to_val) {
                ++k;
                while (e < p.n && k < n_val && val_rows[k] == g + (e - s)) ++e, ++k;
            } else {
                const int64_t next_val = k < n_val ? val_rows[k] : INT64_MAX;
                e = std::min(p.n, s + (next_val - g));
            }
            Dataset & dst = to_val ? v : r;
            dst.x.insert(dst.x.end(), p.x.begin() + s * int64_t(d), p.x.begin() + e * int64_t(d));
            dst.y.insert(dst.y.end(), p.y.begin() + s, p.y.begin() + e);
            dst.task.insert(dst.task.end(), p.task.begin() + s, p.task.begin() + e);
            g += e - s;
            s = e;
        }
        p = Dataset{};
    }
    r.n = int64_t(r.y.size());
    v.n = int64_t(v.y.size());
    rest = std::move(r);
    if (val) *val = std::move(v);
}

// Runs fn; a spec error it throws gets the JSON path of the setting in front of its message.
template <typename F>
void with_path(const std::string & path, F && fn) {
    try {
        fn();
    } catch (const Error & e) {
        if (e.code() != ErrorCode::spec) throw;
        throw Error(ErrorCode::spec, path + ": " + e.what(), e.hints());
    }
}

} // namespace

Dataset rows_of_task(const Dataset & src, int t) {
    std::vector<int64_t> rows;
    for (int64_t s = 0; s < src.n; ++s)
        if (src.task[s] == t) rows.push_back(s);
    return take_rows(src, rows);
}

// Source tasks: the synthetic generator, and CSV/HDF5 with a task column/dataset, already assign
// task ids. Then the task list is one entry per source task id (empty cfg.tasks: names "task<i>";
// otherwise cfg.tasks must have exactly that many entries, and entry i applies its classes,
// transforms and weight to the samples of source task i). Other sources: empty cfg.tasks = one
// task "all"; otherwise every entry starts from the whole source.
Splits build_splits(const DataConfig & cfg, uint64_t seed) {
    if (cfg.normalize != "none" && cfg.normalize != "standard") {
        fail_spec("data.normalize must be \"none\" or \"standard\", got \"" + cfg.normalize + "\"");
    }
    if (!(cfg.val_fraction >= 0.0 && cfg.val_fraction < 1.0)) {
        fail_spec("data.val_fraction must be in [0, 1), got " + std::to_string(cfg.val_fraction));
    }
    if (cfg.train_limit < 0 || cfg.test_limit < 0) fail_spec("data.train_limit and data.test_limit must be >= 0");

    // ---- source
    Dataset train_src, test_src;
    bool has_test = true, src_tasks = false;
    if (cfg.source == "fashion-mnist") {
        const std::string dir = fashion_mnist_dir(cfg.dir);
        train_src = load_fashion_mnist(dir, "train", cfg.train_limit);
        test_src = load_fashion_mnist(dir, "t10k", cfg.test_limit);
    } else if (cfg.source == "csv" || cfg.source == "hdf5") {
        if (cfg.train_path.empty()) fail_spec("data.train_path is required for source \"" + cfg.source + "\"");
        auto load = [&](const std::string & p, int64_t limit) {
            return cfg.source == "csv"
                       ? load_csv(p, cfg.label_column, cfg.task_column, cfg.header, limit)
                       : load_hdf5(p, cfg.features_dataset, cfg.labels_dataset, cfg.task_dataset, limit);
        };
        train_src = load(cfg.train_path, cfg.train_limit);
        has_test = !cfg.test_path.empty();
        if (has_test) test_src = load(cfg.test_path, cfg.test_limit);
        src_tasks = cfg.source == "csv" ? cfg.task_column != -2 : !cfg.task_dataset.empty();
    } else if (cfg.source == "synthetic") {
        make_synthetic(train_src, test_src, cfg.synthetic, seed);
        src_tasks = true;
    } else {
        fail_spec("unknown data.source \"" + cfg.source + "\" (expected fashion-mnist, csv, hdf5 or synthetic)");
    }
    if (!has_test) test_src = empty_like(train_src);
    if (!same_geometry(train_src, test_src)) {
        const bool fm = cfg.source == "fashion-mnist";
        const std::string test_name = fm ? fashion_mnist_dir(cfg.dir) + "/t10k-images-idx3-ubyte[.gz]" : cfg.test_path;
        const std::string train_name = fm ? "train-images-idx3-ubyte[.gz]" : cfg.train_path;
        throw Error(ErrorCode::io, test_name + ": test samples are " + shape_str(test_src) +
                                       " but the training samples (" + train_name + ") are " + shape_str(train_src));
    }
    // the loaders read only the first train_limit / test_limit rows; the synthetic generator makes them all
    truncate(train_src, cfg.train_limit);
    truncate(test_src, cfg.test_limit);
    const int src_classes = std::max(train_src.n_classes, test_src.n_classes);
    train_src.n_classes = test_src.n_classes = src_classes;

    // ---- task list
    int n_src_tasks = 1;
    if (src_tasks) {
        int32_t mx = 0;
        for (int32_t t : train_src.task) mx = std::max(mx, t);
        for (int32_t t : test_src.task) mx = std::max(mx, t);
        n_src_tasks = int(mx) + 1;
        if (cfg.source == "synthetic") n_src_tasks = cfg.synthetic.n_tasks;
    }
    std::vector<TaskConfig> tasks = cfg.tasks;
    if (tasks.empty()) {
        tasks.resize(size_t(n_src_tasks));
        if (!src_tasks) tasks[0].name = "all";
    } else if (src_tasks && int(tasks.size()) != n_src_tasks) {
        fail_spec("data.tasks has " + std::to_string(tasks.size()) + " entries but the source defines " +
                  std::to_string(n_src_tasks) + " tasks (one entry per source task)");
    }
    double max_w = 0.0;
    for (size_t i = 0; i < tasks.size(); ++i) {
        const double w = tasks[i].weight;
        if (!(w > 0.0) || !std::isfinite(w)) {
            fail_spec("data.tasks[" + std::to_string(i) + "].weight must be > 0, got " + std::to_string(w));
        }
        max_w = std::max(max_w, w);
    }

    // ---- build every task
    Splits out;
    std::vector<Dataset> parts_train, parts_test; // one per task
    for (size_t i = 0; i < tasks.size(); ++i) {
        const TaskConfig & tc = tasks[i];
        const std::string ti = "data.task" + std::to_string(i);
        out.task_names.push_back(tc.name.empty() ? "task" + std::to_string(i) : tc.name);
        const bool last_user = !src_tasks && i + 1 == tasks.size() && tc.classes.empty();
        const std::string at = "data.tasks[" + std::to_string(i) + "]";
        Dataset tr, te;
        with_path(at + ".classes", [&] {
            if (src_tasks) {
                tr = subset_classes(rows_of_task(train_src, int(i)), tc.classes, tc.relabel);
                te = subset_classes(rows_of_task(test_src, int(i)), tc.classes, tc.relabel);
            } else if (last_user) { // nobody needs the source afterwards
                tr = std::move(train_src);
                te = std::move(test_src);
            } else {
                tr = subset_classes(train_src, tc.classes, tc.relabel);
                te = subset_classes(test_src, tc.classes, tc.relabel);
            }
        });
        // weight: keep round(weight / max_weight * n) training samples, a seeded subset
        const int64_t n_keep = std::llround(tc.weight / max_w * double(tr.n));
        if (n_keep < tr.n) keep_rows(tr, random_subset(tr.n, n_keep, seed, ti + ".weight"));
        if (tr.n == 0) {
            fail_spec("data.tasks[" + std::to_string(i) + "] (" + out.task_names.back() + ") has no training samples");
        }
        for (size_t j = 0; j < tc.transforms.size(); ++j) {
            const std::string tj = ti + ".transform" + std::to_string(j);
            with_path(at + ".transforms[" + std::to_string(j) + "]", [&] {
                apply_transform(tr, tc.transforms[j], seed_for(seed, tj + ".train"));
                apply_transform(te, tc.transforms[j], seed_for(seed, tj + ".test"));
            });
        }
        std::fill(tr.task.begin(), tr.task.end(), int32_t(i));
        std::fill(te.task.begin(), te.task.end(), int32_t(i));
        if (i > 0 && !same_geometry(parts_train[0], tr)) {
            fail_spec("data.tasks[" + std::to_string(i) + "] (" + out.task_names.back() + ") has " + shape_str(tr) +
                      " samples but data.tasks[0] has " + shape_str(parts_train[0]) +
                      " (all tasks must share one shape)");
        }
        parts_train.push_back(std::move(tr));
        parts_test.push_back(std::move(te));
    }
    int n_classes = 0;
    int64_t n_train = 0;
    for (size_t i = 0; i < parts_train.size(); ++i) {
        n_classes = std::max({n_classes, parts_train[i].n_classes, parts_test[i].n_classes});
        n_train += parts_train[i].n;
    }

    // ---- validation split: a seeded subset of the training set; both keep their order
    const int64_t n_val = std::llround(cfg.val_fraction * double(n_train));
    if (n_val >= n_train) fail_spec("data.val_fraction leaves no training samples");
    const std::vector<int64_t> val_rows =
        n_val > 0 ? random_subset(n_train, n_val, seed, "data.val_split") : std::vector<int64_t>{};
    concat_split(parts_train, val_rows, out.train, &out.val);
    concat_split(parts_test, {}, out.test, nullptr);
    out.train.n_classes = out.val.n_classes = out.test.n_classes = n_classes;

    // ---- normalisation with training statistics (one global scalar mean / std)
    if (cfg.normalize == "standard") {
        double sum = 0.0, sum2 = 0.0;
        for (float v : out.train.x) sum += v;
        const double cnt = double(out.train.x.size());
        const double mean = sum / cnt;
        for (float v : out.train.x) sum2 += (v - mean) * (v - mean);
        double sd = std::sqrt(sum2 / cnt);
        if (!(sd > 1e-12)) sd = 1.0;
        const float m = float(mean), inv = float(1.0 / sd);
        for (Dataset * ds : {&out.train, &out.val, &out.test})
            for (float & v : ds->x) v = (v - m) * inv;
    }
    return out;
}

// ------------------------------------------------------------------------------ Batcher

Batcher::Batcher(const Dataset & ds, int batch_size, bool shuffle, uint64_t seed)
    : ds_(&ds), batch_(batch_size), shuffle_(shuffle), seed_(seed) {
    if (batch_size < 1) fail_spec("batch size must be >= 1, got " + std::to_string(batch_size));
}

// The order of epoch e is a Fisher-Yates permutation from Rng(seed_for(seed, "data.order.epoch<e>")):
// it depends only on (seed, e), so resuming at any (epoch, batch) reproduces the run exactly.
void Batcher::start_epoch(int64_t epoch) {
    MOE_CHECK(epoch >= 0, ErrorCode::internal, "Batcher::start_epoch: negative epoch");
    epoch_ = epoch;
    const int64_t n = ds_->n;
    order_.resize(size_t(n));
    for (int64_t i = 0; i < n; ++i) order_[i] = i;
    if (shuffle_) {
        Rng rng(seed_for(seed_, "data.order.epoch" + std::to_string(epoch)));
        for (int64_t i = n; i > 1; --i) std::swap(order_[i - 1], order_[rng.below(uint64_t(i))]);
    }
}

int64_t Batcher::batches_per_epoch() const { return (ds_->n + batch_ - 1) / batch_; }

int Batcher::fill(int64_t i, float * x, int32_t * y, int32_t * task) const {
    MOE_CHECK(epoch_ >= 0, ErrorCode::internal, "Batcher::fill before start_epoch");
    MOE_CHECK(int64_t(order_.size()) == ds_->n, ErrorCode::internal, "Batcher: data set changed size");
    MOE_CHECK(i >= 0 && i < batches_per_epoch(), ErrorCode::internal, "Batcher::fill: batch index out of range");
    const int64_t begin = i * batch_;
    const int b = int(std::min<int64_t>(batch_, ds_->n - begin));
    const size_t d = size_t(ds_->d);
    for (int j = 0; j < b; ++j) {
        const size_t s = size_t(order_[size_t(begin + j)]);
        if (x) std::copy_n(&ds_->x[s * d], d, x + size_t(j) * d);
        if (y) y[j] = ds_->y[s];
        if (task) task[j] = ds_->task[s];
    }
    return b;
}

} // namespace moe::data
