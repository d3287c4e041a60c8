// safetensors_read.cpp — reading a safetensors file (moe/io/safetensors.hpp): the dtype table,
// the exact F16/BF16 conversions, the 8-byte header length bounded by the file size and by the
// reference implementation's cap, and the tensors read one at a time with pread and converted
// to float.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "internal.hpp"
#include "moe/io/safetensors.hpp"
#include "safetensors_internal.hpp"

namespace moe::io {

using namespace detail;

namespace {

struct DtypeRow {
    StDtype d;
    const char * name;
    int bits;
};
constexpr DtypeRow kDtypes[] = {
    {StDtype::BOOL, "BOOL", 8},
    {StDtype::F4, "F4", 4},
    {StDtype::F6_E2M3, "F6_E2M3", 6},
    {StDtype::F6_E3M2, "F6_E3M2", 6},
    {StDtype::U8, "U8", 8},
    {StDtype::I8, "I8", 8},
    {StDtype::F8_E5M2, "F8_E5M2", 8},
    {StDtype::F8_E4M3, "F8_E4M3", 8},
    {StDtype::F8_E8M0, "F8_E8M0", 8},
    {StDtype::F8_E4M3FNUZ, "F8_E4M3FNUZ", 8},
    {StDtype::F8_E5M2FNUZ, "F8_E5M2FNUZ", 8},
    {StDtype::I16, "I16", 16},
    {StDtype::U16, "U16", 16},
    {StDtype::F16, "F16", 16},
    {StDtype::BF16, "BF16", 16},
    {StDtype::I32, "I32", 32},
    {StDtype::U32, "U32", 32},
    {StDtype::F32, "F32", 32},
    {StDtype::C64, "C64", 64},
    {StDtype::F64, "F64", 64},
    {StDtype::I64, "I64", 64},
    {StDtype::U64, "U64", 64},
};

const DtypeRow & row(StDtype d) {
    for (const auto & r : kDtypes)
        if (r.d == d) return r;
    MOE_ASSERT(false);
}

uint16_t le16(const unsigned char * p) { return uint16_t(p[0] | (p[1] << 8)); }
uint32_t le32(const unsigned char * p) {
    return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}

} // namespace

const char * st_dtype_name(StDtype d) { return row(d).name; }
int st_dtype_bits(StDtype d) { return row(d).bits; }
bool st_dtype_from_name(const std::string & s, StDtype & out) {
    for (const auto & r : kDtypes)
        if (s == r.name) {
            out = r.d;
            return true;
        }
    return false;
}
bool st_dtype_readable(StDtype d) { return d == StDtype::F32 || d == StDtype::F16 || d == StDtype::BF16; }

float f16_bits_to_float(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t mant = h & 0x3FFu;
    uint32_t bits;
    if (exp == 0x1F) { // infinity or NaN (payload kept)
        bits = sign | 0x7F800000u | (mant << 13);
    } else if (exp != 0) { // normal: rebias 15 -> 127
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    } else if (mant == 0) { // signed zero
        bits = sign;
    } else { // subnormal: mant * 2^-24, normalised for float
        int e = -1;
        do {
            mant <<= 1;
            ++e;
        } while ((mant & 0x400u) == 0);
        bits = sign | (uint32_t(112 - e) << 23) | ((mant & 0x3FFu) << 13);
    }
    return std::bit_cast<float>(bits);
}

float bf16_bits_to_float(uint16_t b) { return std::bit_cast<float>(uint32_t(b) << 16); }

uint64_t StTensorInfo::elements() const {
    uint64_t n = 1;
    for (const int64_t d : shape) n *= uint64_t(d); // checked for overflow when the header was read
    return n;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile && o) noexcept
    : path_(std::move(o.path_)), fd_(o.fd_), mem_(std::move(o.mem_)), header_size_(o.header_size_),
      data_size_(o.data_size_), tensors_(std::move(o.tensors_)), metadata_(std::move(o.metadata_)) {
    o.fd_ = -1;
}

SafetensorsFile & SafetensorsFile::operator=(SafetensorsFile && o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        path_ = std::move(o.path_);
        fd_ = o.fd_;
        o.fd_ = -1;
        mem_ = std::move(o.mem_);
        header_size_ = o.header_size_;
        data_size_ = o.data_size_;
        tensors_ = std::move(o.tensors_);
        metadata_ = std::move(o.metadata_);
    }
    return *this;
}

SafetensorsFile::~SafetensorsFile() {
    if (fd_ >= 0) ::close(fd_);
}

void SafetensorsFile::read_bytes(uint64_t offset, void * out, size_t n, const std::string & what) const {
    if (fd_ < 0) {
        if (offset > mem_.size() || n > mem_.size() - offset) fail(path_ + ": " + what + ": the file ends early");
        std::memcpy(out, mem_.data() + offset, n);
        return;
    }
    auto * p = static_cast<char *>(out);
    size_t done = 0;
    while (done < n) {
        const ssize_t r = ::pread(fd_, p + done, n - done, off_t(offset + done));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) fail(path_ + ": " + what + ": read error (" + std::strerror(errno) + ")");
        if (r == 0)
            fail(path_ + ": " + what + ": the file ends at byte " + std::to_string(offset + done) + ", expected " +
                 std::to_string(offset + n) + " (was it truncated after it was opened?)");
        done += size_t(r);
    }
}

namespace {

// Checks the 8-byte length against the file size and reads the header of src (a callable
// read(offset, out, n, what)); fills the header's fields.
template <typename Read>
void load(uint64_t file_size, const std::string & path, uint64_t & header_size,
          uint64_t & data_size, std::vector<StTensorInfo> & tensors, std::map<std::string, std::string> & metadata,
          Read && read) {
    if (file_size < 8)
        fail(path + ": " + std::to_string(file_size) +
             " bytes, shorter than the 8-byte header length of a safetensors file");
    unsigned char len[8];
    read(0, len, 8, "header length");
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
    if (n > kStMaxHeader)
        fail(path + ": header length " + std::to_string(n) + " exceeds the limit of " + std::to_string(kStMaxHeader) +
             " bytes (not a safetensors file, or a damaged one)");
    if (n > file_size - 8)
        fail(path + ": header length " + std::to_string(n) + " runs past the end of the file (" +
             std::to_string(file_size) + " bytes leave at most " + std::to_string(file_size - 8) +
             " for the header; truncated?)");
    if (n == 0) fail(path + ": header length 0, expected a JSON object");
    std::string header(size_t(n), '\0');
    read(8, header.data(), size_t(n), "header");
    header_size = n;
    data_size = file_size - 8 - n;
    parse_st_header(header, data_size, path, tensors, metadata);
}

} // namespace

SafetensorsFile SafetensorsFile::open(const std::string & path) {
    SafetensorsFile st;
    st.path_ = path;
    // O_NONBLOCK: a FIFO at the path must not block the open (it is refused below); it changes
    // nothing for a regular file
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        const int err = errno;
        if (err == ENOENT) fail(path + ": no such file");
        fail(path + ": cannot open (" + std::strerror(err) + ")");
    }
    st.fd_ = fd;
    struct stat sb {};
    if (::fstat(fd, &sb) != 0) fail(path + ": cannot stat (" + std::string(std::strerror(errno)) + ")");
    if (S_ISDIR(sb.st_mode)) fail(path + ": is a directory, expected a safetensors file");
    if (!S_ISREG(sb.st_mode)) fail(path + ": not a regular file, expected a safetensors file");
    load(uint64_t(sb.st_size), path, st.header_size_, st.data_size_, st.tensors_, st.metadata_,
         [&](uint64_t o, void * out, size_t n, const char * what) { st.read_bytes(o, out, n, what); });
    return st;
}

SafetensorsFile SafetensorsFile::from_bytes(std::string bytes, const std::string & name) {
    SafetensorsFile st;
    st.path_ = name;
    st.mem_ = std::move(bytes);
    load(st.mem_.size(), name, st.header_size_, st.data_size_, st.tensors_, st.metadata_,
         [&](uint64_t o, void * out, size_t n, const char * what) { st.read_bytes(o, out, n, what); });
    return st;
}

const StTensorInfo * SafetensorsFile::find(const std::string & name) const {
    auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                               [](const StTensorInfo & t, const std::string & n) { return t.name < n; });
    return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

std::vector<float> SafetensorsFile::read_f32(const std::string & name) const {
    const StTensorInfo * t = find(name);
    if (!t) fail(path_ + ": no tensor '" + name + "'");
    std::vector<float> out(t->elements());
    read_f32(*t, out.data());
    return out;
}

void SafetensorsFile::read_f32(const StTensorInfo & t, float * out) const {
    const std::string what = "tensor '" + t.name + "'";
    if (!st_dtype_readable(t.dtype))
        fail(path_ + ": " + what + " has dtype " + st_dtype_name(t.dtype) + "; moe-lab reads F32, F16 and BF16 tensors");
    const uint64_t n = t.elements();
    const size_t esize = t.dtype == StDtype::F32 ? 4 : 2;
    constexpr size_t kChunk = 1 << 16; // elements per read
    std::vector<unsigned char> buf(std::min<uint64_t>(n, kChunk) * esize);
    for (uint64_t i = 0; i < n; i += kChunk) {
        const size_t m = size_t(std::min<uint64_t>(kChunk, n - i));
        read_bytes(8 + header_size_ + t.begin + i * esize, buf.data(), m * esize, what);
        const unsigned char * p = buf.data();
        float * o = out + i;
        if (t.dtype == StDtype::F32)
            for (size_t k = 0; k < m; ++k) o[k] = std::bit_cast<float>(le32(p + 4 * k));
        else if (t.dtype == StDtype::F16)
            for (size_t k = 0; k < m; ++k) o[k] = f16_bits_to_float(le16(p + 2 * k));
        else
            for (size_t k = 0; k < m; ++k) o[k] = bf16_bits_to_float(le16(p + 2 * k));
    }
}

} // namespace moe::io
