// integrity.cpp — the run file's integrity header (integrity.hpp): a text header in HDF5's
// user block with the file size and a CRC-32 (zlib) of everything after it, and the reader's
// check of both before libhdf5 opens the file.
#include "integrity.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "internal.hpp"
#include "moe/io/run_format.hpp"

namespace moe::io::detail {

namespace {

// The first kRunHeaderBytes of a run file are HDF5's user block (libhdf5 and h5py skip it). The
// writer fills it with four text lines, zero-padded:
//   moe-lab run file\nformat 2\nbytes <file size>\ncrc32 <8 hex digits of bytes 512..end>\n
// The reader checks size and CRC before libhdf5 sees a byte, and then opens exactly the bytes it
// checked, from memory. A truncated, bit-flipped or otherwise damaged run file is therefore
// reported by name instead of reaching libhdf5 1.10, which can crash or loop forever on corrupt
// metadata (tests/fuzz/RESULTS.md).
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

} // namespace

void fill_header(std::vector<unsigned char> & image) {
    char text[kRunHeaderBytes] = {};
    const uint32_t crc = crc32_of(image.data() + kRunHeaderBytes, image.size() - kRunHeaderBytes);
    const int n = std::snprintf(text, sizeof text, "%sformat %d\nbytes %zu\ncrc32 %08x\n", kHeaderMagic,
                                kRunFormatVersion, image.size(), static_cast<unsigned>(crc));
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
            fail(path +
                 ": HDF5 file without moe-lab's integrity header (not written by moe-lab, or by a version before "
                 "run-file format 2)" +
                 hint);
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
        fail(path + ": " + (size > bytes.size() ? "truncated" : "damaged") +
             " run file: " + std::to_string(bytes.size()) + " bytes, its header says " + std::to_string(size) +
             (size > bytes.size() ? " (an interrupted copy?)" : ""));
    const uint32_t got = crc32_of(bytes.data() + kRunHeaderBytes, bytes.size() - kRunHeaderBytes);
    if (got != crc) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "stored crc32 %08x, computed %08x", crc, static_cast<unsigned>(got));
        fail(path + ": run file checksum mismatch (" + buf +
             "): the file is corrupt, or was changed after moe-lab wrote it (e.g. by h5py in 'r+' or 'a' mode)" + hint);
    }
    return bytes;
}

} // namespace moe::io::detail
