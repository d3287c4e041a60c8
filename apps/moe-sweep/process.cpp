// moe-sweep: starting programs, paths (process.hpp).
#include "process.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "moe/core/error.hpp"

namespace moe::sweep_app {

namespace fs = std::filesystem;

std::string self_dir() {
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    return ec ? std::string(".") : exe.parent_path().string();
}

std::string sibling(const std::string & program) {
    const fs::path p = fs::path(self_dir()) / program;
    std::error_code ec;
    return fs::exists(p, ec) ? p.string() : program;
}

std::string which(const std::string & program) {
    const char * path = std::getenv("PATH");
    std::string all = path ? path : "/usr/bin:/bin";
    size_t start = 0;
    while (start <= all.size()) {
        const size_t end = all.find(':', start);
        const std::string dir = all.substr(start, end == std::string::npos ? std::string::npos : end - start);
        const fs::path cand = fs::path(dir.empty() ? "." : dir) / program;
        if (::access(cand.c_str(), X_OK) == 0) return cand.string();
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return "";
}

std::string shell_quote(const std::string & s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

int run(const std::vector<std::string> & argv, std::string * captured, const std::string & cwd) {
    int fds[2] = {-1, -1};
    if (captured && ::pipe(fds) != 0) throw Error(ErrorCode::io, "cannot create a pipe: " + std::string(std::strerror(errno)));
    const pid_t pid = ::fork();
    if (pid < 0) throw Error(ErrorCode::io, "cannot start " + argv[0] + ": " + std::strerror(errno));
    if (pid == 0) {
        if (captured) {
            ::dup2(fds[1], STDOUT_FILENO);
            ::close(fds[0]);
            ::close(fds[1]);
        }
        if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(127);
        std::vector<char *> args;
        for (const auto & a : argv) args.push_back(const_cast<char *>(a.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    if (captured) {
        ::close(fds[1]);
        char buf[4096];
        ssize_t n;
        while ((n = ::read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
            if (n > 0) captured->append(buf, static_cast<size_t>(n));
        ::close(fds[0]);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) throw Error(ErrorCode::io, "cannot wait for " + argv[0]);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

std::string absolute(const std::string & path) {
    std::error_code ec;
    const fs::path p(path);
    if (p.is_absolute()) return p.lexically_normal().string();
    return (fs::current_path(ec) / p).lexically_normal().string();
}

} // namespace moe::sweep_app
