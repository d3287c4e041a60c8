// run_file.cpp — the HDF5 run file (moe/io/run_file.hpp), written with the HDF5 C API.
//
// Every hid_t is owned by an RAII handle; HDF5's automatic error printing is switched off and
// every failure becomes moe::Error(ErrorCode::io) naming the file, the object and (when HDF5
// recorded one) the innermost HDF5 error description.
//
// The writer builds the file in memory (HDF5's core driver without a backing store) and writes
// the finished image to the temporary file itself on commit(). HDF5 therefore never writes to the
// disk: a full disk or an I/O error is a plain POSIX write() failure we report and clean up after.
// (With the sec2 driver a failed metadata flush makes H5Fclose fail and leaves the file id open;
// HDF5 1.10 then crashes when it closes that id again at exit.)
#include "moe/io/run_file.hpp"

#include <hdf5.h>
#include <zlib.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <type_traits>

#include "moe/core/error.hpp"
#include "moe/core/log.hpp"

#ifndef MOE_VERSION
#define MOE_VERSION "0.0.0"
#endif
#ifndef MOE_GIT
#define MOE_GIT "unknown"
#endif

namespace fs = std::filesystem;

namespace moe::io {

namespace {

// ------------------------------------------------------------------------------ handles

template <herr_t (*Close)(hid_t)>
class Handle {
  public:
    Handle() = default;
    explicit Handle(hid_t id) : id_(id) {}
    ~Handle() { reset(); }
    Handle(const Handle &) = delete;
    Handle & operator=(const Handle &) = delete;
    Handle(Handle && o) noexcept : id_(o.id_) { o.id_ = H5I_INVALID_HID; }
    Handle & operator=(Handle && o) noexcept {
        if (this != &o) {
            reset();
            id_ = o.id_;
            o.id_ = H5I_INVALID_HID;
        }
        return *this;
    }
    hid_t get() const { return id_; }
    bool valid() const { return id_ >= 0; }
    explicit operator bool() const { return valid(); }
    herr_t close() { // explicit close, reporting the status
        herr_t st = 0;
        if (id_ >= 0) st = Close(id_);
        id_ = H5I_INVALID_HID;
        return st;
    }
    void reset() { (void)close(); }

  private:
    hid_t id_ = H5I_INVALID_HID;
};

using File = Handle<H5Fclose>;
using Group = Handle<H5Gclose>;
using Dataset = Handle<H5Dclose>;
using Space = Handle<H5Sclose>;
using Type = Handle<H5Tclose>;
using Attr = Handle<H5Aclose>;
using Plist = Handle<H5Pclose>;
using Object = Handle<H5Oclose>;

void quiet_hdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

// Innermost description on HDF5's error stack (then cleared); "" if none.
herr_t walk_cb(unsigned n, const H5E_error2_t * e, void * client) {
    auto * s = static_cast<std::string *>(client);
    if (n == 0 && e && e->desc) *s = e->desc;
    return 0;
}
// One line: the system's message when HDF5 quotes one ("..., error message = 'No space left on
// device', buf = 0x..."), else the description with line breaks folded.
std::string condense_hdf5_desc(std::string s) {
    const std::string key = "error message = '";
    if (auto a = s.find(key); a != std::string::npos) {
        a += key.size();
        if (auto b = s.find('\'', a); b != std::string::npos) {
            std::string head = s.substr(0, s.find_first_of(":,\n"));
            return head + ": " + s.substr(a, b - a);
        }
    }
    for (auto & c : s)
        if (c == '\n' || c == '\r') c = ' ';
    return s;
}
std::string hdf5_detail() {
    std::string s;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &s);
    H5Eclear2(H5E_DEFAULT);
    return s.empty() ? std::string() : " (HDF5: " + condense_hdf5_desc(s) + ")";
}

[[noreturn]] void fail(const std::string & msg) { throw Error(ErrorCode::io, msg); }
[[noreturn]] void fail_h5(const std::string & msg) { throw Error(ErrorCode::io, msg + hdf5_detail()); }

// ------------------------------------------------------------------------------ paths

// "a/b/c", "/a/b/" -> "a/b/c"; "/" or "" -> "" (root). Empty components are rejected.
std::string norm_path(const std::string & file, const std::string & path) {
    std::string out;
    size_t i = 0;
    while (i < path.size() && path[i] == '/') ++i;  // leading '/' = root
    size_t end = path.size();
    while (end > i && path[end - 1] == '/') --end; // trailing '/'
    while (i < end) {
        size_t j = path.find('/', i);
        if (j == std::string::npos || j > end) j = end;
        std::string comp = path.substr(i, j - i);
        if (comp.empty() || comp == "." || comp == "..") fail(file + ": invalid object path '" + path + "'");
        if (!out.empty()) out += '/';
        out += comp;
        i = j + 1;
    }
    return out;
}

std::string h5name(const std::string & norm) { return "/" + norm; }
std::string shown(const std::string & norm) { return norm.empty() ? std::string("/") : norm; }

std::vector<std::string> split(const std::string & norm) {
    std::vector<std::string> parts;
    if (norm.empty()) return parts;
    size_t start = 0;
    while (true) {
        size_t p = norm.find('/', start);
        parts.push_back(norm.substr(start, p == std::string::npos ? std::string::npos : p - start));
        if (p == std::string::npos) break;
        start = p + 1;
    }
    return parts;
}

// Does the object at `norm` exist? Walks component by component so that a missing (or
// non-group) intermediate is "false", never an HDF5 error.
bool exists(hid_t file, const std::string & norm) {
    if (norm.empty()) return true;
    auto parts = split(norm);
    std::string prefix;
    for (size_t i = 0; i < parts.size(); ++i) {
        prefix += "/" + parts[i];
        htri_t e = H5Lexists(file, prefix.c_str(), H5P_DEFAULT);
        if (e <= 0) {
            H5Eclear2(H5E_DEFAULT);
            return false;
        }
        if (i + 1 < parts.size()) {
            Object o(H5Oopen(file, prefix.c_str(), H5P_DEFAULT));
            if (!o) {
                H5Eclear2(H5E_DEFAULT);
                return false;
            }
            if (H5Iget_type(o.get()) != H5I_GROUP) return false;
        }
    }
    htri_t e = H5Oexists_by_name(file, h5name(norm).c_str(), H5P_DEFAULT);
    if (e <= 0) H5Eclear2(H5E_DEFAULT);
    return e > 0;
}

std::string shape_str(const std::vector<int64_t> & shape) {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ",";
        s += std::to_string(shape[i]);
    }
    return s + ")";
}

// ------------------------------------------------------------------------------ types

Type vlen_utf8_type() {
    Type t(H5Tcopy(H5T_C_S1));
    if (!t || H5Tset_size(t.get(), H5T_VARIABLE) < 0 || H5Tset_cset(t.get(), H5T_CSET_UTF8) < 0)
        fail_h5("cannot create the HDF5 string type");
    return t;
}

Plist lcpl_intermediate() {
    Plist p(H5Pcreate(H5P_LINK_CREATE));
    if (!p || H5Pset_create_intermediate_group(p.get(), 1) < 0 || H5Pset_char_encoding(p.get(), H5T_CSET_UTF8) < 0)
        fail_h5("cannot create an HDF5 link-creation property list");
    return p;
}

std::string utc_now_iso8601() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// Read a string (variable- or fixed-length) from an attribute or a dataset. `is_attr` picks
// H5Aread/H5Dread. `what` names the object for messages.
std::string read_string_obj(hid_t obj, bool is_attr, const std::string & what) {
    Type ftype(is_attr ? H5Aget_type(obj) : H5Dget_type(obj));
    Space space(is_attr ? H5Aget_space(obj) : H5Dget_space(obj));
    if (!ftype || !space) fail_h5(what + ": cannot get type/dataspace");
    if (H5Tget_class(ftype.get()) != H5T_STRING) fail(what + ": is not a string");
    hssize_t npoints = H5Sget_simple_extent_npoints(space.get());
    if (npoints != 1) fail(what + ": expected a single string, found " + std::to_string(npoints) + " elements");
    htri_t vl = H5Tis_variable_str(ftype.get());
    if (vl < 0) fail_h5(what + ": cannot inspect the string type");
    if (vl > 0) {
        Type mtype(H5Tcopy(H5T_C_S1));
        if (!mtype || H5Tset_size(mtype.get(), H5T_VARIABLE) < 0 ||
            H5Tset_cset(mtype.get(), H5Tget_cset(ftype.get())) < 0)
            fail_h5(what + ": cannot create the memory string type");
        char * p = nullptr;
        herr_t st = is_attr ? H5Aread(obj, mtype.get(), &p) : H5Dread(obj, mtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &p);
        if (st < 0) fail_h5(what + ": cannot read the string");
        std::string out = p ? std::string(p) : std::string();
        if (p) H5Dvlen_reclaim(mtype.get(), space.get(), H5P_DEFAULT, &p);
        return out;
    }
    size_t sz = H5Tget_size(ftype.get());
    if (sz == 0) fail_h5(what + ": cannot get the string size");
    Type mtype(H5Tcopy(ftype.get()));
    if (!mtype) fail_h5(what + ": cannot copy the string type");
    std::vector<char> buf(sz + 1, '\0');
    herr_t st = is_attr ? H5Aread(obj, mtype.get(), buf.data())
                        : H5Dread(obj, mtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data());
    if (st < 0) fail_h5(what + ": cannot read the string");
    std::string out(buf.data(), sz);
    size_t end = out.find('\0');
    if (end != std::string::npos) out.resize(end);
    // space padding (H5T_STR_SPACEPAD)
    if (H5Tget_strpad(ftype.get()) == H5T_STR_SPACEPAD)
        while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

std::string format_double(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    // prefer the shortest representation that round-trips
    for (int prec = 1; prec <= 17; ++prec) {
        char b2[64];
        std::snprintf(b2, sizeof b2, "%.*g", prec, v);
        if (std::strtod(b2, nullptr) == v) return b2;
    }
    return buf;
}

void fsync_path(const std::string & path, bool directory, const std::string & what) {
    int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
    if (fd < 0) {
        if (directory) return; // best effort: some filesystems do not allow opening directories
        fail(what + ": cannot open " + path + " to sync it: " + std::strerror(errno));
    }
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0 && !(directory && (err == EINVAL || err == EBADF || err == EROFS)))
        fail(what + ": fsync of " + path + " failed: " + std::strerror(err));
}

// ------------------------------------------------------------------------------ integrity header
//
// The first kRunHeaderBytes of a run file are HDF5's user block (libhdf5 and h5py skip it). The
// writer fills it with four text lines, zero-padded:
//   moe-lab run file\nformat 2\nbytes <file size>\ncrc32 <8 hex digits of bytes 512..end>\n
// The reader checks size and CRC before libhdf5 sees a byte, and then opens exactly the bytes it
// checked, from memory. A truncated, bit-flipped or otherwise damaged run file is therefore
// reported by name instead of reaching libhdf5 1.10, which can crash or loop forever on corrupt
// metadata (tests/fuzz/RESULTS.md).

constexpr size_t kRunHeaderBytes = 512;
constexpr const char * kHeaderMagic = "moe-lab run file\n";

uint32_t crc32_of(const unsigned char * p, size_t n) {
    uLong c = ::crc32(0L, Z_NULL, 0);
    while (n > 0) { // zlib's length is a uInt
        const uInt chunk = static_cast<uInt>(std::min<size_t>(n, size_t(1) << 30));
        c = ::crc32(c, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return static_cast<uint32_t>(c);
}

void fill_header(std::vector<unsigned char> & image) {
    char text[kRunHeaderBytes] = {};
    const uint32_t crc = crc32_of(image.data() + kRunHeaderBytes, image.size() - kRunHeaderBytes);
    const int n = std::snprintf(text, sizeof text, "%sformat %d\nbytes %zu\ncrc32 %08x\n", kHeaderMagic, kRunFormatVersion,
                                image.size(), static_cast<unsigned>(crc));
    if (n <= 0 || size_t(n) >= sizeof text) fail("internal: run-file header does not fit");
    std::memcpy(image.data(), text, sizeof text);
}

bool check_disabled() {
    const char * e = std::getenv("MOE_RUN_FILE_CHECK");
    return e && std::string(e) == "0";
}

// Reads the whole file and checks the header; returns the bytes libhdf5 may open.
std::vector<unsigned char> read_checked(const std::string & path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) fail(path + ": cannot open: " + std::strerror(errno));
    std::vector<unsigned char> bytes(static_cast<size_t>(std::max<std::streamoff>(in.tellg(), 0)));
    in.seekg(0);
    if (!in.read(reinterpret_cast<char *>(bytes.data()), std::streamsize(bytes.size())))
        fail(path + ": read error: " + std::strerror(errno));
    const std::string hint = "; set MOE_RUN_FILE_CHECK=0 to read it without the check";
    static const unsigned char hdf5_sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    const size_t magic = std::strlen(kHeaderMagic);
    if (bytes.size() < magic || std::memcmp(bytes.data(), kHeaderMagic, magic) != 0) {
        if (bytes.size() >= 8 && std::memcmp(bytes.data(), hdf5_sig, 8) == 0)
            fail(path + ": HDF5 file without moe-lab's integrity header (not written by moe-lab, or by a version before "
                        "run-file format 2)" + hint);
        fail(path + ": not a moe-lab run file (no moe-lab header; truncated, corrupt or another kind of file)");
    }
    if (bytes.size() < kRunHeaderBytes)
        fail(path + ": truncated run file: " + std::to_string(bytes.size()) + " bytes, shorter than its header");
    const std::string text(reinterpret_cast<const char *>(bytes.data()),
                           strnlen(reinterpret_cast<const char *>(bytes.data()), kRunHeaderBytes));
    int version = 0;
    unsigned long long size = 0;
    unsigned crc = 0;
    if (std::sscanf(text.c_str() + magic, "format %d\nbytes %llu\ncrc32 %8x\n", &version, &size, &crc) != 3)
        fail(path + ": damaged moe-lab run-file header (corrupt file)");
    if (version > kRunFormatVersion)
        fail(path + ": run-file format " + std::to_string(version) + " is newer than this moe-lab reads (" +
             std::to_string(kRunFormatVersion) + "); update moe-lab");
    if (size != bytes.size())
        fail(path + ": " + (size > bytes.size() ? "truncated" : "damaged") + " run file: " + std::to_string(bytes.size()) +
             " bytes, its header says " + std::to_string(size) + (size > bytes.size() ? " (an interrupted copy?)" : ""));
    const uint32_t got = crc32_of(bytes.data() + kRunHeaderBytes, bytes.size() - kRunHeaderBytes);
    if (got != crc) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "stored crc32 %08x, computed %08x", crc, static_cast<unsigned>(got));
        fail(path + ": run file checksum mismatch (" + buf +
             "): the file is corrupt, or was changed after moe-lab wrote it (e.g. by h5py in 'r+' or 'a' mode)" + hint);
    }
    return bytes;
}

} // namespace

// Temporary files being written now, for remove_live_temporaries(): a process leaving at once (a
// second SIGINT) unlinks them with async-signal-safe calls only. A slot: 0 free, 1 being filled,
// 2 live; more than kLive at once (never today) are not tracked.
namespace {
constexpr int kLive = 16;
struct LiveSlot {
    std::atomic<int> state{0};
    char path[4096];
};
LiveSlot g_live[kLive];
static_assert(std::atomic<int>::is_always_lock_free);

int live_add(const std::string & p) {
    if (p.size() >= sizeof g_live[0].path) return -1;
    for (int i = 0; i < kLive; ++i) {
        int expect = 0;
        if (g_live[i].state.compare_exchange_strong(expect, 1)) {
            std::memcpy(g_live[i].path, p.c_str(), p.size() + 1);
            g_live[i].state.store(2, std::memory_order_release);
            return i;
        }
    }
    return -1;
}
void live_remove(int & slot) {
    if (slot >= 0) g_live[slot].state.store(0, std::memory_order_release);
    slot = -1;
}
} // namespace

void remove_live_temporaries() noexcept {
    for (auto & s : g_live)
        if (s.state.load(std::memory_order_acquire) == 2) ::unlink(s.path);
}

std::string temp_path_for(const std::string & final_path) {
    return final_path + ".tmp-" + std::to_string(static_cast<long>(::getpid()));
}

void remove_stale_temporaries(const std::string & out_path) {
    const fs::path out(out_path);
    fs::path dir = out.parent_path();
    if (dir.empty()) dir = ".";
    const std::string base = out.filename().string();
    std::error_code ec;
    for (const auto & ent : fs::directory_iterator(dir, ec)) {
        const std::string f = ent.path().filename().string();
        for (const std::string & pre : {base + ".tmp-", base + ".ckpt.tmp-"}) {
            if (f.size() <= pre.size() || f.compare(0, pre.size(), pre) != 0) continue;
            const std::string pid_s = f.substr(pre.size());
            if (pid_s.find_first_not_of("0123456789") != std::string::npos) continue;
            const long pid = std::strtol(pid_s.c_str(), nullptr, 10);
            if (pid <= 0 || pid == (long)::getpid() || ::kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
            std::error_code ec2;
            if (fs::remove(ent.path(), ec2)) log_info("removed " + ent.path().string() + " (left by a killed run)");
        }
    }
}

// ============================================================================== RunWriter

struct RunWriter::Impl {
    struct Series1 {
        std::vector<double> buf;
    };
    struct Series2 {
        int64_t width = 0;
        std::vector<float> buf; // rows * width
    };

    std::string final_path, tmp_path;
    File file;     // in memory (core driver, no backing store)
    int fd = -1;   // the temporary file on disk, created by the constructor, filled by commit()
    int live = -1; // its slot among the live temporaries
    std::map<std::string, Series1> s1; // by normalised path
    std::map<std::string, Series2> s2;
    bool committed = false;

    hid_t fid() const {
        if (!file) fail(final_path + ": run file writer is already " + (committed ? "committed" : "closed"));
        return file.get();
    }
    std::string obj(const std::string & norm) const { return final_path + ": " + shown(norm); }

    void remove_if_exists(const std::string & norm) {
        if (norm.empty()) fail(final_path + ": cannot overwrite the root group");
        if (exists(fid(), norm)) {
            if (H5Ldelete(fid(), h5name(norm).c_str(), H5P_DEFAULT) < 0) fail_h5(obj(norm) + ": cannot delete the existing object");
        }
    }

    // Create (replacing) a dataset of `ftype` with the given shape and write `data` as `mtype`.
    void write_dataset(const std::string & path, hid_t ftype, hid_t mtype, const void * data, size_t n,
                       const std::vector<int64_t> & shape) {
        std::string norm = norm_path(final_path, path);
        size_t expect = 1;
        for (auto d : shape) {
            if (d < 0) fail(obj(norm) + ": negative dimension in shape " + shape_str(shape));
            expect *= static_cast<size_t>(d);
        }
        if (expect != n)
            fail(obj(norm) + ": shape " + shape_str(shape) + " has " + std::to_string(expect) + " elements but " +
                 std::to_string(n) + " values were given");
        remove_if_exists(norm);
        std::vector<hsize_t> dims(shape.begin(), shape.end());
        Space space(shape.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
        if (!space) fail_h5(obj(norm) + ": cannot create the dataspace");
        Plist lcpl = lcpl_intermediate();
        Dataset ds(H5Dcreate2(fid(), h5name(norm).c_str(), ftype, space.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT));
        if (!ds) fail_h5(obj(norm) + ": cannot create the dataset");
        if (n > 0 && H5Dwrite(ds.get(), mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
            fail_h5(obj(norm) + ": cannot write the dataset");
    }

    // Append `rows` rows (each `width` elements; width 0 = 1-D series) to a chunked,
    // unlimited dataset, creating it if needed.
    void append_dataset(const std::string & norm, hid_t ftype, hid_t mtype, const void * data, hsize_t rows,
                        hsize_t width) {
        const int rank = width == 0 ? 1 : 2;
        Dataset ds;
        if (exists(fid(), norm)) {
            ds = Dataset(H5Dopen2(fid(), h5name(norm).c_str(), H5P_DEFAULT));
            if (!ds) fail_h5(obj(norm) + ": cannot open the series");
        } else {
            hsize_t dims[2] = {0, width};
            hsize_t maxdims[2] = {H5S_UNLIMITED, width};
            Space space(H5Screate_simple(rank, dims, maxdims));
            if (!space) fail_h5(obj(norm) + ": cannot create the dataspace");
            hsize_t chunk[2] = {1024, width};
            if (rank == 2) {
                hsize_t per_row = std::max<hsize_t>(1, width * 4);
                chunk[0] = std::clamp<hsize_t>((256 * 1024) / per_row, 1, 1024);
            }
            Plist dcpl(H5Pcreate(H5P_DATASET_CREATE));
            if (!dcpl || H5Pset_chunk(dcpl.get(), rank, chunk) < 0) fail_h5(obj(norm) + ": cannot set chunking");
            Plist lcpl = lcpl_intermediate();
            ds = Dataset(H5Dcreate2(fid(), h5name(norm).c_str(), ftype, space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT));
            if (!ds) fail_h5(obj(norm) + ": cannot create the series");
        }
        Space fspace(H5Dget_space(ds.get()));
        if (!fspace) fail_h5(obj(norm) + ": cannot get the dataspace");
        int frank = H5Sget_simple_extent_ndims(fspace.get());
        if (frank != rank)
            fail(obj(norm) + ": existing dataset has rank " + std::to_string(frank) + ", series expects rank " +
                 std::to_string(rank));
        hsize_t cur[2] = {0, 0};
        H5Sget_simple_extent_dims(fspace.get(), cur, nullptr);
        if (rank == 2 && cur[1] != width)
            fail(obj(norm) + ": existing dataset has width " + std::to_string(cur[1]) + ", rows have width " +
                 std::to_string(width));
        if (rows == 0) return;
        hsize_t newdims[2] = {cur[0] + rows, width};
        if (H5Dset_extent(ds.get(), newdims) < 0) fail_h5(obj(norm) + ": cannot extend the series");
        fspace = Space(H5Dget_space(ds.get()));
        if (!fspace) fail_h5(obj(norm) + ": cannot get the dataspace");
        hsize_t start[2] = {cur[0], 0};
        hsize_t count[2] = {rows, width};
        if (H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr) < 0)
            fail_h5(obj(norm) + ": cannot select the appended rows");
        Space mspace(H5Screate_simple(rank, count, nullptr));
        if (!mspace) fail_h5(obj(norm) + ": cannot create the memory dataspace");
        if (H5Dwrite(ds.get(), mtype, mspace.get(), fspace.get(), H5P_DEFAULT, data) < 0)
            fail_h5(obj(norm) + ": cannot append to the series");
    }

    void flush_series(const std::string & norm) {
        if (auto it = s1.find(norm); it != s1.end() && !it->second.buf.empty()) {
            append_dataset(norm, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, it->second.buf.data(), it->second.buf.size(), 0);
            it->second.buf.clear();
        } else if (it != s1.end() && !exists(fid(), norm)) {
            append_dataset(norm, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, nullptr, 0, 0);
        }
        if (auto it = s2.find(norm); it != s2.end()) {
            auto & s = it->second;
            hsize_t rows = s.width > 0 ? s.buf.size() / static_cast<size_t>(s.width) : 0;
            if (rows > 0 || !exists(fid(), norm)) {
                append_dataset(norm, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, s.buf.data(), rows, static_cast<hsize_t>(s.width));
                s.buf.clear();
            }
        }
    }

    void flush_all() {
        for (auto & [norm, s] : s1) flush_series(norm);
        for (auto & [norm, s] : s2) flush_series(norm);
        if (H5Fflush(fid(), H5F_SCOPE_LOCAL) < 0) fail_h5(final_path + ": cannot flush the run file");
    }

    // Open (creating a group if nothing exists there) the object at `norm` for attributes.
    Object open_for_attr(const std::string & norm) {
        if (s1.count(norm) || s2.count(norm)) flush_series(norm); // make a pending series exist
        if (!exists(fid(), norm)) {
            Plist lcpl = lcpl_intermediate();
            Group g(H5Gcreate2(fid(), h5name(norm).c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT));
            if (!g) fail_h5(obj(norm) + ": cannot create the group");
        }
        Object o(H5Oopen(fid(), h5name(norm).c_str(), H5P_DEFAULT));
        if (!o) fail_h5(obj(norm) + ": cannot open the object");
        return o;
    }

    Attr fresh_attr(hid_t o, const std::string & norm, const std::string & name, hid_t ftype, hid_t space) {
        htri_t e = H5Aexists(o, name.c_str());
        if (e < 0) fail_h5(obj(norm) + ": cannot check attribute '" + name + "'");
        if (e > 0 && H5Adelete(o, name.c_str()) < 0) fail_h5(obj(norm) + ": cannot replace attribute '" + name + "'");
        Attr a(H5Acreate2(o, name.c_str(), ftype, space, H5P_DEFAULT, H5P_DEFAULT));
        if (!a) fail_h5(obj(norm) + ": cannot create attribute '" + name + "'");
        return a;
    }

    void attr_string(hid_t o, const std::string & norm, const std::string & name, const std::string & value) {
        Type t = vlen_utf8_type();
        Space sp(H5Screate(H5S_SCALAR));
        if (!sp) fail_h5(obj(norm) + ": cannot create a scalar dataspace");
        Attr a = fresh_attr(o, norm, name, t.get(), sp.get());
        const char * p = value.c_str();
        if (H5Awrite(a.get(), t.get(), &p) < 0) fail_h5(obj(norm) + ": cannot write attribute '" + name + "'");
    }

    template <typename V>
    void attr_scalar(hid_t o, const std::string & norm, const std::string & name, hid_t ftype, hid_t mtype, V value) {
        Space sp(H5Screate(H5S_SCALAR));
        if (!sp) fail_h5(obj(norm) + ": cannot create a scalar dataspace");
        Attr a = fresh_attr(o, norm, name, ftype, sp.get());
        if (H5Awrite(a.get(), mtype, &value) < 0) fail_h5(obj(norm) + ": cannot write attribute '" + name + "'");
    }

    // Close the file; returns false on failure (never throws).
    bool close_file() noexcept {
        if (!file) return true;
        return file.close() >= 0;
    }
    // Close the temporary file's descriptor; returns the errno of a failed close (0 = ok).
    int close_fd() noexcept {
        if (fd < 0) return 0;
        const int rc = ::close(fd);
        fd = -1;
        return rc == 0 ? 0 : errno;
    }
    // Everything without commit(): the in-memory file, the descriptor and the temporary file.
    void discard() noexcept {
        close_file();
        close_fd();
        ::unlink(tmp_path.c_str());
        live_remove(live);
        H5Eclear2(H5E_DEFAULT);
    }

    // Write all of buf to fd (short writes and EINTR retried); throws naming the temp file.
    void write_image(const std::vector<unsigned char> & buf) {
        size_t done = 0;
        while (done < buf.size()) {
            const ssize_t n = ::write(fd, buf.data() + done, buf.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                const int err = n < 0 ? errno : ENOSPC;
                fail(final_path + ": cannot write temporary file " + tmp_path + ": " + std::strerror(err) + " (" +
                     std::to_string(done) + " of " + std::to_string(buf.size()) + " bytes written)");
            }
            done += size_t(n);
        }
    }
};

// An existing output must be a regular file: the final rename would replace a FIFO, a device
// node or a symbolic link by the new file (as root, -o /dev/null would replace /dev/null).
static void check_output_target(const std::string & path, const std::string & pre) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || S_ISREG(st.st_mode)) return; // absent, or a regular file
    std::string kind = "not a regular file";
    if (S_ISDIR(st.st_mode)) kind = "a directory";
    else if (S_ISFIFO(st.st_mode)) kind = "a FIFO";
    else if (S_ISCHR(st.st_mode)) kind = "a character device";
    else if (S_ISBLK(st.st_mode)) kind = "a block device";
    else if (S_ISSOCK(st.st_mode)) kind = "a socket";
    else if (S_ISLNK(st.st_mode)) {
        std::error_code ec;
        const auto to = fs::read_symlink(path, ec);
        kind = "a symbolic link" + (ec ? std::string() : " (to " + to.string() + ")") + ", which the write would replace";
    }
    throw Error(ErrorCode::io, pre + "it exists and is " + kind + "; give the path of a new or a regular file");
}

RunWriter::RunWriter(const std::string & final_path, const std::string & tool)
    : impl_(std::make_unique<Impl>()), final_path_(final_path), tmp_path_(temp_path_for(final_path)) {
    quiet_hdf5();
    const std::string pre = "cannot write run file " + final_path + ": ";
    if (final_path.empty()) fail("cannot write run file: empty path");
    fs::path fp(final_path);
    std::string dir = fp.parent_path().string();
    if (dir.empty()) dir = ".";
    std::error_code ec;
    if (!fs::exists(dir, ec)) fail(pre + "directory " + dir + " does not exist");
    if (!fs::is_directory(dir, ec)) fail(pre + dir + " is not a directory");
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
        fail(pre + "directory " + dir + " is not writable (" + std::strerror(errno) + ")");
    if (fs::is_directory(fp, ec)) fail(pre + "it is an existing directory");
    check_output_target(final_path, pre);

    impl_->final_path = final_path;
    impl_->tmp_path = tmp_path_;
    // The temporary file is created now, so an unwritable location (read-only file system,
    // immutable directory, no free inode) fails before any work is done; commit() fills it.
    // Tracked before it exists: a second signal between open() and the tracking would leave it.
    impl_->live = live_add(tmp_path_);
    impl_->fd = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (impl_->fd < 0) {
        const int err = errno;
        live_remove(impl_->live);
        fail(pre + "cannot create temporary file " + tmp_path_ + ": " + std::strerror(err));
    }
    try {
        Plist fapl(H5Pcreate(H5P_FILE_ACCESS));
        if (!fapl || H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG) < 0 ||
            H5Pset_fapl_core(fapl.get(), size_t(1) << 20, /*backing_store=*/0) < 0)
            fail_h5(pre + "cannot create the file-access property list");
        Plist fcpl(H5Pcreate(H5P_FILE_CREATE)); // the user block holds the integrity header
        if (!fcpl || H5Pset_userblock(fcpl.get(), kRunHeaderBytes) < 0)
            fail_h5(pre + "cannot create the file-creation property list");
        impl_->file = File(H5Fcreate(tmp_path_.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()));
        if (!impl_->file) fail_h5(pre + "cannot create the in-memory HDF5 file");
        hid_t root = impl_->fid();
        impl_->attr_string(root, "", "format", kRunFormat);
        impl_->attr_scalar<int>(root, "", "format_version", H5T_STD_I32LE, H5T_NATIVE_INT, kRunFormatVersion);
        impl_->attr_string(root, "", "tool", tool);
        impl_->attr_string(root, "", "version", MOE_VERSION);
        impl_->attr_string(root, "", "git", MOE_GIT);
        impl_->attr_string(root, "", "created", utc_now_iso8601());
    } catch (...) {
        impl_->discard();
        throw;
    }
}

RunWriter::~RunWriter() {
    if (!impl_ || impl_->committed) return;
    impl_->discard();
}

void RunWriter::write_string(const std::string & path, const std::string & value) {
    std::string norm = norm_path(final_path_, path);
    impl_->remove_if_exists(norm);
    Type t = vlen_utf8_type();
    Space sp(H5Screate(H5S_SCALAR));
    if (!sp) fail_h5(impl_->obj(norm) + ": cannot create a scalar dataspace");
    Plist lcpl = lcpl_intermediate();
    Dataset ds(H5Dcreate2(impl_->fid(), h5name(norm).c_str(), t.get(), sp.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT));
    if (!ds) fail_h5(impl_->obj(norm) + ": cannot create the string dataset");
    const char * p = value.c_str();
    if (H5Dwrite(ds.get(), t.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &p) < 0)
        fail_h5(impl_->obj(norm) + ": cannot write the string dataset");
}

void RunWriter::write_array(const std::string & path, std::span<const float> data, std::vector<int64_t> shape) {
    impl_->write_dataset(path, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, data.data(), data.size(), shape);
}
void RunWriter::write_array(const std::string & path, std::span<const double> data, std::vector<int64_t> shape) {
    impl_->write_dataset(path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, data.data(), data.size(), shape);
}
void RunWriter::write_array(const std::string & path, std::span<const int64_t> data, std::vector<int64_t> shape) {
    impl_->write_dataset(path, H5T_STD_I64LE, H5T_NATIVE_INT64, data.data(), data.size(), shape);
}

void RunWriter::set_attr(const std::string & path, const std::string & name, const std::string & value) {
    std::string norm = norm_path(final_path_, path);
    Object o = impl_->open_for_attr(norm);
    impl_->attr_string(o.get(), norm, name, value);
}

void RunWriter::set_attr(const std::string & path, const std::string & name, double value) {
    std::string norm = norm_path(final_path_, path);
    Object o = impl_->open_for_attr(norm);
    impl_->attr_scalar<double>(o.get(), norm, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, value);
}

void RunWriter::set_attr_int(const std::string & path, const std::string & name, int64_t value) {
    std::string norm = norm_path(final_path_, path);
    Object o = impl_->open_for_attr(norm);
    impl_->attr_scalar<int64_t>(o.get(), norm, name, H5T_STD_I64LE, H5T_NATIVE_INT64, value);
}

void RunWriter::append(const std::string & series, double value) {
    (void)impl_->fid();
    std::string norm = norm_path(final_path_, series);
    if (norm.empty()) fail(final_path_ + ": a series cannot be the root group");
    if (impl_->s2.count(norm)) fail(impl_->obj(norm) + ": is a row series; use append_row");
    impl_->s1[norm].buf.push_back(value);
}

void RunWriter::append_row(const std::string & series, std::span<const float> row) {
    (void)impl_->fid();
    std::string norm = norm_path(final_path_, series);
    if (norm.empty()) fail(final_path_ + ": a series cannot be the root group");
    if (impl_->s1.count(norm)) fail(impl_->obj(norm) + ": is a 1-D series; use append");
    if (row.empty()) fail(impl_->obj(norm) + ": cannot append an empty row");
    auto it = impl_->s2.find(norm);
    if (it == impl_->s2.end()) {
        it = impl_->s2.emplace(norm, Impl::Series2{}).first;
        it->second.width = static_cast<int64_t>(row.size());
    } else if (static_cast<int64_t>(row.size()) != it->second.width) {
        fail(impl_->obj(norm) + ": row of width " + std::to_string(row.size()) + " appended to a series of width " +
             std::to_string(it->second.width));
    }
    it->second.buf.insert(it->second.buf.end(), row.begin(), row.end());
}

void RunWriter::flush() { impl_->flush_all(); }

template <typename T>
void RunWriter::write_params(const ParamStore<T> & store, const std::string & group) {
    std::string g = norm_path(final_path_, group);
    std::vector<float> conv;
    for (int id = 0; id < store.size(); ++id) {
        const ParamInfo & pi = store.info(id);
        std::string path = g.empty() ? pi.name : g + "/" + pi.name;
        const T * v = store.value(id);
        const float * data;
        if constexpr (std::is_same_v<T, float>) {
            data = v;
        } else {
            conv.assign(v, v + pi.size);
            data = conv.data();
        }
        write_array(path, std::span<const float>(data, pi.size), pi.shape);
        std::string norm = norm_path(final_path_, path);
        Object o(H5Oopen(impl_->fid(), h5name(norm).c_str(), H5P_DEFAULT));
        if (!o) fail_h5(impl_->obj(norm) + ": cannot open the parameter dataset");
        impl_->attr_scalar<int>(o.get(), norm, "trainable", H5T_STD_I32LE, H5T_NATIVE_INT, pi.trainable ? 1 : 0);
    }
}

template void RunWriter::write_params<float>(const ParamStore<float> &, const std::string &);
template void RunWriter::write_params<double>(const ParamStore<double> &, const std::string &);

void RunWriter::commit() {
    impl_->flush_all(); // throws "already committed" after a commit
    // the finished file as bytes, then the in-memory file is closed
    const hid_t f = impl_->fid();
    const ssize_t size = H5Fget_file_image(f, nullptr, 0);
    if (size < 0) fail_h5(final_path_ + ": cannot get the HDF5 file image");
    std::vector<unsigned char> image(static_cast<size_t>(size));
    if (size > 0 && H5Fget_file_image(f, image.data(), image.size()) != size)
        fail_h5(final_path_ + ": cannot get the HDF5 file image");
    if (!impl_->close_file()) fail_h5(final_path_ + ": cannot close the in-memory HDF5 file");
    // H5Fget_file_image leaves the user block out: the header goes in front of the image
    image.insert(image.begin(), kRunHeaderBytes, 0);
    fill_header(image);
    // write, sync and close the temporary file, then rename it into place
    impl_->write_image(image);
    if (::fsync(impl_->fd) != 0 && errno != EINVAL && errno != EROFS)
        fail(final_path_ + ": fsync of " + tmp_path_ + " failed: " + std::strerror(errno));
    if (int err = impl_->close_fd(); err != 0)
        fail(final_path_ + ": cannot write temporary file " + tmp_path_ + ": " + std::strerror(err));
    std::error_code ec;
    fs::rename(tmp_path_, final_path_, ec);
    if (ec) fail(final_path_ + ": cannot rename " + tmp_path_ + " into place: " + ec.message());
    impl_->committed = true;
    live_remove(impl_->live);
    std::string dir = fs::path(final_path_).parent_path().string();
    if (dir.empty()) dir = ".";
    fsync_path(dir, true, final_path_);
}

// ============================================================================== RunReader

struct RunReader::Impl {
    std::string path;
    File file;

    std::string obj(const std::string & norm) const { return path + ": " + shown(norm); }

    Dataset open_ds(const std::string & p, std::string * norm_out = nullptr) const {
        std::string norm = norm_path(path, p);
        if (norm_out) *norm_out = norm;
        if (!exists(file.get(), norm)) fail(obj(norm) + ": no such object in the run file");
        Object o(H5Oopen(file.get(), h5name(norm).c_str(), H5P_DEFAULT));
        if (!o) fail_h5(obj(norm) + ": cannot open");
        if (H5Iget_type(o.get()) != H5I_DATASET) fail(obj(norm) + ": is not a dataset");
        o.reset();
        Dataset ds(H5Dopen2(file.get(), h5name(norm).c_str(), H5P_DEFAULT));
        if (!ds) fail_h5(obj(norm) + ": cannot open the dataset");
        return ds;
    }

    std::vector<int64_t> shape_of(hid_t ds, const std::string & norm) const {
        Space sp(H5Dget_space(ds));
        if (!sp) fail_h5(obj(norm) + ": cannot get the dataspace");
        int rank = H5Sget_simple_extent_ndims(sp.get());
        if (rank < 0) fail_h5(obj(norm) + ": cannot get the rank");
        std::vector<hsize_t> dims(static_cast<size_t>(rank));
        if (rank > 0 && H5Sget_simple_extent_dims(sp.get(), dims.data(), nullptr) < 0)
            fail_h5(obj(norm) + ": cannot get the dimensions");
        return std::vector<int64_t>(dims.begin(), dims.end());
    }

    // Read the whole numeric dataset into `out` as memory type `mtype`.
    template <typename V>
    std::vector<V> read_numeric(const std::string & p, hid_t mtype) const {
        std::string norm;
        Dataset ds = open_ds(p, &norm);
        Type ft(H5Dget_type(ds.get()));
        if (!ft) fail_h5(obj(norm) + ": cannot get the datatype");
        H5T_class_t cls = H5Tget_class(ft.get());
        if (cls != H5T_INTEGER && cls != H5T_FLOAT) fail(obj(norm) + ": is not a numeric dataset");
        auto shape = shape_of(ds.get(), norm);
        // A corrupt file can claim any extent. The element count must fit in memory's size_t, and
        // a dataset without filters (the writer never compresses) cannot hold more bytes than the
        // file stores for it: a 16 KB file claiming a terabyte fails here, not in the allocation
        // (found while fuzzing, tests/fuzz/fuzz_run_file).
        size_t n = 1, bytes = 0;
        bool overflow = false;
        for (auto d : shape) overflow |= __builtin_mul_overflow(n, static_cast<size_t>(d), &n);
        overflow |= __builtin_mul_overflow(n, std::max<size_t>(H5Tget_size(ft.get()), 1), &bytes);
        if (overflow) fail(obj(norm) + ": its dimensions " + shape_str(shape) + " overflow (corrupt run file)");
        Plist dcpl(H5Dget_create_plist(ds.get()));
        if (dcpl && H5Pget_nfilters(dcpl.get()) == 0) {
            const hsize_t stored = H5Dget_storage_size(ds.get());
            if (bytes > stored)
                fail(obj(norm) + ": claims " + std::to_string(n) + " values " + shape_str(shape) + " (" + std::to_string(bytes) +
                     " bytes) but the file stores " + std::to_string(stored) + " bytes of it (corrupt or truncated run file)");
        }
        H5Eclear2(H5E_DEFAULT);
        std::vector<V> out(n);
        if (n > 0 && H5Dread(ds.get(), mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
            fail_h5(obj(norm) + ": cannot read the dataset");
        return out;
    }
};

RunReader::RunReader(const std::string & path) : impl_(std::make_unique<Impl>()), path_(path) {
    quiet_hdf5();
    impl_->path = path;
    std::error_code ec;
    if (!fs::exists(path, ec)) fail(path + ": no such file");
    if (fs::is_directory(path, ec)) fail(path + ": is a directory, not a run file");
    if (!fs::is_regular_file(path, ec)) fail(path + ": not a regular file (a FIFO, device or socket), not a run file");
    if (check_disabled()) { // MOE_RUN_FILE_CHECK=0: libhdf5 reads the file as it is
        htri_t is = H5Fis_hdf5(path.c_str());
        if (is <= 0) fail_h5(path + ": not an HDF5 file or corrupt/truncated");
        impl_->file = File(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
    } else { // libhdf5 opens exactly the bytes whose checksum was verified, from memory
        std::vector<unsigned char> bytes = read_checked(path);
        Plist fapl(H5Pcreate(H5P_FILE_ACCESS));
        if (!fapl || H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG) < 0 ||
            H5Pset_fapl_core(fapl.get(), size_t(1) << 20, /*backing_store=*/0) < 0 ||
            H5Pset_file_image(fapl.get(), bytes.data(), bytes.size()) < 0)
            fail_h5(path + ": cannot set up the in-memory file access");
        // the core driver refuses an image under the name of an existing file: a unique pseudo name
        static std::atomic<unsigned long> opened{0};
        const std::string name = "moe-lab-image:" + std::to_string(opened.fetch_add(1)) + ":" + path;
        impl_->file = File(H5Fopen(name.c_str(), H5F_ACC_RDONLY, fapl.get()));
    }
    if (!impl_->file) fail_h5(path + ": not an HDF5 file or corrupt/truncated");
    hid_t f = impl_->file.get();
    htri_t has_fmt = H5Aexists_by_name(f, "/", "format", H5P_DEFAULT);
    if (has_fmt <= 0) {
        H5Eclear2(H5E_DEFAULT);
        fail(path + " is not a moe-lab run file (no 'format' attribute)");
    }
    std::string fmt;
    try {
        fmt = attr_string("/", "format");
    } catch (const Error &) {
        fail(path + " is not a moe-lab run file (unreadable 'format' attribute)");
    }
    if (fmt != kRunFormat) fail(path + " is not a moe-lab run file (format is '" + fmt + "')");
    // the header carries the version too; this attribute is what remains when the check is off
    if (H5Aexists_by_name(f, "/", "format_version", H5P_DEFAULT) > 0) {
        std::string ver;
        try {
            ver = attr_string("/", "format_version");
        } catch (const Error &) {
        }
        if (ver.empty() || ver.find_first_not_of("0123456789") != std::string::npos || ver.size() > 3 ||
            std::stoi(ver) < 1 || std::stoi(ver) > kRunFormatVersion)
            fail(path + ": format_version '" + ver + "' is not one this build reads (1.." + std::to_string(kRunFormatVersion) +
                 "; a newer moe-lab wrote it, or the attribute was edited)");
    }
    H5Eclear2(H5E_DEFAULT);
}

RunReader::~RunReader() = default;

std::string RunReader::spec_json() const { return read_string("spec"); }

bool RunReader::has(const std::string & path) const {
    return exists(impl_->file.get(), norm_path(path_, path));
}

static herr_t collect_name(hid_t, const char * name, const H5L_info_t *, void * op) {
    static_cast<std::vector<std::string> *>(op)->push_back(name);
    return 0;
}

std::vector<std::string> RunReader::list(const std::string & group) const {
    std::vector<std::string> names;
    const std::string norm = norm_path(path_, group);
    if (!exists(impl_->file.get(), norm)) return names;
    hsize_t idx = 0;
    if (H5Literate_by_name(impl_->file.get(), h5name(norm).c_str(), H5_INDEX_NAME, H5_ITER_INC, &idx, collect_name, &names,
                           H5P_DEFAULT) < 0)
        fail_h5(impl_->obj(norm) + ": cannot list");
    return names;
}

std::vector<int64_t> RunReader::shape(const std::string & path) const {
    std::string norm;
    Dataset ds = impl_->open_ds(path, &norm);
    return impl_->shape_of(ds.get(), norm);
}

std::vector<double> RunReader::read_doubles(const std::string & path) const {
    return impl_->read_numeric<double>(path, H5T_NATIVE_DOUBLE);
}

std::vector<float> RunReader::read_floats(const std::string & path) const {
    return impl_->read_numeric<float>(path, H5T_NATIVE_FLOAT);
}

std::string RunReader::read_string(const std::string & path) const {
    std::string norm;
    Dataset ds = impl_->open_ds(path, &norm);
    return read_string_obj(ds.get(), false, impl_->obj(norm));
}

std::string RunReader::attr_string(const std::string & path, const std::string & name) const {
    std::string norm = norm_path(path_, path);
    hid_t f = impl_->file.get();
    if (!exists(f, norm)) fail(impl_->obj(norm) + ": no such object in the run file");
    Object o(H5Oopen(f, h5name(norm).c_str(), H5P_DEFAULT));
    if (!o) fail_h5(impl_->obj(norm) + ": cannot open");
    const std::string what = impl_->obj(norm) + " attribute '" + name + "'";
    htri_t e = H5Aexists(o.get(), name.c_str());
    if (e < 0) fail_h5(what + ": cannot check it");
    if (e == 0) fail(what + ": no such attribute");
    Attr a(H5Aopen(o.get(), name.c_str(), H5P_DEFAULT));
    if (!a) fail_h5(what + ": cannot open it");
    Type ft(H5Aget_type(a.get()));
    if (!ft) fail_h5(what + ": cannot get its type");
    H5T_class_t cls = H5Tget_class(ft.get());
    if (cls == H5T_STRING) return read_string_obj(a.get(), true, what);
    // Numeric scalar attributes are rendered as text (integers exactly).
    if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
        Space sp(H5Aget_space(a.get()));
        if (!sp || H5Sget_simple_extent_npoints(sp.get()) != 1) fail(what + ": is not a scalar");
        if (cls == H5T_INTEGER) {
            long long v = 0;
            if (H5Aread(a.get(), H5T_NATIVE_LLONG, &v) < 0) fail_h5(what + ": cannot read it");
            return std::to_string(v);
        }
        double v = 0;
        if (H5Aread(a.get(), H5T_NATIVE_DOUBLE, &v) < 0) fail_h5(what + ": cannot read it");
        return format_double(v);
    }
    fail(what + ": is neither a string nor a number");
}

template <typename T>
void RunReader::load_params(ParamStore<T> & store, const std::vector<std::string> & names) const {
    MOE_ASSERT(store.allocated());
    std::set<std::string> want(names.begin(), names.end());
    std::vector<std::string> problems;
    std::vector<int> ids;
    for (const auto & n : want)
        if (store.find(n) < 0) problems.push_back(n + ": requested, but the model has no such tensor");
    hid_t f = impl_->file.get();
    for (int id = 0; id < store.size(); ++id) {
        const ParamInfo & pi = store.info(id);
        if (!want.empty() && !want.count(pi.name)) continue;
        std::string norm = "params/" + pi.name;
        if (!exists(f, norm)) {
            problems.push_back(norm + ": missing from the run file (model expects " + shape_str(pi.shape) + ")");
            continue;
        }
        Object o(H5Oopen(f, h5name(norm).c_str(), H5P_DEFAULT));
        if (!o || H5Iget_type(o.get()) != H5I_DATASET) {
            H5Eclear2(H5E_DEFAULT);
            problems.push_back(norm + ": is not a dataset");
            continue;
        }
        o.reset();
        Dataset ds = impl_->open_ds(norm);
        Type ft(H5Dget_type(ds.get()));
        H5T_class_t cls = ft ? H5Tget_class(ft.get()) : H5T_NO_CLASS;
        if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
            problems.push_back(norm + ": is not a numeric dataset");
            continue;
        }
        auto shp = impl_->shape_of(ds.get(), norm);
        if (shp != pi.shape) {
            problems.push_back(norm + ": run file has shape " + shape_str(shp) + ", model expects " + shape_str(pi.shape));
            continue;
        }
        ids.push_back(id);
    }
    if (!problems.empty()) {
        std::string msg = path_ + ": cannot load parameters (" + std::to_string(problems.size()) + " problem" +
                          (problems.size() == 1 ? "" : "s") + "):";
        for (const auto & p : problems) msg += "\n  " + p;
        fail(msg);
    }
    const hid_t mtype = std::is_same_v<T, float> ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE;
    for (int id : ids) {
        const ParamInfo & pi = store.info(id);
        std::string norm = "params/" + pi.name;
        Dataset ds = impl_->open_ds(norm);
        T * v = store.value(id);
        if (pi.size > 0 && H5Dread(ds.get(), mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
            fail_h5(impl_->obj(norm) + ": cannot read the parameter");
        // a NaN/Inf weight would only surface as a NaN loss much later
        int64_t bad = 0, first = -1;
        for (int64_t i = 0; i < int64_t(pi.size); ++i)
            if (!std::isfinite(v[i])) {
                if (first < 0) first = i;
                ++bad;
            }
        if (bad > 0)
            problems.push_back(norm + ": " + std::to_string(bad) + " non-finite value" + (bad == 1 ? "" : "s") +
                               " (first at element " + std::to_string(first) + ": " + format_double(double(v[first])) + ")");
    }
    if (!problems.empty()) {
        std::string msg = path_ + ": cannot load parameters (" + std::to_string(problems.size()) + " problem" +
                          (problems.size() == 1 ? "" : "s") + "):";
        for (const auto & p : problems) msg += "\n  " + p;
        fail(msg);
    }
}

template void RunReader::load_params<float>(ParamStore<float> &, const std::vector<std::string> &) const;
template void RunReader::load_params<double>(ParamStore<double> &, const std::vector<std::string> &) const;

} // namespace moe::io

namespace moe::io {

void check_output_not_input(const std::string & out, const std::vector<std::pair<std::string, std::string>> & inputs,
                            const std::string & option) {
    std::error_code ec;
    if (out.empty() || !fs::exists(out, ec)) return; // a new file cannot be an input
    for (const auto & [what, path] : inputs) {
        if (path.empty()) continue;
        std::error_code e2;
        if (fs::equivalent(out, path, e2))
            throw Error(ErrorCode::spec, "the output " + out + " is " + what + " (" + path + "); writing it would replace the input",
                        {"give " + option + " another path"});
    }
}

void write_text_atomic(const std::string & path, const std::string & text) {
    check_output_target(path, "cannot write " + path + ": ");
    const std::string tmp = temp_path_for(path);
    struct Live { // tracked from before it exists until it is renamed or removed (remove_live_temporaries)
        int slot;
        ~Live() { live_remove(slot); }
    } live{live_add(tmp)};
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw Error(ErrorCode::io, "cannot write " + path + ": " + std::strerror(errno));
    auto fail = [&](const std::string & why) {
        ::close(fd);
        std::error_code ec;
        fs::remove(tmp, ec);
        throw Error(ErrorCode::io, "cannot write " + path + ": " + why);
    };
    size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail(std::strerror(errno));
        }
        done += size_t(n);
    }
    if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS) fail(std::string("fsync: ") + std::strerror(errno));
    if (::close(fd) != 0) {
        std::error_code ec;
        fs::remove(tmp, ec);
        throw Error(ErrorCode::io, "cannot write " + path + ": " + std::strerror(errno));
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) {
        const std::string why = ec.message();
        fs::remove(tmp, ec);
        throw Error(ErrorCode::io, "cannot write " + path + ": cannot rename the temporary file onto it (" + why + ")");
    }
}

} // namespace moe::io
