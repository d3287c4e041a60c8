// idx.cpp — the IDX source (moe/data/dataset.hpp): IDX image and label files, gzip-compressed
// or plain, read as a stream with their size checked against the header (with a row limit only
// the first rows are decompressed; a plain file's size is then checked with stat), and Fashion-MNIST's
// four files found in a directory (data.dir, $MOE_FASHION_MNIST_DIR or the Debian package's).
//
// Shapes: n = samples, d = features per sample, (C,H,W) = image geometry.
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "internal.hpp"
#include "moe/data/dataset.hpp"

namespace moe::data {

using namespace detail;

namespace {

uint32_t be32(const unsigned char * p) {
    return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// One IDX file read as a stream: the constructor checks the magic and reads the dimensions,
// read() hands out the payload in chunks (throwing when the file is truncated), finish() checks
// nothing follows the payload. Sizes are reported as whole-file bytes (header + payload).
class IdxStream {
  public:
    IdxStream(const std::string & path, uint32_t magic, int ndims) : path_(path), g_(open_checked(path)) {
        gzbuffer(g_.f, 1 << 18);
        header_ = 4 + 4 * uint64_t(ndims);
        unsigned char h[4 + 4 * 4];
        const size_t got = read_some(g_, path_, h, size_t(header_));
        if (got < 4) {
            fail_io(path_ + ": not an IDX file (" + std::to_string(got) + " bytes, too short for a header)");
        }
        const uint32_t got_magic = be32(h);
        if (got_magic != magic) {
            char want_s[16], got_s[16];
            std::snprintf(want_s, sizeof want_s, "0x%08x", magic);
            std::snprintf(got_s, sizeof got_s, "0x%08x", got_magic);
            fail_io(path_ + ": bad IDX magic " + got_s + ", expected " + want_s);
        }
        if (got < header_) {
            fail_io(path_ + ": truncated IDX header: expected " + std::to_string(header_) + " bytes, got " +
                    std::to_string(got));
        }
        payload_ = 1;
        for (int i = 0; i < ndims; ++i) {
            dims_.push_back(be32(h + 4 + 4 * i));
            if (i > 0 && dims_.back() == 0) fail_io(path_ + ": IDX dimension " + std::to_string(i) + " is 0");
            payload_ *= dims_.back();
            if (payload_ > (uint64_t(1) << 40)) fail_io(path_ + ": implausible IDX dimensions");
        }
    }
    const std::vector<uint32_t> & dims() const { return dims_; }

    // Fills exactly len payload bytes.
    void read(unsigned char * dst, size_t len) {
        const size_t got = read_some(g_, path_, dst, len);
        done_ += got;
        if (got < len) {
            fail_io(path_ + ": truncated IDX file: expected " + std::to_string(header_ + payload_) + " bytes, got " +
                    std::to_string(header_ + done_) + (gz_cut_short(g_) ? " (gzip stream ends early)" : ""));
        }
    }
    // With a row limit the rest of the payload is never read: a plain file's size is checked
    // against its header here instead (a gzip stream's length is unknown without inflating it).
    void check_plain_size() {
        if (gzdirect(g_.f) != 1) return;
        std::error_code ec;
        const auto size = std::filesystem::file_size(path_, ec);
        if (ec) return;
        const uint64_t want = header_ + payload_;
        if (size < want)
            fail_io(path_ + ": truncated IDX file: expected " + std::to_string(want) + " bytes, got " +
                    std::to_string(size));
        if (size > want)
            fail_io(path_ + ": oversized IDX file: expected " + std::to_string(want) + " bytes, got " +
                    std::to_string(size));
    }
    void finish() {
        unsigned char extra[4096];
        uint64_t more = 0;
        for (size_t got; (got = read_some(g_, path_, extra, sizeof extra)) > 0;) more += got;
        if (more > 0) {
            fail_io(path_ + ": oversized IDX file: expected " + std::to_string(header_ + payload_) + " bytes, got " +
                    std::to_string(header_ + done_ + more));
        }
    }

  private:
    static std::string open_checked(const std::string & path) {
        std::error_code ec;
        if (std::filesystem::is_directory(path, ec)) fail_io(path + ": is a directory, expected a file");
        return path;
    }
    std::string path_;
    GzFile g_;
    uint64_t header_ = 0, payload_ = 0, done_ = 0;
    std::vector<uint32_t> dims_;
};

bool file_exists(const std::string & p) {
    std::error_code ec;
    return std::filesystem::is_regular_file(p, ec);
}

std::vector<std::string> fashion_hints() {
    return {"install the Debian package dataset-fashion-mnist (files in /usr/share/datasets/fashion-mnist)",
            "or point data.dir or the environment variable MOE_FASHION_MNIST_DIR at a directory with "
            "<split>-images-idx3-ubyte[.gz] and <split>-labels-idx1-ubyte[.gz]"};
}

// Finds "<dir>/<name>.gz" or "<dir>/<name>".
std::string find_idx(const std::string & dir, const std::string & name) {
    const std::string base = (std::filesystem::path(dir) / name).string();
    if (file_exists(base + ".gz")) return base + ".gz";
    if (file_exists(base)) return base;
    for (const std::string & p : {base + ".gz", base}) {
        std::error_code ec;
        if (std::filesystem::exists(p, ec))
            fail_io(p + ": is not a regular file (a directory or a device), expected an IDX file");
    }
    fail_io("Fashion-MNIST file not found: " + base + "[.gz]", fashion_hints());
}

} // namespace

// ------------------------------------------------------------------------------ Fashion-MNIST / IDX

std::string fashion_mnist_dir(const std::string & configured) {
    if (!configured.empty()) return configured;
    if (const char * env = std::getenv("MOE_FASHION_MNIST_DIR"); env && *env) return env;
    return "/usr/share/datasets/fashion-mnist";
}

// images: magic 0x00000803, dims (n, rows, cols), n*rows*cols bytes;
// labels: magic 0x00000801, dims (n), n bytes. Pixels scaled by 1/255 to [0,1].
// limit > 0: only the first limit images and labels are read.
Dataset load_idx(const std::string & images_path, const std::string & labels_path, int64_t limit) {
    IdxStream img(images_path, 0x00000803u, 3);
    IdxStream lbl(labels_path, 0x00000801u, 1);
    const uint32_t n_file = img.dims()[0];
    if (lbl.dims()[0] != n_file) {
        fail_io(labels_path + ": " + std::to_string(lbl.dims()[0]) + " labels but " + images_path + " has " +
                std::to_string(n_file) + " images");
    }
    if (n_file == 0) fail_io(images_path + ": IDX file has no images");
    const bool partial = limit > 0 && limit < int64_t(n_file);
    const uint32_t n = partial ? uint32_t(limit) : n_file;
    // the sizes first, so a truncated file fails before anything is read, as the whole read does
    if (partial) {
        img.check_plain_size();
        lbl.check_plain_size();
    }

    Dataset ds;
    ds.n = n;
    ds.channels = 1;
    ds.height = static_cast<int>(img.dims()[1]);
    ds.width = static_cast<int>(img.dims()[2]);
    ds.d = ds.height * ds.width;
    const size_t total = size_t(ds.n) * size_t(ds.d);
    ds.x.resize(total);
    std::vector<unsigned char> buf(size_t(1) << 20);
    const float scale = 1.0f / 255.0f;
    for (size_t off = 0; off < total;) {
        const size_t len = std::min(buf.size(), total - off);
        img.read(buf.data(), len);
        float * dst = ds.x.data() + off;
        for (size_t i = 0; i < len; ++i) dst[i] = float(buf[i]) * scale;
        off += len;
    }
    if (!partial) img.finish();

    std::vector<unsigned char> lb(n);
    lbl.read(lb.data(), n);
    if (!partial) lbl.finish();
    ds.y.assign(lb.begin(), lb.end()); // bytes: always < 256
    ds.task.assign(size_t(ds.n), 0);
    ds.n_classes = int(*std::max_element(lb.begin(), lb.end())) + 1;
    return ds;
}

Dataset load_fashion_mnist(const std::string & dir, const std::string & split, int64_t limit) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
        fail_io("Fashion-MNIST directory not found: " + dir, fashion_hints());
    }
    const std::string images = find_idx(dir, split + "-images-idx3-ubyte");
    const std::string labels = find_idx(dir, split + "-labels-idx1-ubyte");
    Dataset ds = load_idx(images, labels, limit);
    ds.n_classes = std::max(ds.n_classes, 10);
    return ds;
}

} // namespace moe::data
