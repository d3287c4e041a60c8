// internal.hpp — private to lib/src/io: the helpers several of its files share (error helpers,
// run-file object paths, the live-temporaries registry, the output checks). Everything is in
// moe::io::detail, which also sees the HDF5 handles of moe/io/h5.hpp.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "moe/core/error.hpp"
#include "moe/io/h5.hpp"

namespace moe::io::detail {

using namespace moe::io::h5;

[[noreturn]] inline void fail(const std::string & msg) { throw Error(ErrorCode::io, msg); }
[[noreturn]] inline void fail_h5(const std::string & msg) { throw Error(ErrorCode::io, msg + hdf5_detail()); }

// ------------------------------------------------------------------------------ object paths
// (object_paths.cpp)

// "a/b/c", "/a/b/" -> "a/b/c"; "/" or "" -> "" (root). Empty components are rejected.
std::string norm_path(const std::string & file, const std::string & path);

inline std::string h5name(const std::string & norm) { return "/" + norm; }
inline std::string shown(const std::string & norm) { return norm.empty() ? std::string("/") : norm; }

// Does the object at `norm` exist? Walks component by component so that a missing (or
// non-group) intermediate is "false", never an HDF5 error.
bool exists(hid_t file, const std::string & norm);

std::string shape_str(const std::vector<int64_t> & shape);

// ------------------------------------------------------------------------------ live temporaries
// (temporaries.cpp)

// Registers a temporary file being written now, for remove_live_temporaries(); returns its slot
// (-1 when it cannot be tracked).
int live_add(const std::string & p);
// Forgets the slot (it was renamed or removed) and sets it to -1.
void live_remove(int & slot);
// Creates a new temporary file for final_path (temp_path_for: in its directory, an unpredictable
// name) with O_CREAT | O_EXCL | O_NOFOLLOW, so a link or file planted at that name is never opened,
// and registers it (live_add). Returns the descriptor (write-only) with its name in tmp and its
// slot in live, or -1 with errno set (tmp: the name tried, live: -1).
int create_temporary(const std::string & final_path, int mode, std::string & tmp, int & live);

// ------------------------------------------------------------------------------ outputs
// (outputs.cpp)

// An existing output must be a regular file: the final rename would replace a FIFO, a device
// node or a symbolic link by the new file (as root, -o /dev/null would replace /dev/null).
// Throws Error(ErrorCode::io) starting with `pre`.
void check_output_target(const std::string & path, const std::string & pre);
// The directory of an output must exist, be a directory and be writable, and the output must not
// be a directory. Throws Error(ErrorCode::io) starting with `pre`, naming the directory.
void check_output_dir(const std::string & path, const std::string & pre);

} // namespace moe::io::detail
