// temporaries.cpp — the temporary files outputs are written to (moe/io/temporaries.hpp): the
// registry of live ones (live_add/live_remove, internal.hpp) that remove_live_temporaries()
// unlinks with async-signal-safe calls, their unpredictable names and exclusive creation
// (create_temporary), and the removal of stale ones left by killed processes.
#include "moe/io/temporaries.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <utility>
#include <vector>

#include "internal.hpp"
#include "moe/core/log.hpp"

namespace fs = std::filesystem;

// Temporary files being written now, for remove_live_temporaries(): a process leaving at once (a
// second SIGINT) unlinks them with async-signal-safe calls only. A slot: 0 free, 1 being filled,
// 2 live; more than kLive at once (never today) are not tracked.
namespace moe::io::detail {

namespace {
constexpr int kLive = 16;
struct LiveSlot {
    std::atomic<int> state{0};
    char path[4096];
};
LiveSlot g_live[kLive];
static_assert(std::atomic<int>::is_always_lock_free);
} // namespace

int live_add(const std::string & p) {
    if (p.size() >= sizeof g_live[0].path) return -1;
    for (int i = 0; i < kLive; ++i) {
        int expect = 0;
        if (g_live[i].state.compare_exchange_strong(expect, 1)) {
            std::memcpy(g_live[i].path, p.c_str(), p.size() + 1);
            g_live[i].state.store(2, std::memory_order_release);
            return i;
        }
    }
    return -1;
}
void live_remove(int & slot) {
    if (slot >= 0) g_live[slot].state.store(0, std::memory_order_release);
    slot = -1;
}

int create_temporary(const std::string & final_path, int mode, std::string & tmp, int & live) {
    live = -1;
    for (int attempt = 0; attempt < 16; ++attempt) {
        tmp = temp_path_for(final_path);
        // tracked before it exists: a second signal between open() and the tracking would leave it
        // (the name is this process's own: nobody else can guess it)
        live = live_add(tmp);
        const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd >= 0) return fd;
        const int err = errno;
        live_remove(live);
        if (err != EEXIST) {
            errno = err;
            return -1;
        }
    }
    errno = EEXIST;
    return -1;
}

} // namespace moe::io::detail

namespace moe::io {

using namespace detail;

void remove_live_temporaries() noexcept {
    for (auto & s : g_live)
        if (s.state.load(std::memory_order_acquire) == 2) ::unlink(s.path);
}

namespace {

// 64 random bits as 16 hex digits: getrandom(2), else std::random_device.
std::string random_hex() {
    uint64_t v = 0;
    if (::getrandom(&v, sizeof v, GRND_NONBLOCK) != ssize_t(sizeof v)) {
        std::random_device rd;
        v = (uint64_t(rd()) << 32) ^ uint64_t(rd());
    }
    char buf[17];
    for (int i = 15; i >= 0; --i, v >>= 4) buf[i] = "0123456789abcdef"[v & 15];
    buf[16] = 0;
    return buf;
}

// The pid of a temporary's name after its prefix ("<pid>" or "<pid>-<hex>"), or -1.
long temp_name_pid(const std::string & rest) {
    const size_t dash = rest.find('-');
    const std::string pid_s = rest.substr(0, dash);
    if (pid_s.empty() || pid_s.find_first_not_of("0123456789") != std::string::npos || pid_s.size() > 18) return -1;
    if (dash != std::string::npos) {
        const std::string hex = rest.substr(dash + 1);
        if (hex.empty() || hex.find_first_not_of("0123456789abcdef") != std::string::npos) return -1;
    }
    return std::strtol(pid_s.c_str(), nullptr, 10);
}

// (path, pid) of every entry of out's directory named like a temporary of one of `finals`
// (file names of outputs in that directory).
std::vector<std::pair<fs::path, long>> temporaries_in(const fs::path & out, const std::vector<std::string> & finals) {
    fs::path dir = out.parent_path();
    if (dir.empty()) dir = ".";
    std::vector<std::pair<fs::path, long>> found;
    std::error_code ec;
    for (const auto & ent : fs::directory_iterator(dir, ec)) {
        const std::string f = ent.path().filename().string();
        for (const auto & base : finals) {
            const std::string pre = base + ".tmp-";
            if (f.size() <= pre.size() || f.compare(0, pre.size(), pre) != 0) continue;
            const long pid = temp_name_pid(f.substr(pre.size()));
            if (pid > 0) found.emplace_back(ent.path(), pid);
        }
    }
    return found;
}

} // namespace

std::string temp_path_for(const std::string & final_path) {
    return final_path + ".tmp-" + std::to_string(static_cast<long>(::getpid())) + "-" + random_hex();
}

std::vector<std::string> temporaries_of(const std::string & final_path) {
    const fs::path out(final_path);
    std::vector<std::string> r;
    for (const auto & [p, pid] : temporaries_in(out, {out.filename().string()})) r.push_back(p.string());
    std::sort(r.begin(), r.end());
    return r;
}

void remove_stale_temporaries(const std::string & out_path) {
    const fs::path out(out_path);
    const std::string base = out.filename().string();
    for (const auto & [p, pid] : temporaries_in(out, {base, base + ".ckpt"})) {
        if (pid == (long)::getpid() || ::kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        struct stat st {};
        if (::lstat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue; // only files a writer made
        if (::unlink(p.c_str()) == 0) log_info("removed " + p.string() + " (left by a killed run)");
    }
}

} // namespace moe::io
