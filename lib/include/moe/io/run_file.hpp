// moe/io/run_file.hpp — the HDF5 run file (layout in DESIGN.md and README.md).
//
//   /                  attrs: format="moe-lab-run", format_version, tool, version, git, created
//   /spec              resolved spec (JSON string)
//   /params/<name>     every parameter, float32, attr trainable (0/1)
//   /metrics/train/... 1-D unlimited series (step, loss, lr, grad_norm, ms_per_step, ...)
//   /metrics/eval/...  per evaluation (step, epoch, <split>/<task>/loss|accuracy, ...)
//
// RunWriter builds the HDF5 file in memory; its constructor creates the temporary file beside
// the final path ("<out>.tmp-<pid>"), so an unwritable location fails at once, and commit()
// writes the finished image there, syncs it and renames it into place. If it is destroyed
// without commit(), or any step fails (a full disk included), the temporary file is removed,
// so a failed run never leaves a half-written run file. Series are buffered and appended to
// chunked, unlimited datasets on flush(). Paths are '/'-separated group paths;
// parameter names may contain dots ("layers.0.weight") and are used as dataset names verbatim.
// Every HDF5 failure throws moe::Error(ErrorCode::io) naming the file and the object.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "moe/core/params.hpp"

namespace moe::io {

inline constexpr const char * kRunFormat = "moe-lab-run";
// 2: a 512-byte integrity header (size + CRC-32) in HDF5's user block, checked before reading.
inline constexpr int kRunFormatVersion = 2;

class RunWriter {
  public:
    // tool: e.g. "moe-train". Fails (ErrorCode::io) if the directory of final_path does not
    // exist or is not writable, naming the path.
    RunWriter(const std::string & final_path, const std::string & tool);
    ~RunWriter();
    RunWriter(const RunWriter &) = delete;
    RunWriter & operator=(const RunWriter &) = delete;

    void write_string(const std::string & path, const std::string & value);   // scalar string dataset
    void write_array(const std::string & path, std::span<const float> data, std::vector<int64_t> shape);
    void write_array(const std::string & path, std::span<const double> data, std::vector<int64_t> shape);
    void write_array(const std::string & path, std::span<const int64_t> data, std::vector<int64_t> shape);
    void set_attr(const std::string & path, const std::string & name, const std::string & value); // path: group or dataset ("/" = root)
    void set_attr(const std::string & path, const std::string & name, double value);
    void set_attr_int(const std::string & path, const std::string & name, int64_t value); // a 64-bit integer (counts, flags)

    // Append one value to a 1-D series (created on first use). Buffered until flush().
    void append(const std::string & series, double value);
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

// The temporary file a writer for final_path uses: "<final_path>.tmp-<pid>" (for tests and messages).
std::string temp_path_for(const std::string & final_path);

// Removes the temporary files of writers that died (kill -9 during a write): "<out>.tmp-<pid>" and
// "<out>.ckpt.tmp-<pid>" whose process no longer exists; each removal is logged (info). Called by
// --resume, which owns these names; other processes' live temporaries are left alone.
void remove_stale_temporaries(const std::string & out_path);

// Unlinks the temporary files RunWriter and write_text_atomic are writing at this moment, with
// async-signal-safe calls only: for a process that exits at once (a second SIGINT), so that no
// OUT.tmp-PID is left behind. The finished files and checkpoints already in place are untouched.
void remove_live_temporaries() noexcept;

// Refuses (ErrorCode::spec) an output path that is one of the inputs (the same file through any
// path or hard link; inputs: (what, path), empty paths skipped): writing the output would
// replace the input. Names both.
void check_output_not_input(const std::string & out, const std::vector<std::pair<std::string, std::string>> & inputs,
                            const std::string & option = "-o");

// Writes a text file atomically (temporary file, fsync, rename); on any failure nothing is left
// behind and Error(ErrorCode::io) names the path and the reason (e.g. a full disk).
void write_text_atomic(const std::string & path, const std::string & text);

} // namespace moe::io
