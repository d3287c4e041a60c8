// moe/io/run_writer.hpp — RunWriter: writes a run file (layout in moe/io/run_format.hpp) in
// memory and puts it in place atomically on commit().
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "moe/core/params.hpp"
#include "moe/io/run_format.hpp"

namespace moe::io {

// RunWriter builds the HDF5 file in memory; its constructor creates the temporary file beside
// the final path ("<out>.tmp-<pid>-<random hex>", with O_EXCL | O_NOFOLLOW: nothing planted there
// is followed), so an unwritable location fails at once, and commit() writes the finished image
// there, syncs it and renames it into place (refusing a link, FIFO, device or directory that
// appeared at the final path meanwhile, as the constructor refuses one). If it is destroyed
// without commit(), or any step fails (a full disk included), the temporary file is removed,
// so a failed run never leaves a half-written run file. Series are buffered and appended to
// chunked, unlimited datasets on flush().
class RunWriter {
  public:
    // tool: e.g. "moe-train". Fails (ErrorCode::io) if the directory of final_path does not
    // exist or is not writable, naming the path.
    RunWriter(const std::string & final_path, const std::string & tool);
    ~RunWriter();
    RunWriter(const RunWriter &) = delete;
    RunWriter & operator=(const RunWriter &) = delete;

    void write_string(const std::string & path, const std::string & value); // scalar string dataset
    void write_array(const std::string & path, std::span<const float> data, std::vector<int64_t> shape);
    void write_array(const std::string & path, std::span<const double> data, std::vector<int64_t> shape);
    void write_array(const std::string & path, std::span<const int64_t> data, std::vector<int64_t> shape);
    void set_attr(const std::string & path, const std::string & name,
                  const std::string & value); // path: group or dataset ("/" = root)
    void set_attr(const std::string & path, const std::string & name, double value);
    void set_attr_int(const std::string & path, const std::string & name,
                      int64_t value); // a 64-bit integer (counts, flags)

    // Append one value to a 1-D series (created on first use). Buffered until flush().
    void append(const std::string & series, double value);
    // Append one value to a 1-D int64 series (step counts).
    void append_int(const std::string & series, int64_t value);
    // Append one row to a 2-D series (n, width); width fixed by the first row.
    void append_row(const std::string & series, std::span<const float> row);
    void flush();

    // Every parameter of the store under group/<name>, float32, attr trainable.
    template <typename T>
    void write_params(const ParamStore<T> & store, const std::string & group = "params");

    // Flush, close, fsync, rename to the final path. After commit() the writer is closed.
    void commit();
    const std::string & temp_path() const { return tmp_path_; }
    const std::string & final_path() const { return final_path_; }

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::string final_path_, tmp_path_;
};

} // namespace moe::io
