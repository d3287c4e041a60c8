// h5.cpp — the non-inline parts of the HDF5 RAII layer (moe/io/h5.hpp): silencing HDF5's
// automatic error printing and turning its error stack into one line of text.
#include "moe/io/h5.hpp"

namespace moe::io::h5 {

void quiet_hdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

namespace {

// Innermost description on HDF5's error stack (then cleared); "" if none.
herr_t walk_cb(unsigned n, const H5E_error2_t * e, void * client) {
    auto * s = static_cast<std::string *>(client);
    if (n == 0 && e && e->desc) *s = e->desc;
    return 0;
}

} // namespace

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

} // namespace moe::io::h5
