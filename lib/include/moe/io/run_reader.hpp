// moe/io/run_reader.hpp — RunReader: reads a run file (layout in moe/io/run_format.hpp).
//
// The whole file is read and its integrity header checked before libhdf5 sees a byte; then
// libhdf5 opens exactly the checked bytes, from memory. Every problem throws
// moe::Error(ErrorCode::io) naming the file and the object.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "moe/core/params.hpp"
#include "moe/io/run_format.hpp"

namespace moe::io {

class RunReader {
  public:
    // Reads the file, checks its integrity header (size and CRC-32; skipped when the environment
    // sets MOE_RUN_FILE_CHECK=0), opens the checked bytes from memory and checks the format
    // attribute; ErrorCode::io names the file on any problem (missing, not HDF5, truncated,
    // checksum mismatch, not a moe-lab run file).
    explicit RunReader(const std::string & path);
    ~RunReader();
    RunReader(const RunReader &) = delete;
    RunReader & operator=(const RunReader &) = delete;

    std::string spec_json() const;
    bool has(const std::string & path) const;
    // Names of the members of a group, sorted (empty when the group does not exist).
    std::vector<std::string> list(const std::string & group) const;
    std::vector<int64_t> shape(const std::string & path) const;
    std::vector<double> read_doubles(const std::string & path) const;
    std::vector<float> read_floats(const std::string & path) const;
    std::string read_string(const std::string & path) const;
    std::string attr_string(const std::string & path, const std::string & name) const;

    // Copy /params/<name> into every tensor of `store` whose name satisfies `want` (all when
    // want is empty). Every missing tensor and every shape mismatch is collected and reported at
    // once, by name, with both shapes (ErrorCode::io).
    template <typename T>
    void load_params(ParamStore<T> & store, const std::vector<std::string> & names) const;

    const std::string & path() const { return path_; }

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::string path_;
};

} // namespace moe::io
