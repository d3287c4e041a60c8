// run_writer.cpp — RunWriter (moe/io/run_writer.hpp), written with the HDF5 C API: the file is
// built in memory, then its image, with the integrity header in front, is written to the
// temporary file, synced and renamed into place.
#include "moe/io/run_writer.hpp"

#include <hdf5.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <type_traits>

#include "integrity.hpp"
#include "internal.hpp"
#include "moe/core/error.hpp"
#include "moe/io/temporaries.hpp"

#ifndef MOE_VERSION
#define MOE_VERSION "0.0.0"
#endif
#ifndef MOE_GIT
#define MOE_GIT "unknown"
#endif

namespace fs = std::filesystem;

namespace moe::io {

using namespace detail;

namespace {

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

} // namespace

// The writer builds the file in memory (HDF5's core driver without a backing store) and writes
// the finished image to the temporary file itself on commit(). HDF5 therefore never writes to the
// disk: a full disk or an I/O error is a plain POSIX write() failure we report and clean up after.
// (With the sec2 driver a failed metadata flush makes H5Fclose fail and leaves the file id open;
// HDF5 1.10 then crashes when it closes that id again at exit.) Every failure becomes
// moe::Error(ErrorCode::io) naming the file, the object and (when HDF5 recorded one) the
// innermost HDF5 error description.
struct RunWriter::Impl {
    struct Series1 {
        std::vector<double> buf;
    };
    struct SeriesInt {
        std::vector<int64_t> buf;
    };
    struct Series2 {
        int64_t width = 0;
        std::vector<float> buf; // rows * width
    };

    std::string final_path, tmp_path;
    File file;                         // in memory (core driver, no backing store)
    int fd = -1;                       // the temporary file on disk, created by the constructor, filled by commit()
    int live = -1;                     // its slot among the live temporaries
    std::map<std::string, Series1> s1; // by normalised path
    std::map<std::string, Series2> s2;
    std::map<std::string, SeriesInt> si; // 1-D int64 series
    bool committed = false;

    hid_t fid() const {
        if (!file) fail(final_path + ": run file writer is already " + (committed ? "committed" : "closed"));
        return file.get();
    }
    std::string obj(const std::string & norm) const { return final_path + ": " + shown(norm); }

    void remove_if_exists(const std::string & norm) {
        if (norm.empty()) fail(final_path + ": cannot overwrite the root group");
        if (exists(fid(), norm)) {
            if (H5Ldelete(fid(), h5name(norm).c_str(), H5P_DEFAULT) < 0)
                fail_h5(obj(norm) + ": cannot delete the existing object");
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
        Space space(shape.empty() ? H5Screate(H5S_SCALAR)
                                  : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
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
            ds = Dataset(
                H5Dcreate2(fid(), h5name(norm).c_str(), ftype, space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT));
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
        if (auto it = si.find(norm); it != si.end() && (!it->second.buf.empty() || !exists(fid(), norm))) {
            append_dataset(norm, H5T_STD_I64LE, H5T_NATIVE_INT64, it->second.buf.data(), it->second.buf.size(), 0);
            it->second.buf.clear();
        }
        if (auto it = s2.find(norm); it != s2.end()) {
            auto & s = it->second;
            hsize_t rows = s.width > 0 ? s.buf.size() / static_cast<size_t>(s.width) : 0;
            if (rows > 0 || !exists(fid(), norm)) {
                append_dataset(norm, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, s.buf.data(), rows,
                               static_cast<hsize_t>(s.width));
                s.buf.clear();
            }
        }
    }

    void flush_all() {
        for (auto & [norm, s] : s1) flush_series(norm);
        for (auto & [norm, s] : s2) flush_series(norm);
        for (auto & [norm, s] : si) flush_series(norm);
        if (H5Fflush(fid(), H5F_SCOPE_LOCAL) < 0) fail_h5(final_path + ": cannot flush the run file");
    }

    // Open (creating a group if nothing exists there) the object at `norm` for attributes.
    Object open_for_attr(const std::string & norm) {
        if (s1.count(norm) || s2.count(norm) || si.count(norm)) flush_series(norm); // make a pending series exist
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

RunWriter::RunWriter(const std::string & final_path, const std::string & tool)
    : impl_(std::make_unique<Impl>()), final_path_(final_path) {
    quiet_hdf5();
    const std::string pre = "cannot write run file " + final_path + ": ";
    if (final_path.empty()) fail("cannot write run file: empty path");
    check_output_dir(final_path, pre);
    check_output_target(final_path, pre);

    impl_->final_path = final_path;
    // The temporary file is created now, so an unwritable location (read-only file system,
    // immutable directory, no free inode) fails before any work is done; commit() fills it. Its
    // name is unpredictable and it is created exclusively (create_temporary): a link planted
    // beside the output is never followed.
    impl_->fd = create_temporary(final_path, 0644, tmp_path_, impl_->live);
    impl_->tmp_path = tmp_path_;
    if (impl_->fd < 0) {
        const int err = errno;
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
    if (impl_->si.count(norm)) fail(impl_->obj(norm) + ": is an integer series; use append_int");
    impl_->s1[norm].buf.push_back(value);
}

void RunWriter::append_int(const std::string & series, int64_t value) {
    (void)impl_->fid();
    std::string norm = norm_path(final_path_, series);
    if (norm.empty()) fail(final_path_ + ": a series cannot be the root group");
    if (impl_->s1.count(norm) || impl_->s2.count(norm)) fail(impl_->obj(norm) + ": is not an integer series");
    impl_->si[norm].buf.push_back(value);
}

void RunWriter::append_row(const std::string & series, std::span<const float> row) {
    (void)impl_->fid();
    std::string norm = norm_path(final_path_, series);
    if (norm.empty()) fail(final_path_ + ": a series cannot be the root group");
    if (impl_->s1.count(norm) || impl_->si.count(norm)) fail(impl_->obj(norm) + ": is a 1-D series; use append");
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
        if (!v) { // kept in bfloat16: stored widened, as float32 like every parameter
            std::vector<T> wide(pi.size);
            store.read_value(id, wide.data());
            conv.assign(wide.begin(), wide.end());
            data = conv.data();
        } else if constexpr (std::is_same_v<T, float>) {
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
    // What appeared at the final path since the constructor: the rename would replace a FIFO, a
    // device node or a link by the run file (a link itself, not its target: rename(2) never follows
    // one), and fails on a directory; refuse all of them, as the constructor did.
    check_output_target(final_path_, "cannot write run file " + final_path_ + ": ");
    if (::rename(tmp_path_.c_str(), final_path_.c_str()) != 0)
        fail(final_path_ + ": cannot rename " + tmp_path_ + " into place: " + std::strerror(errno));
    impl_->committed = true;
    live_remove(impl_->live);
    std::string dir = fs::path(final_path_).parent_path().string();
    if (dir.empty()) dir = ".";
    fsync_path(dir, true, final_path_);
}

} // namespace moe::io
