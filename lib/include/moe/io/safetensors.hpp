// moe/io/safetensors.hpp — Hugging Face's safetensors format, read strictly and written as the
// reference implementation writes it (huggingface/safetensors README.md, "Format"): an 8-byte
// little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}, ...,
// "__metadata__": {string: string}}, then the data area, every byte of it owned by exactly one
// tensor. F32, F16 and BF16 tensors are read as float; the other dtypes of the format are
// recognised in the header and refused by name when read. Sharded checkpoints
// (model.safetensors.index.json) are read through SafetensorsCheckpoint. Every error is
// Error(ErrorCode::io) naming the file, the tensor or field, and what was expected; the rules
// are listed in docs/safetensors.md.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace moe::io {

// The dtypes of the format, in the reference implementation's order (increasing alignment).
enum class StDtype {
    BOOL,
    F4,
    F6_E2M3,
    F6_E3M2,
    U8,
    I8,
    F8_E5M2,
    F8_E4M3,
    F8_E8M0,
    F8_E4M3FNUZ,
    F8_E5M2FNUZ,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    C64,
    F64,
    I64,
    U64,
};

const char * st_dtype_name(StDtype d);
// Bits per element (BOOL: 8; F4: 4; F6_*: 6).
int st_dtype_bits(StDtype d);
// The dtype named `s` (exact, case-sensitive); false if the format has no such dtype.
bool st_dtype_from_name(const std::string & s, StDtype & out);
// F32, F16 and BF16: the dtypes read_f32 converts.
bool st_dtype_readable(StDtype d);

// Exact conversions to float: every F16 value (subnormals, infinities, NaN payloads) and every
// BF16 value has a float that equals it.
float f16_bits_to_float(uint16_t h);
float bf16_bits_to_float(uint16_t b);

struct StTensorInfo {
    std::string name;
    StDtype dtype = StDtype::F32;
    std::vector<int64_t> shape; // [] for a 0-rank tensor
    uint64_t begin = 0, end = 0; // byte offsets in the data area, [begin, end)
    uint64_t elements() const;  // product of shape (1 for a 0-rank tensor)
};

// A validated safetensors file. open() reads and checks the header and the layout of the data
// area, not the tensors' bytes; read_f32 reads one tensor when asked (pread on the open file).
class SafetensorsFile {
  public:
    // Throws Error(io) for a missing or unreadable file and for any broken rule of the format.
    static SafetensorsFile open(const std::string & path);
    // The same checks over bytes in memory; `name` stands for the file in messages (fuzzing).
    static SafetensorsFile from_bytes(std::string bytes, const std::string & name);

    SafetensorsFile(SafetensorsFile &&) noexcept;
    SafetensorsFile & operator=(SafetensorsFile &&) noexcept;
    ~SafetensorsFile();

    const std::string & path() const { return path_; }
    // Every tensor, sorted by name.
    const std::vector<StTensorInfo> & tensors() const { return tensors_; }
    // nullptr when the file has no tensor of that name.
    const StTensorInfo * find(const std::string & name) const;
    // __metadata__ (empty when the file has none).
    const std::map<std::string, std::string> & metadata() const { return metadata_; }
    uint64_t header_size() const { return header_size_; } // N
    uint64_t data_size() const { return data_size_; }

    // The tensor's elements as float, row-major. Throws Error(io) for an unknown name, a dtype
    // other than F32/F16/BF16 (named) and a file that became shorter since open().
    std::vector<float> read_f32(const std::string & name) const;
    // The same into out[0, elements()).
    void read_f32(const StTensorInfo & t, float * out) const;

  private:
    SafetensorsFile() = default;
    void read_bytes(uint64_t offset, void * out, size_t n, const std::string & what) const;
    std::string path_;
    int fd_ = -1;
    std::string mem_; // from_bytes: the whole file
    uint64_t header_size_ = 0, data_size_ = 0;
    std::vector<StTensorInfo> tensors_;
    std::map<std::string, std::string> metadata_;
};

// One tensor to write: row-major float data of shape's product elements (not owned; it must
// live until write_safetensors returns).
struct StTensorOut {
    std::string name;
    std::vector<int64_t> shape;
    const float * data = nullptr;
};

// Writes F32 tensors as the reference implementation does: tensors sorted by name, offsets
// contiguous from 0, compact JSON with "__metadata__" first and the fields in the order dtype,
// shape, data_offsets, the header padded with spaces to a multiple of 8. metadata gets
// "format": "pt" unless it sets "format" itself (transformers refuses files without it). The
// file is written atomically (a temporary file in its directory, fsync, rename): on any failure
// nothing is left at the path. Bad arguments (an empty, duplicate or reserved name, a negative
// dimension, a null pointer with elements, a name or value that is not UTF-8) are
// Error(ErrorCode::internal); failures to write are Error(ErrorCode::io) naming the path.
void write_safetensors(const std::string & path, const std::vector<StTensorOut> & tensors,
                       const std::map<std::string, std::string> & metadata = {});
// The bytes write_safetensors writes (for tests and for callers that hash the file).
std::string safetensors_bytes(const std::vector<StTensorOut> & tensors,
                              const std::map<std::string, std::string> & metadata = {});

// A checkpoint in one file or in shards: open() takes a .safetensors file, a
// *.safetensors.index.json index, or a directory holding model.safetensors.index.json or
// model.safetensors (in that order). An index's weight_map maps every tensor name to a shard
// file in the index's directory; every shard is opened and checked, every tensor of every
// shard must be mapped to that shard, and every mapped name must exist in its shard.
class SafetensorsCheckpoint {
  public:
    static SafetensorsCheckpoint open(const std::string & path);

    const std::string & path() const { return path_; } // what was opened
    // The file open() read: the .safetensors file, or the index of a sharded checkpoint.
    const std::string & source() const { return source_; }
    const std::vector<SafetensorsFile> & files() const { return files_; }
    // Every tensor name, sorted.
    std::vector<std::string> names() const;
    // The tensor and the file holding it; nullptr when absent.
    const StTensorInfo * find(const std::string & name, const SafetensorsFile ** file = nullptr) const;
    std::vector<float> read_f32(const std::string & name) const;

  private:
    std::string path_, source_;
    std::vector<SafetensorsFile> files_;
    std::map<std::string, size_t> where_; // name -> index into files_
};

} // namespace moe::io
