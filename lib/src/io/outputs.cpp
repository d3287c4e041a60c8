// outputs.cpp — checks on output paths and the atomic text-file writer (moe/io/outputs.hpp):
// an output must be a new or a regular file (check_output_target, internal.hpp) in a writable
// directory and not one of the inputs; write_text_atomic writes a temporary file, syncs it and
// renames it into place.
#include "moe/io/outputs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "internal.hpp"
#include "moe/core/error.hpp"
#include "moe/io/temporaries.hpp"

namespace fs = std::filesystem;

namespace moe::io::detail {

// An existing output must be a regular file: the final rename would replace a FIFO, a device
// node or a symbolic link by the new file (as root, -o /dev/null would replace /dev/null).
void check_output_target(const std::string & path, const std::string & pre) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || S_ISREG(st.st_mode)) return; // absent, or a regular file
    std::string kind = "not a regular file";
    if (S_ISDIR(st.st_mode))
        kind = "a directory";
    else if (S_ISFIFO(st.st_mode))
        kind = "a FIFO";
    else if (S_ISCHR(st.st_mode))
        kind = "a character device";
    else if (S_ISBLK(st.st_mode))
        kind = "a block device";
    else if (S_ISSOCK(st.st_mode))
        kind = "a socket";
    else if (S_ISLNK(st.st_mode)) {
        std::error_code ec;
        const auto to = fs::read_symlink(path, ec);
        kind =
            "a symbolic link" + (ec ? std::string() : " (to " + to.string() + ")") + ", which the write would replace";
    }
    throw Error(ErrorCode::io, pre + "it exists and is " + kind + "; give the path of a new or a regular file");
}

void check_output_dir(const std::string & path, const std::string & pre) {
    const fs::path fp(path);
    std::string dir = fp.parent_path().string();
    if (dir.empty()) dir = ".";
    std::error_code ec;
    if (!fs::exists(dir, ec)) fail(pre + "directory " + dir + " does not exist");
    if (!fs::is_directory(dir, ec)) fail(pre + dir + " is not a directory");
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
        fail(pre + "directory " + dir + " is not writable (" + std::strerror(errno) + ")");
    if (fs::is_directory(fp, ec)) fail(pre + "it is an existing directory");
}

} // namespace moe::io::detail

namespace moe::io {

using namespace detail;

void check_output_not_input(const std::string & out, const std::vector<std::pair<std::string, std::string>> & inputs,
                            const std::string & option) {
    std::error_code ec;
    if (out.empty() || !fs::exists(out, ec)) return; // a new file cannot be an input
    for (const auto & [what, path] : inputs) {
        if (path.empty()) continue;
        std::error_code e2;
        if (fs::equivalent(out, path, e2))
            throw Error(ErrorCode::spec,
                        "the output " + out + " is " + what + " (" + path + "); writing it would replace the input",
                        {"give " + option + " another path"});
    }
}

void write_text_atomic(const std::string & path, const std::string & text) {
    const std::string pre = "cannot write " + path + ": ";
    check_output_target(path, pre);
    struct Live { // tracked until it is renamed or removed (remove_live_temporaries)
        int slot = -1;
        ~Live() { live_remove(slot); }
    } live;
    std::string tmp;
    const int fd = create_temporary(path, 0644, tmp, live.slot);
    if (fd < 0) throw Error(ErrorCode::io, pre + std::strerror(errno));
    auto fail = [&](const std::string & why) {
        ::close(fd);
        ::unlink(tmp.c_str());
        throw Error(ErrorCode::io, pre + why);
    };
    size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail(std::strerror(errno));
        }
        done += size_t(n);
    }
    if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS) fail(std::string("fsync: ") + std::strerror(errno));
    if (::close(fd) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        throw Error(ErrorCode::io, pre + std::strerror(err));
    }
    try { // what appeared at the path meanwhile: refused as before the write
        check_output_target(path, pre);
    } catch (...) {
        ::unlink(tmp.c_str());
        throw;
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        throw Error(ErrorCode::io, pre + "cannot rename the temporary file onto it (" + std::strerror(err) + ")");
    }
}

} // namespace moe::io
