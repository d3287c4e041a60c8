// run_reader.cpp — RunReader (moe/io/run_reader.hpp), read with the HDF5 C API.
//
// The file's integrity header is checked first (integrity.cpp) and libhdf5 then opens exactly
// the checked bytes from memory. Every hid_t is owned by an RAII handle (moe/io/h5.hpp), and
// every failure becomes moe::Error(ErrorCode::io) naming the file, the object and (when HDF5
// recorded one) the innermost HDF5 error description.
#include "moe/io/run_reader.hpp"

#include <hdf5.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <type_traits>

#include "integrity.hpp"
#include "internal.hpp"
#include "moe/core/error.hpp"

namespace fs = std::filesystem;

namespace moe::io {

using namespace detail;

namespace {

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
        herr_t st =
            is_attr ? H5Aread(obj, mtype.get(), &p) : H5Dread(obj, mtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &p);
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

} // namespace

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
                fail(obj(norm) + ": claims " + std::to_string(n) + " values " + shape_str(shape) + " (" +
                     std::to_string(bytes) + " bytes) but the file stores " + std::to_string(stored) +
                     " bytes of it (corrupt or truncated run file)");
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
    } catch (const Error &) { fail(path + " is not a moe-lab run file (unreadable 'format' attribute)"); }
    if (fmt != kRunFormat) fail(path + " is not a moe-lab run file (format is '" + fmt + "')");
    // the header carries the version too; this attribute is what remains when the check is off
    if (H5Aexists_by_name(f, "/", "format_version", H5P_DEFAULT) > 0) {
        std::string ver;
        try {
            ver = attr_string("/", "format_version");
        } catch (const Error &) {}
        if (ver.empty() || ver.find_first_not_of("0123456789") != std::string::npos || ver.size() > 3 ||
            std::stoi(ver) < 1 || std::stoi(ver) > kRunFormatVersion)
            fail(path + ": format_version '" + ver + "' is not one this build reads (1.." +
                 std::to_string(kRunFormatVersion) + "; a newer moe-lab wrote it, or the attribute was edited)");
    }
    H5Eclear2(H5E_DEFAULT);
}

RunReader::~RunReader() = default;

std::string RunReader::spec_json() const { return read_string("spec"); }

bool RunReader::has(const std::string & path) const { return exists(impl_->file.get(), norm_path(path_, path)); }

static herr_t collect_name(hid_t, const char * name, const H5L_info_t *, void * op) {
    static_cast<std::vector<std::string> *>(op)->push_back(name);
    return 0;
}

std::vector<std::string> RunReader::list(const std::string & group) const {
    std::vector<std::string> names;
    const std::string norm = norm_path(path_, group);
    if (!exists(impl_->file.get(), norm)) return names;
    hsize_t idx = 0;
    if (H5Literate_by_name(impl_->file.get(), h5name(norm).c_str(), H5_INDEX_NAME, H5_ITER_INC, &idx, collect_name,
                           &names, H5P_DEFAULT) < 0)
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
            problems.push_back(norm + ": run file has shape " + shape_str(shp) + ", model expects " +
                               shape_str(pi.shape));
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
    std::vector<T> conv; // a tensor the store keeps in bfloat16 is read here, then rounded by assign()
    for (int id : ids) {
        const ParamInfo & pi = store.info(id);
        std::string norm = "params/" + pi.name;
        Dataset ds = impl_->open_ds(norm);
        T * v = store.value(id);
        if (!v) {
            conv.resize(pi.size);
            v = conv.data();
        }
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
                               " (first at element " + std::to_string(first) + ": " + format_double(double(v[first])) +
                               ")");
        else if (v == conv.data())
            store.assign(id, v);
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
