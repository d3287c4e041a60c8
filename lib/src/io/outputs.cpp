// outputs.cpp — checks on output paths, the output lock and the atomic text-file writer
// (moe/io/outputs.hpp): an output must be a new or a regular file (check_output_target,
// internal.hpp) in a writable directory, not one of the inputs, and new unless --force; a writer
// holds OutputLock on it; write_text_atomic and write_bytes_atomic write a temporary file, sync
// it and rename it into place.
#include "moe/io/outputs.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "internal.hpp"
#include "moe/core/error.hpp"
#include "moe/core/log.hpp"
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

void check_new_output(const std::string & path, bool force, const std::string & option) {
    struct stat st {};
    if (force || path.empty() || ::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return;
    throw Error(ErrorCode::spec, "the output " + path + " exists; --force replaces it",
                {"give " + option + " another path, or add --force to replace it"});
}

std::string lock_path_for(const std::string & out_path) { return out_path + ".lock"; }

namespace {

// The first bytes of the lock file: "<pid>\n" (written by its holder), or "" when empty.
std::string lock_text(int fd) {
    char buf[64];
    const ssize_t n = ::pread(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, size_t(n)) : std::string();
}
// A lock file moe-lab wrote: empty or one line of digits (a PID).
bool is_lock_text(const std::string & t) {
    if (t.empty()) return true;
    const size_t nl = t.find('\n');
    return nl > 0 && nl != std::string::npos && nl + 1 == t.size() && t.find_first_not_of("0123456789") == nl;
}
bool same_file(const struct stat & a, const struct stat & b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

} // namespace

OutputLock::OutputLock(const std::string & out_path) : path_(lock_path_for(out_path)) {
    const std::string pre = "cannot write run file " + out_path + ": ";
    if (out_path.empty()) fail("cannot write run file: empty path");
    check_output_dir(out_path, pre);
    check_output_target(out_path, pre);
    const std::string lpre = pre + "cannot lock it with " + path_ + ": ";
    // Refuses what is at the lock file's name unless it is a lock file: a link (symbolic or hard)
    // or another kind of file is never opened for writing, nor a file with other content.
    auto refuse = [&](const struct stat & st) {
        std::string what = "it is not a regular file";
        if (S_ISLNK(st.st_mode))
            what = "it is a symbolic link";
        else if (S_ISREG(st.st_mode) && st.st_nlink != 1)
            what = "it has " + std::to_string(st.st_nlink) + " hard links";
        throw Error(ErrorCode::io, lpre + what + ", not a lock file of moe-lab; remove it or give -o another path");
    };
    for (int attempt = 0;; ++attempt) {
        struct stat ls {};
        if (::lstat(path_.c_str(), &ls) == 0 && (!S_ISREG(ls.st_mode) || ls.st_nlink != 1)) refuse(ls);
        const int flags = O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
        int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | flags, 0644);
        if (fd < 0 && errno == EACCES) fd = ::open(path_.c_str(), O_RDONLY | flags); // another user's
        if (fd < 0) {
            const int err = errno;
            if (err == ELOOP && ::lstat(path_.c_str(), &ls) == 0) refuse(ls);
            fail(lpre + std::strerror(err));
        }
        struct stat st {};
        if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
            ::close(fd);
            refuse(st);
        }
        if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
            const int err = errno;
            if (err == EWOULDBLOCK) {
                std::string pid = lock_text(fd);
                ::close(fd);
                if (!pid.empty() && pid.back() == '\n') pid.pop_back();
                const bool known = !pid.empty() && pid.find_first_not_of("0123456789") == std::string::npos;
                throw Error(ErrorCode::spec,
                            "the output " + out_path + " is being written by another process" +
                                (known ? " (PID " + pid + ")" : std::string()) + ", which holds its lock file " + path_,
                            {"wait for that run to finish, or give -o another path"});
            }
            // a file system without locks (some network and FUSE ones): no lock, but the run goes on
            log_warn(lpre + "flock: " + std::strerror(err) + "; a second writer of this output would not be noticed");
        }
        // The file locked must still be the one at the path: a holder removes its lock file just
        // before it releases the lock, and whoever waited on that file then tries again.
        struct stat now {};
        if (::lstat(path_.c_str(), &now) != 0 || !same_file(now, st)) {
            ::close(fd);
            if (attempt < 100) continue;
            fail(lpre + "it keeps being replaced");
        }
        if (::fstat(fd, &st) != 0 || st.st_nlink != 1) {
            ::close(fd);
            refuse(st);
        }
        if (!is_lock_text(lock_text(fd))) {
            ::close(fd);
            throw Error(ErrorCode::io, lpre + "it exists and is not a lock file of moe-lab (it holds other data); "
                                              "remove it or give -o another path");
        }
        fd_ = fd;
        live_ = live_add(path_);
        // this process's PID, for the message of a second writer (best effort: on a full disk the
        // file stays empty; a read-only descriptor, another user's file, is left as it is)
        const std::string pid = std::to_string(static_cast<long>(::getpid())) + "\n";
        if (::ftruncate(fd, 0) == 0) {
            const ssize_t n = ::pwrite(fd, pid.data(), pid.size(), 0);
            (void)n;
        }
        return;
    }
}

OutputLock::OutputLock(OutputLock && o) noexcept : fd_(o.fd_), live_(o.live_), path_(std::move(o.path_)) {
    o.fd_ = -1;
    o.live_ = -1;
}

OutputLock & OutputLock::operator=(OutputLock && o) noexcept {
    if (this != &o) {
        release();
        fd_ = o.fd_;
        live_ = o.live_;
        path_ = std::move(o.path_);
        o.fd_ = -1;
        o.live_ = -1;
    }
    return *this;
}

void OutputLock::release() noexcept {
    if (fd_ < 0) return;
    struct stat st {};
    struct stat now {};
    if (::fstat(fd_, &st) == 0 && ::lstat(path_.c_str(), &now) == 0 && same_file(st, now)) ::unlink(path_.c_str());
    live_remove(live_);
    ::close(fd_);
    fd_ = -1;
}

void write_text_atomic(const std::string & path, const std::string & text) {
    write_bytes_atomic(path, {std::string_view(text)});
}

void write_bytes_atomic(const std::string & path, const std::vector<std::string_view> & pieces) {
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
    for (const std::string_view text : pieces) {
        size_t done = 0;
        while (done < text.size()) {
            const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                fail(std::strerror(errno));
            }
            done += size_t(n);
        }
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

void write_directory_atomic(const std::string & dir, bool replace,
                            const std::function<void(const std::string &)> & fill) {
    namespace fs = std::filesystem;
    if (dir.empty()) throw Error(ErrorCode::spec, "an empty output directory");
    const fs::path out = fs::absolute(fs::path(dir)).lexically_normal();
    std::error_code ec;
    if (fs::exists(out, ec) && !replace)
        throw Error(ErrorCode::spec, "the output " + out.string() + " exists; --force replaces it");
    if (!fs::is_directory(out.parent_path(), ec))
        throw Error(ErrorCode::io, out.string() + ": its parent directory does not exist");
    const fs::path tmp = out.string() + ".part-" + std::to_string(::getpid());
    fs::remove_all(tmp, ec);
    if (!fs::create_directory(tmp, ec))
        throw Error(ErrorCode::io, "cannot create " + tmp.string() + ": " + ec.message());
    try {
        fill(tmp.string());
        if (fs::exists(out, ec)) {
            const fs::path old = out.string() + ".old-" + std::to_string(::getpid());
            fs::rename(out, old);
            fs::rename(tmp, out);
            fs::remove_all(old, ec);
        } else {
            fs::rename(tmp, out);
        }
    } catch (const fs::filesystem_error & e) {
        fs::remove_all(tmp, ec);
        throw Error(ErrorCode::io, "cannot write " + out.string() + ": " + e.code().message());
    } catch (...) {
        fs::remove_all(tmp, ec);
        throw;
    }
}

} // namespace moe::io
