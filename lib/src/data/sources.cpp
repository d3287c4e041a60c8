// data sources: Fashion-MNIST / IDX files (gzip or plain), CSV, the synthetic teacher tasks,
// and check_finite. HDF5 input lives in hdf5_source.cpp.
//
// Shapes: n = samples, d = features per sample, (C,H,W) = image geometry, T = tasks.
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "moe/core/error.hpp"
#include "moe/core/rng.hpp"
#include "moe/data/dataset.hpp"

namespace moe::data {

namespace {

[[noreturn]] void fail_io(const std::string & msg, std::vector<std::string> hints = {}) {
    throw Error(ErrorCode::io, msg, std::move(hints));
}
[[noreturn]] void fail_spec(const std::string & msg) { throw Error(ErrorCode::spec, msg); }

// Owns a gzFile (zlib reads plain files transparently).
struct GzFile {
    gzFile f = nullptr;
    explicit GzFile(const std::string & path) : f(gzopen(path.c_str(), "rb")) {
        if (!f) fail_io(path + ": cannot open (" + std::string(std::strerror(errno)) + ")");
    }
    ~GzFile() {
        if (f) gzclose(f);
    }
    GzFile(const GzFile &) = delete;
    GzFile & operator=(const GzFile &) = delete;
};

// zlib's gzerror() text without the "<path>: " prefix zlib puts in front of it.
std::string gz_reason(gzFile f, const std::string & path) {
    int errnum = 0;
    const char * msg = gzerror(f, &errnum);
    std::string m = msg ? msg : "unknown error";
    if (m.rfind(path + ": ", 0) == 0) m = m.substr(path.size() + 2);
    if (errnum == Z_DATA_ERROR) m = "corrupt gzip data: " + m;
    return m;
}

// Whole (decompressed) content of a file. Throws io when it cannot be opened or read, or when a
// gzip stream ends early.
std::vector<unsigned char> read_all(const std::string & path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) fail_io(path + ": is a directory, expected a file");
    if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec)) // a FIFO would block
        fail_io(path + ": not a regular file (a FIFO, device or socket), expected a file");
    GzFile g(path);
    gzbuffer(g.f, 1 << 18);
    std::vector<unsigned char> buf;
    const size_t chunk = size_t(1) << 22;
    for (;;) {
        const size_t old = buf.size();
        buf.resize(old + chunk);
        const int got = gzread(g.f, buf.data() + old, static_cast<unsigned>(chunk));
        if (got < 0) fail_io(path + ": read error (" + gz_reason(g.f, path) + ")");
        buf.resize(old + static_cast<size_t>(got));
        if (got == 0) break;
    }
    int errnum = 0;
    gzerror(g.f, &errnum);
    if (errnum == Z_BUF_ERROR) fail_io(path + ": truncated gzip stream (unexpected end of file)");
    return buf;
}

uint32_t be32(const unsigned char * p) {
    return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// Reads up to len bytes (fewer only at the end of the data). Throws io on a read error.
size_t read_some(GzFile & g, const std::string & path, unsigned char * dst, size_t len) {
    size_t total = 0;
    while (total < len) {
        const unsigned want = unsigned(std::min<size_t>(len - total, size_t(1) << 30));
        const int got = gzread(g.f, dst + total, want);
        if (got < 0) fail_io(path + ": read error (" + gz_reason(g.f, path) + ")");
        if (got == 0) break;
        total += size_t(got);
    }
    return total;
}

bool gz_cut_short(GzFile & g) {
    int errnum = 0;
    gzerror(g.f, &errnum);
    return errnum == Z_BUF_ERROR;
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
        if (std::filesystem::exists(p, ec)) fail_io(p + ": is not a regular file (a directory or a device), expected an IDX file");
    }
    fail_io("Fashion-MNIST file not found: " + base + "[.gz]", fashion_hints());
}

// ------------------------------------------------------------------------------ CSV helpers
std::string_view trim(std::string_view s) {
    size_t a = 0, b = s.size();
    while (a < b && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r')) ++a;
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r')) --b;
    return s.substr(a, b - a);
}

// Locale-independent full-cell number parse: "" when the cell is a number, else why it is not.
std::string parse_number(std::string_view s, double & v) {
    const std::string_view cell = s;
    if (!s.empty() && s[0] == '+') s.remove_prefix(1);
    if (s.empty()) return "expected a number, got an empty cell";
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ptr != s.data() + s.size() || (r.ec != std::errc() && r.ec != std::errc::result_out_of_range))
        return "expected a number, got '" + std::string(cell) + "'";
    if (r.ec == std::errc::result_out_of_range) return "number '" + std::string(cell) + "' is out of range";
    return "";
}

std::string where(const std::string & path, int64_t line, int64_t col) {
    return path + ":" + std::to_string(line) + ":" + std::to_string(col) + ": ";
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
Dataset load_idx(const std::string & images_path, const std::string & labels_path) {
    IdxStream img(images_path, 0x00000803u, 3);
    IdxStream lbl(labels_path, 0x00000801u, 1);
    const uint32_t n = img.dims()[0];
    if (lbl.dims()[0] != n) {
        fail_io(labels_path + ": " + std::to_string(lbl.dims()[0]) + " labels but " + images_path + " has " +
                std::to_string(n) + " images");
    }
    if (n == 0) fail_io(images_path + ": IDX file has no images");

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
    img.finish();

    std::vector<unsigned char> lb(n);
    lbl.read(lb.data(), n);
    lbl.finish();
    ds.y.assign(lb.begin(), lb.end()); // bytes: always < 256
    ds.task.assign(size_t(ds.n), 0);
    ds.n_classes = int(*std::max_element(lb.begin(), lb.end())) + 1;
    return ds;
}

Dataset load_fashion_mnist(const std::string & dir, const std::string & split) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
        fail_io("Fashion-MNIST directory not found: " + dir, fashion_hints());
    }
    const std::string images = find_idx(dir, split + "-images-idx3-ubyte");
    const std::string labels = find_idx(dir, split + "-labels-idx1-ubyte");
    Dataset ds = load_idx(images, labels);
    ds.n_classes = std::max(ds.n_classes, 10);
    return ds;
}

// ------------------------------------------------------------------------------ CSV

Dataset load_csv(const std::string & path, int label_column, int task_column, bool header) {
    if (task_column < -2) fail_spec("data.task_column: must be -2 (none), -1 (last) or a column index, got " +
                                    std::to_string(task_column));
    if (label_column < -1) fail_spec("data.label_column: must be -1 (last) or a column index, got " +
                                     std::to_string(label_column));
    const std::vector<unsigned char> raw = read_all(path);
    const std::string_view text(reinterpret_cast<const char *>(raw.data()), raw.size());

    int ncols = -1;   // columns per row, fixed by the first row (header or data)
    int lcol = -1, tcol = -1;
    bool header_pending = header;
    std::vector<double> row;
    std::vector<std::string_view> cells;
    Dataset ds;
    int max_label = -1;

    int64_t line_no = 0;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t eol = text.find('\n', pos);
        if (eol == std::string_view::npos) eol = text.size();
        const std::string_view line = text.substr(pos, eol - pos);
        pos = eol + 1;
        ++line_no;
        if (trim(line).empty()) continue;

        // split into cells, remembering each cell's 1-based column
        row.clear();
        cells.clear();
        int count = 0;
        size_t cpos = 0;
        for (;;) {
            size_t comma = line.find(',', cpos);
            if (comma == std::string_view::npos) comma = line.size();
            const std::string_view cell = trim(line.substr(cpos, comma - cpos));
            ++count;
            if (!header_pending) {
                double v = 0.0;
                if (std::string why = parse_number(cell, v); !why.empty()) {
                    const bool first_row = ncols < 0 && !header;
                    fail_io(where(path, line_no, count) + why +
                            (first_row ? " (if the first row is a header, set data.header to true)" : ""));
                }
                if (!std::isfinite(v)) {
                    fail_io(where(path, line_no, count) + "non-finite value '" + std::string(cell) + "'");
                }
                if (std::fabs(v) > double(std::numeric_limits<float>::max())) {
                    fail_io(where(path, line_no, count) + "value '" + std::string(cell) +
                            "' does not fit a 32-bit float (largest magnitude 3.4e38)");
                }
                row.push_back(v);
                cells.push_back(cell);
            }
            if (comma == line.size()) break;
            cpos = comma + 1;
        }

        if (ncols < 0) {
            ncols = count;
            const int extra = task_column == -2 ? 1 : 2;
            if (ncols < extra + 1) {
                fail_io(where(path, line_no, 1) + "need at least " + std::to_string(extra + 1) +
                        " columns (features, label" + (extra == 2 ? ", task" : "") + "), got " +
                        std::to_string(ncols));
            }
            tcol = task_column == -2 ? -1 : (task_column == -1 ? ncols - 1 : task_column);
            if (label_column == -1) lcol = (tcol == ncols - 1) ? ncols - 2 : ncols - 1;
            else lcol = label_column;
            if (lcol >= ncols) fail_spec("data.label_column: column " + std::to_string(lcol) + " is out of range: " +
                                         path + " has " + std::to_string(ncols) + " columns (0.." +
                                         std::to_string(ncols - 1) + ")");
            if (tcol >= ncols) fail_spec("data.task_column: column " + std::to_string(tcol) + " is out of range: " +
                                         path + " has " + std::to_string(ncols) + " columns (0.." +
                                         std::to_string(ncols - 1) + ")");
            if (tcol == lcol) fail_spec("data.label_column, data.task_column: both name column " + std::to_string(lcol) +
                                        " of " + path);
            ds.d = ncols - (tcol >= 0 ? 2 : 1);
        } else if (count != ncols) {
            fail_io(where(path, line_no, std::min(count, ncols) + 1) + "row has " + std::to_string(count) +
                    " columns, expected " + std::to_string(ncols));
        }
        if (header_pending) {
            header_pending = false;
            continue;
        }

        for (int c = 0; c < ncols; ++c) {
            const double v = row[c];
            if (c == lcol || c == tcol) {
                const double most = double(c == lcol ? kMaxLabel : kMaxTaskId);
                if (v < 0.0 || v != std::floor(v) || v > most) {
                    fail_io(where(path, line_no, c + 1) + (c == lcol ? "label" : "task id") + " must be an integer in 0.." +
                            std::to_string((int64_t)most) + ", got '" + std::string(cells[size_t(c)]) + "'");
                }
                if (c == lcol) {
                    ds.y.push_back(int32_t(v));
                    max_label = std::max(max_label, int(v));
                } else {
                    ds.task.push_back(int32_t(v));
                }
            } else {
                ds.x.push_back(float(v));
            }
        }
        if (tcol < 0) ds.task.push_back(0);
        ++ds.n;
    }
    if (ds.n == 0) fail_io(path + ": no data rows");
    ds.n_classes = max_label + 1;
    return ds;
}

// ------------------------------------------------------------------------------ synthetic

// Task t: mu_t = separation * unit vector (Rng(seed, "synthetic.task<t>.mean"));
// teacher W1 (hidden,dim) ~ N(0,1/dim), b1 (hidden) ~ N(0,0.25), W2 (n_classes,hidden) ~ N(0,1/hidden)
// from Rng(seed, "synthetic.task<t>.teacher"); x ~ N(mu_t, I); y = argmax W2 tanh(W1 (x-mu_t) + b1).
// Samples are interleaved: sample i*T + t belongs to task t, so a prefix (train_limit) keeps every
// task. Training draws use Rng(seed, "synthetic.train"), test draws Rng(seed, "synthetic.test").
void make_synthetic(Dataset & train, Dataset & test, const SyntheticConfig & cfg, uint64_t seed) {
    if (cfg.n_tasks < 1) fail_spec("synthetic.n_tasks must be >= 1");
    if (cfg.dim < 1) fail_spec("synthetic.dim must be >= 1");
    if (cfg.n_classes < 2) fail_spec("synthetic.n_classes must be >= 2");
    if (cfg.hidden < 1) fail_spec("synthetic.hidden must be >= 1");
    if (cfg.n_train < 1) fail_spec("synthetic.n_train must be >= 1");
    if (cfg.n_test < 0) fail_spec("synthetic.n_test must be >= 0");
    if (!(cfg.separation >= 0.0) || !std::isfinite(cfg.separation)) fail_spec("synthetic.separation must be >= 0");

    const int T = cfg.n_tasks, D = cfg.dim, Hd = cfg.hidden, K = cfg.n_classes;
    std::vector<double> mu(size_t(T) * D);            // (T,D)
    std::vector<double> w1(size_t(T) * Hd * D);       // (T,Hd,D)
    std::vector<double> b1(size_t(T) * Hd);           // (T,Hd)
    std::vector<double> w2(size_t(T) * K * Hd);       // (T,K,Hd)
    for (int t = 0; t < T; ++t) {
        const std::string tn = "synthetic.task" + std::to_string(t);
        Rng mr(seed, tn + ".mean");
        double * m = &mu[size_t(t) * D];
        double norm2 = 0.0;
        while (norm2 < 1e-12) {
            norm2 = 0.0;
            for (int j = 0; j < D; ++j) {
                m[j] = mr.normal();
                norm2 += m[j] * m[j];
            }
        }
        const double s = cfg.separation / std::sqrt(norm2);
        for (int j = 0; j < D; ++j) m[j] *= s;

        Rng tr(seed, tn + ".teacher");
        const double s1 = 1.0 / std::sqrt(double(D)), s2 = 1.0 / std::sqrt(double(Hd));
        for (size_t i = 0; i < size_t(Hd) * D; ++i) w1[size_t(t) * Hd * D + i] = s1 * tr.normal();
        for (int i = 0; i < Hd; ++i) b1[size_t(t) * Hd + i] = 0.5 * tr.normal();
        for (size_t i = 0; i < size_t(K) * Hd; ++i) w2[size_t(t) * K * Hd + i] = s2 * tr.normal();
    }

    auto generate = [&](Dataset & ds, int per_task, const char * stream) {
        ds = Dataset{};
        ds.d = D;
        ds.n_classes = K;
        ds.n = int64_t(per_task) * T;
        ds.x.resize(size_t(ds.n) * D);
        ds.y.resize(size_t(ds.n));
        ds.task.resize(size_t(ds.n));
        Rng rng(seed, stream);
        std::vector<double> z(D), h(Hd);
        for (int64_t i = 0; i < per_task; ++i) {
            for (int t = 0; t < T; ++t) {
                const int64_t s = i * T + t;
                const double * m = &mu[size_t(t) * D];
                float * xs = &ds.x[size_t(s) * D];
                for (int j = 0; j < D; ++j) {
                    z[j] = rng.normal();
                    xs[j] = float(m[j] + z[j]);
                }
                const double * W1 = &w1[size_t(t) * Hd * D];
                const double * B1 = &b1[size_t(t) * Hd];
                for (int k = 0; k < Hd; ++k) {
                    double a = B1[k];
                    for (int j = 0; j < D; ++j) a += W1[size_t(k) * D + j] * z[j];
                    h[k] = std::tanh(a);
                }
                const double * W2 = &w2[size_t(t) * K * Hd];
                int best = 0;
                double best_v = -1e300;
                for (int c = 0; c < K; ++c) {
                    double a = 0.0;
                    for (int k = 0; k < Hd; ++k) a += W2[size_t(c) * Hd + k] * h[k];
                    if (a > best_v) {
                        best_v = a;
                        best = c;
                    }
                }
                ds.y[s] = best;
                ds.task[s] = t;
            }
        }
    };
    generate(train, cfg.n_train, "synthetic.train");
    generate(test, cfg.n_test, "synthetic.test");
}

// ------------------------------------------------------------------------------ checks

void check_finite(const Dataset & ds, const std::string & what) {
    const size_t d = size_t(ds.d);
    for (size_t i = 0; i < ds.x.size(); ++i) {
        if (!std::isfinite(ds.x[i])) {
            const size_t s = d ? i / d : 0;
            fail_io(what + ": non-finite feature in sample " + std::to_string(s) + " (feature " +
                    std::to_string(d ? i % d : i) + ", value " + std::to_string(ds.x[i]) + ")");
        }
    }
}

} // namespace moe::data
