// data: the size of a data section from its sources' headers (see moe/data/source_size.hpp).
//
// Peak bytes of build_splits: the sources (x float32 + label + task id per row), copied per task
// and again when the tasks and the validation split are concatenated (concat_split copies every
// part while the parts are alive), plus a CSV file's text (read whole, or up to the limit's rows).
#include "moe/data/source_size.hpp"

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "internal.hpp"
#include "moe/core/glob.hpp"
#include "moe/data/dataset.hpp"
#include "moe/data/text.hpp"
#include "moe/io/h5.hpp"

namespace moe::data {

namespace h5 = moe::io::h5;
namespace fs = std::filesystem;
using namespace detail;

namespace {

struct Rows {
    int64_t n = 0;
    int d = 0, channels = 0, height = 0, width = 0;
    uint64_t extra = 0; // bytes beyond the samples (a CSV file's text)
    bool ok = false;
};

uint32_t be32(const unsigned char * p) {
    return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// The header of an IDX images file (dims n, rows, cols).
Rows idx_rows(const std::string & dir, const std::string & split) {
    Rows r;
    for (const std::string & p :
         {dir + "/" + split + "-images-idx3-ubyte.gz", dir + "/" + split + "-images-idx3-ubyte"}) {
        std::error_code ec;
        if (!fs::is_regular_file(p, ec)) continue;
        GzFile g(p);
        unsigned char h[16];
        if (read_some(g, p, h, 16) < 16 || be32(h) != 0x803u) return r;
        // the loader's own checks first: an implausible header is left for it to report
        const uint64_t n = be32(h + 4), rows = be32(h + 8), cols = be32(h + 12);
        if (rows == 0 || cols == 0 || n * rows * cols > (uint64_t(1) << 40) || rows * cols > (uint64_t(1) << 30))
            return r;
        r.n = int64_t(n);
        r.height = int(rows);
        r.width = int(cols);
        r.channels = 1;
        r.d = r.height * r.width;
        r.ok = true;
        return r;
    }
    return r;
}

Rows hdf5_rows(const std::string & path, const std::string & features) {
    Rows r;
    std::error_code ec;
    if (!fs::is_regular_file(path, ec) || H5Fis_hdf5(path.c_str()) <= 0) return r;
    h5::quiet_hdf5();
    h5::File file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
    if (!file.valid()) return r;
    h5::Dataset ds(H5Dopen2(file.get(), features.c_str(), H5P_DEFAULT));
    if (!ds.valid()) return r;
    h5::Space space(H5Dget_space(ds.get()));
    const int rank = space.valid() ? H5Sget_simple_extent_ndims(space.get()) : -1;
    if (rank < 2 || rank > 4) return r;
    std::vector<hsize_t> dims(static_cast<size_t>(rank), 0);
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    hsize_t d = 1;
    for (int i = 1; i < rank; ++i) d *= dims[size_t(i)];
    if (d == 0 || d > hsize_t(1) << 30) return r;
    r.n = int64_t(dims[0]);
    r.d = int(d);
    if (rank == 3) r.channels = 1, r.height = int(dims[1]), r.width = int(dims[2]);
    if (rank == 4) r.channels = int(dims[1]), r.height = int(dims[2]), r.width = int(dims[3]);
    r.ok = true;
    return r;
}

// A CSV file: the columns of its first line; its size bounds the rows (a cell and its separator
// take 2 bytes at least). A gzip file's text is taken as 4x its size.
Rows csv_rows(const std::string & path, int task_column, int64_t limit) {
    Rows r;
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return r;
    uint64_t size = fs::file_size(path, ec);
    if (ec) return r;
    GzFile g(path);
    if (gzdirect(g.f) != 1) size *= 4;
    std::vector<unsigned char> head(1 << 16);
    head.resize(read_some(g, path, head.data(), head.size()));
    size_t eol = 0;
    while (eol < head.size() && head[eol] != '\n') ++eol;
    const int cols = 1 + int(std::count(head.begin(), head.begin() + long(eol), ','));
    const int extra = task_column == -2 ? 1 : 2;
    r.d = std::max(1, cols - extra);
    r.n = int64_t(size / (2 * uint64_t(cols)));
    if (limit > 0) r.n = std::min(r.n, limit);
    // the text held while parsing: the whole file, or about the limit's rows of it
    const uint64_t per_row = eol + 1;
    r.extra = limit > 0 ? std::min<uint64_t>(size, per_row * uint64_t(limit) + (1 << 16)) : size;
    r.ok = true;
    return r;
}

uint64_t tree_bytes(const std::string & pattern) {
    uint64_t total = 0;
    std::error_code ec;
    std::vector<std::string> paths = {pattern};
    if (pattern.find_first_of("*?[") != std::string::npos) {
        paths.clear();
        const fs::path parent = fs::path(pattern).parent_path();
        for (const auto & e : fs::directory_iterator(parent.empty() ? "." : parent, ec))
            if (glob_match(pattern, e.path().string())) paths.push_back(e.path().string());
    }
    for (const auto & p : paths) {
        if (fs::is_regular_file(p, ec)) {
            total += fs::file_size(p, ec);
        } else if (fs::is_directory(p, ec)) {
            for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator();
                 it.increment(ec))
                if (it->is_regular_file(ec)) total += it->file_size(ec);
        }
    }
    return total;
}

} // namespace

SourceSize source_size(const DataConfig & cfg) {
    SourceSize out;
    try {
        Rows tr, te;
        if (cfg.source == "text") {
            // the text read (every byte once) and its tokens (uint16 each) in the cache
            uint64_t bytes = 0;
            for (const auto & dom : cfg.text.domains)
                for (const auto & p : dom.paths) bytes += tree_bytes(p);
            out.d = cfg.text.block_size;
            // (a BPE vocabulary is read for its size; an unreadable one leaves the size unknown)
            out.n_classes = cfg.text.tokenizer == "byte" ? kByteVocab : open_tokenizer(cfg.text)->vocab();
            out.train_rows = out.declared_rows = int64_t(bytes);
            out.bytes = bytes * 3;
            out.known = true;
            return out;
        }
        if (cfg.source == "fashion-mnist") {
            const std::string dir = fashion_mnist_dir(cfg.dir);
            tr = idx_rows(dir, "train");
            te = idx_rows(dir, "t10k");
            out.n_classes = 10;
        } else if (cfg.source == "hdf5") {
            tr = hdf5_rows(cfg.train_path, cfg.features_dataset);
            te = cfg.test_path.empty() ? Rows{0, tr.d, 0, 0, 0, 0, true}
                                       : hdf5_rows(cfg.test_path, cfg.features_dataset);
        } else if (cfg.source == "csv") {
            tr = csv_rows(cfg.train_path, cfg.task_column, cfg.train_limit);
            te = cfg.test_path.empty() ? Rows{0, tr.d, 0, 0, 0, 0, true}
                                       : csv_rows(cfg.test_path, cfg.task_column, cfg.test_limit);
        } else if (cfg.source == "synthetic") {
            const auto & s = cfg.synthetic;
            tr = {int64_t(s.n_tasks) * s.n_train, s.dim, 0, 0, 0, 0, true};
            te = {int64_t(s.n_tasks) * s.n_test, s.dim, 0, 0, 0, 0, true};
            out.n_classes = s.n_classes;
        }
        if (!tr.ok || !te.ok) return out;
        out.declared_rows = tr.n;
        out.train_rows = cfg.train_limit > 0 ? std::min(tr.n, cfg.train_limit) : tr.n;
        out.test_rows = cfg.test_limit > 0 ? std::min(te.n, cfg.test_limit) : te.n;
        out.d = tr.d;
        out.channels = tr.channels;
        out.height = tr.height;
        out.width = tr.width;
        // float32 features, label and task id; HDF5 reads its integers through an int64 buffer
        const uint64_t per_row = uint64_t(out.d) * 4 + 8 + (cfg.source == "hdf5" ? 8 : 0);
        const uint64_t samples = uint64_t(out.train_rows + out.test_rows) * per_row;
        // every task of the spec starts from a copy of the whole source (but the last, which takes
        // it over); concat_split then copies the parts, releasing each once copied: tasks + 1 at
        // the peak. Sources that carry their own task ids split into disjoint parts: 3 x.
        const bool own_tasks = cfg.source == "synthetic" || (cfg.source == "csv" && cfg.task_column != -2) ||
                               (cfg.source == "hdf5" && !cfg.task_dataset.empty());
        const uint64_t tasks = own_tasks ? 2 : std::max<uint64_t>(1, cfg.tasks.size());
        const bool copies = tasks > 1 || cfg.val_fraction > 0;
        out.sample_bytes = samples;
        out.bytes = samples * (copies ? tasks + 1 : 1) + tr.extra + te.extra;
        out.known = true;
    } catch (...) { // the loader reports it
        out = SourceSize{};
    }
    return out;
}

} // namespace moe::data
