// moe/io/outputs.hpp — checks on output paths, the lock a writer holds on its output and the
// atomic text-file writer: an output must not be one of the inputs, an existing one is replaced
// only when asked, one writer at a time, and a text output appears whole or not at all.
#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace moe::io {

// Refuses (ErrorCode::spec) an output path that is one of the inputs (the same file through any
// path or hard link; inputs: (what, path), empty paths skipped): writing the output would
// replace the input. Names both.
void check_output_not_input(const std::string & out, const std::vector<std::pair<std::string, std::string>> & inputs,
                            const std::string & option = "-o");

// Refuses (ErrorCode::spec) an existing regular file at path unless force: "the output PATH
// exists; --force replaces it" (hint: another path for `option`). Anything else that exists there
// (a link, a FIFO, a directory) is left to the writer's own checks, which refuse it with or
// without --force.
void check_new_output(const std::string & path, bool force, const std::string & option = "-o");

// "<out_path>.lock": the lock file of an output, in its directory.
std::string lock_path_for(const std::string & out_path);

// An exclusive lock on an output path (and thereby on its checkpoint, "<out>.ckpt") for as long as
// the object lives: flock(2) on the lock file lock_path_for(out_path), created if needed and opened
// with O_NOFOLLOW (a link, a FIFO or a file with other hard links there is refused, ErrorCode::io).
// The kernel releases it when the process dies, however it dies. A second writer of the same
// output fails at once (ErrorCode::spec) with a message naming the output and, when the lock file
// says, the holder's PID. The directory checks of RunWriter come first, with its messages ("cannot
// write run file OUT: directory D does not exist", ...). The lock file holds the holder's PID and
// is removed by the destructor (and by remove_live_temporaries) while the lock is still held;
// a lock file left by a killed process is taken over.
class OutputLock {
  public:
    OutputLock() = default; // holds nothing
    explicit OutputLock(const std::string & out_path);
    ~OutputLock() { release(); }
    OutputLock(OutputLock && o) noexcept;
    OutputLock & operator=(OutputLock && o) noexcept;
    OutputLock(const OutputLock &) = delete;
    OutputLock & operator=(const OutputLock &) = delete;

    bool held() const { return fd_ >= 0; }
    const std::string & lock_path() const { return path_; }
    // Removes the lock file (if it is still this lock's) and releases the lock; never throws.
    void release() noexcept;

  private:
    int fd_ = -1;
    int live_ = -1; // the lock file's slot among the live temporaries
    std::string path_;
};

// Writes a text file atomically (temporary file created exclusively, fsync, rename); on any
// failure nothing is left behind and Error(ErrorCode::io) names the path and the reason (e.g. a
// full disk).
void write_text_atomic(const std::string & path, const std::string & text);

// The same for a file made of pieces written one after another (a binary file whose parts live
// in separate buffers, e.g. a header and tensors, without copying them into one).
void write_bytes_atomic(const std::string & path, const std::vector<std::string_view> & pieces);

// A directory of files, all or nothing: fill(tmp) writes them into a fresh directory beside dir
// (dir.part-PID), which is then renamed to dir (an existing dir is replaced when replace, else
// refused with ErrorCode::spec "the output DIR exists; --force replaces it"). On any failure the
// temporary directory is removed and dir is as it was. dir's parent must exist (ErrorCode::io).
void write_directory_atomic(const std::string & dir, bool replace,
                            const std::function<void(const std::string &)> & fill);

} // namespace moe::io
