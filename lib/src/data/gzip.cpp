// gzip.cpp — reading files through zlib (internal.hpp): gzip-compressed and plain files alike,
// whole (CSV) or in chunks (IDX), with zlib's errors turned into messages that name the file.
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "internal.hpp"

namespace moe::data::detail {

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
std::vector<unsigned char> read_all(const std::string & path) { return read_lines(path, 0); }

namespace {
bool blank(const unsigned char * a, const unsigned char * b) {
    for (; a < b; ++a)
        if (*a != ' ' && *a != '\t' && *a != '\r') return false;
    return true;
}
} // namespace

std::vector<unsigned char> read_lines(const std::string & path, int64_t lines) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) fail_io(path + ": is a directory, expected a file");
    if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec)) // a FIFO would block
        fail_io(path + ": not a regular file (a FIFO, device or socket), expected a file");
    GzFile g(path);
    gzbuffer(g.f, 1 << 18);
    std::vector<unsigned char> buf;
    // with a line count, smaller chunks: a limit of a few rows reads a few kilobytes
    const size_t chunk = lines > 0 ? size_t(1) << 16 : size_t(1) << 22;
    int64_t seen = 0;      // complete non-blank lines so far
    size_t line_start = 0; // where the line being counted starts
    for (;;) {
        const size_t old = buf.size();
        buf.resize(old + chunk);
        const int got = gzread(g.f, buf.data() + old, static_cast<unsigned>(chunk));
        if (got < 0) fail_io(path + ": read error (" + gz_reason(g.f, path) + ")");
        buf.resize(old + static_cast<size_t>(got));
        if (got == 0) break;
        if (lines > 0) {
            for (size_t i = old; i < buf.size(); ++i) {
                if (buf[i] != '\n') continue;
                if (!blank(buf.data() + line_start, buf.data() + i)) ++seen;
                line_start = i + 1;
            }
            if (seen >= lines) return buf; // the rest of the file is not needed
        }
    }
    int errnum = 0;
    gzerror(g.f, &errnum);
    if (errnum == Z_BUF_ERROR) fail_io(path + ": truncated gzip stream (unexpected end of file)");
    return buf;
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

} // namespace moe::data::detail
