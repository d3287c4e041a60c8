// object_paths.cpp — the '/'-separated object paths of a run file, shared by RunWriter and
// RunReader: normalising a path (rejecting empty, "." and ".." components), asking whether an
// object exists without an HDF5 error, and printing a shape.
#include <hdf5.h>

#include <string>
#include <vector>

#include "internal.hpp"

namespace moe::io::detail {

namespace {

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

} // namespace

// "a/b/c", "/a/b/" -> "a/b/c"; "/" or "" -> "" (root). Empty components are rejected.
std::string norm_path(const std::string & file, const std::string & path) {
    std::string out;
    size_t i = 0;
    while (i < path.size() && path[i] == '/') ++i; // leading '/' = root
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

} // namespace moe::io::detail
