// internal.hpp — private to lib/src/data: the error helpers its sources share and the reading
// of whole or partial files through zlib, which reads gzip and plain files alike (gzip.cpp).
#pragma once
#include <zlib.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "moe/core/error.hpp"

namespace moe::data::detail {

[[noreturn]] inline void fail_io(const std::string & msg, std::vector<std::string> hints = {}) {
    throw Error(ErrorCode::io, msg, std::move(hints));
}
[[noreturn]] inline void fail_spec(const std::string & msg) { throw Error(ErrorCode::spec, msg); }

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
std::string gz_reason(gzFile f, const std::string & path);

// Whole (decompressed) content of a file. Throws io when it cannot be opened or read, or when a
// gzip stream ends early.
std::vector<unsigned char> read_all(const std::string & path);
// The same, but stops reading (lines > 0) once it holds `lines` complete non-blank lines.
std::vector<unsigned char> read_lines(const std::string & path, int64_t lines);

// Reads up to len bytes (fewer only at the end of the data). Throws io on a read error.
size_t read_some(GzFile & g, const std::string & path, unsigned char * dst, size_t len);

// Did the last read stop because the gzip stream ends early (a truncated file)?
bool gz_cut_short(GzFile & g);

} // namespace moe::data::detail
