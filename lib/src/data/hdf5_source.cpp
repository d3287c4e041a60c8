// data source: HDF5 files with a features dataset (n,d), (n,H,W) or (n,C,H,W) of any numeric type
// (read as float), a 1-D integer labels dataset (n) and an optional 1-D integer task dataset (n).
// With a row limit only the first rows are read, through a hyperslab selection of each dataset
// (the HDF5 User's Guide, "Dataspaces and Partial I/O"); shapes are checked against the whole file.
// The HDF5 handles are the library's one RAII layer, moe/io/h5.hpp.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "internal.hpp"
#include "moe/core/error.hpp"
#include "moe/data/dataset.hpp"
#include "moe/io/h5.hpp"

namespace moe::data {

namespace h5 = moe::io::h5;
using namespace detail;

namespace {

struct H5Array {
    std::vector<hsize_t> dims;
    H5T_class_t cls = H5T_NO_CLASS;
};

// Opens dataset `name` and reports its shape and type class.
H5Array describe(hid_t ds, const std::string & file, const std::string & name) {
    h5::Space space(H5Dget_space(ds));
    h5::Type type(H5Dget_type(ds));
    if (!space.valid() || !type.valid()) fail_io(file + ": cannot read the shape of dataset '" + name + "'");
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 0) fail_io(file + ": cannot read the shape of dataset '" + name + "'");
    H5Array a;
    a.dims.resize(size_t(rank));
    if (rank > 0) H5Sget_simple_extent_dims(space.get(), a.dims.data(), nullptr);
    a.cls = H5Tget_class(type.get());
    return a;
}

// Selects the first `rows` entries along dimension 0 of the file space of ds, and returns the
// matching memory space: H5Dread then reads only those rows.
struct RowSelection {
    h5::Space file, mem;
};
RowSelection first_rows(hid_t ds, std::vector<hsize_t> dims, hsize_t rows) {
    RowSelection s{h5::Space(H5Dget_space(ds)), h5::Space(-1)};
    std::vector<hsize_t> start(dims.size(), 0);
    dims[0] = rows;
    if (!s.file.valid() ||
        H5Sselect_hyperslab(s.file.get(), H5S_SELECT_SET, start.data(), nullptr, dims.data(), nullptr) < 0)
        return s;
    s.mem = h5::Space(H5Screate_simple(int(dims.size()), dims.data(), nullptr));
    return s;
}

std::string shape_str(const std::vector<hsize_t> & dims) {
    std::string s = "(";
    for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
    return s + ")";
}

// Reads the first `rows` entries of a 1-D (or (n,1)) integer dataset of length n into out,
// checking values are in [0, most].
void read_ids(hid_t file, const std::string & path, const std::string & name, int64_t n, int64_t rows,
              std::vector<int32_t> & out, const char * what, int64_t most) {
    h5::Dataset ds(H5Dopen2(file, name.c_str(), H5P_DEFAULT));
    if (!ds.valid()) fail_io(path + ": no dataset '" + name + "' (" + what + ")");
    const H5Array a = describe(ds.get(), path, name);
    const bool shape_ok = (a.dims.size() == 1 || (a.dims.size() == 2 && a.dims[1] == 1)) && a.dims[0] == hsize_t(n);
    if (!shape_ok) {
        fail_io(path + ": dataset '" + name + "' (" + what + ") has shape " + shape_str(a.dims) + ", expected (" +
                std::to_string(n) + ")");
    }
    if (a.cls != H5T_INTEGER) fail_io(path + ": dataset '" + name + "' (" + what + ") must hold integers");
    std::vector<long long> v(static_cast<size_t>(rows));
    const RowSelection sel = first_rows(ds.get(), a.dims, hsize_t(rows));
    if (!sel.mem.valid() || H5Dread(ds.get(), H5T_NATIVE_LLONG, sel.mem.get(), sel.file.get(), H5P_DEFAULT, v.data()) < 0) {
        fail_io(path + ": cannot read dataset '" + name + "'");
    }
    out.resize(size_t(rows));
    for (int64_t i = 0; i < rows; ++i) {
        if (v[i] < 0 || v[i] > most) { // (values beyond long long arrive as its largest)
            fail_io(path + ": dataset '" + name + "' record " + std::to_string(i) + ": " + what +
                    " must be integers in 0.." + std::to_string(most) + ", got " + std::to_string(v[i]) +
                    (v[i] == std::numeric_limits<long long>::max() ? " or more" : ""));
        }
        out[i] = int32_t(v[i]);
    }
}

} // namespace

Dataset load_hdf5(const std::string & path, const std::string & features, const std::string & labels,
                  const std::string & task, int64_t limit) {
    h5::quiet_hdf5();
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) fail_io(path + ": is a directory, expected an HDF5 file");
    if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
        fail_io(path + ": not a regular file (a FIFO, device or socket), expected an HDF5 file");
    if (!std::filesystem::is_regular_file(path, ec)) fail_io(path + ": HDF5 file not found");
    if (H5Fis_hdf5(path.c_str()) <= 0) fail_io(path + ": not an HDF5 file (or a corrupt/truncated one)");
    h5::File file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
    if (!file.valid()) fail_io(path + ": cannot open as an HDF5 file (corrupt or truncated)");

    Dataset out;
    int64_t n_file = 0; // rows the file declares; out.n of them are read
    {
        h5::Dataset ds(H5Dopen2(file.get(), features.c_str(), H5P_DEFAULT));
        if (!ds.valid()) fail_io(path + ": no dataset '" + features + "' (features)");
        const H5Array a = describe(ds.get(), path, features);
        if (a.cls != H5T_INTEGER && a.cls != H5T_FLOAT) {
            fail_io(path + ": dataset '" + features + "' (features) is not numeric");
        }
        const size_t rank = a.dims.size();
        if (rank < 2 || rank > 4) {
            fail_io(path + ": dataset '" + features + "' (features) has shape " + shape_str(a.dims) +
                    ", expected (n,d), (n,H,W) or (n,C,H,W)");
        }
        hsize_t d = 1;
        for (size_t i = 1; i < rank; ++i) d *= a.dims[i];
        if (a.dims[0] == 0 || d == 0) fail_io(path + ": dataset '" + features + "' is empty " + shape_str(a.dims));
        if (d > hsize_t(1) << 30) fail_io(path + ": dataset '" + features + "' has too many features per sample");
        n_file = int64_t(a.dims[0]);
        out.n = limit > 0 ? std::min(n_file, limit) : n_file;
        out.d = int(d);
        if (rank == 3) {
            out.channels = 1;
            out.height = int(a.dims[1]);
            out.width = int(a.dims[2]);
        } else if (rank == 4) {
            out.channels = int(a.dims[1]);
            out.height = int(a.dims[2]);
            out.width = int(a.dims[3]);
        }
        out.x.resize(size_t(out.n) * size_t(out.d));
        const RowSelection sel = first_rows(ds.get(), a.dims, hsize_t(out.n));
        if (!sel.mem.valid() ||
            H5Dread(ds.get(), H5T_NATIVE_FLOAT, sel.mem.get(), sel.file.get(), H5P_DEFAULT, out.x.data()) < 0) {
            fail_io(path + ": cannot read dataset '" + features + "' as float");
        }
    }
    read_ids(file.get(), path, labels, n_file, out.n, out.y, "labels", kMaxLabel);
    if (!task.empty())
        read_ids(file.get(), path, task, n_file, out.n, out.task, "task ids", kMaxTaskId);
    else
        out.task.assign(size_t(out.n), 0);

    int32_t max_label = 0;
    for (int32_t v : out.y) max_label = std::max(max_label, v);
    out.n_classes = max_label + 1;
    check_finite(out, path + ": dataset '" + features + "'");
    return out;
}

} // namespace moe::data
