// moe/io/h5.hpp — the library's one RAII layer over the HDF5 C API, used by the run file (io)
// and by the HDF5 data source (data): every hid_t is owned by a Handle that closes it with the
// matching H5?close, HDF5's automatic error printing is switched off, and hdf5_detail() turns the
// innermost error HDF5 recorded into text for a moe::Error message.
// Includes <hdf5.h>: for the library's sources only (apps and tests see HDF5 through moe::io).
#pragma once
#include <hdf5.h>

#include <string>

namespace moe::io::h5 {

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

// Switches off HDF5's automatic printing of its error stack (the library never prints).
void quiet_hdf5();

// One line: the system's message when HDF5 quotes one ("..., error message = 'No space left on
// device', buf = 0x..."), else the description with line breaks folded.
std::string condense_hdf5_desc(std::string s);

// " (HDF5: <innermost description on HDF5's error stack>)", or "" if none; clears the stack.
std::string hdf5_detail();

} // namespace moe::io::h5
