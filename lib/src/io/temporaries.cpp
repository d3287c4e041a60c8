// temporaries.cpp — the temporary files outputs are written to (moe/io/temporaries.hpp): the
// registry of live ones (live_add/live_remove, internal.hpp) that remove_live_temporaries()
// unlinks with async-signal-safe calls, their names, and the removal of stale ones left by
// killed processes.
#include "moe/io/temporaries.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

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

} // namespace moe::io::detail

namespace moe::io {

using namespace detail;

void remove_live_temporaries() noexcept {
    for (auto & s : g_live)
        if (s.state.load(std::memory_order_acquire) == 2) ::unlink(s.path);
}

std::string temp_path_for(const std::string & final_path) {
    return final_path + ".tmp-" + std::to_string(static_cast<long>(::getpid()));
}

void remove_stale_temporaries(const std::string & out_path) {
    const fs::path out(out_path);
    fs::path dir = out.parent_path();
    if (dir.empty()) dir = ".";
    const std::string base = out.filename().string();
    std::error_code ec;
    for (const auto & ent : fs::directory_iterator(dir, ec)) {
        const std::string f = ent.path().filename().string();
        for (const std::string & pre : {base + ".tmp-", base + ".ckpt.tmp-"}) {
            if (f.size() <= pre.size() || f.compare(0, pre.size(), pre) != 0) continue;
            const std::string pid_s = f.substr(pre.size());
            if (pid_s.find_first_not_of("0123456789") != std::string::npos) continue;
            const long pid = std::strtol(pid_s.c_str(), nullptr, 10);
            if (pid <= 0 || pid == (long)::getpid() || ::kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
            std::error_code ec2;
            if (fs::remove(ent.path(), ec2)) log_info("removed " + ent.path().string() + " (left by a killed run)");
        }
    }
}

} // namespace moe::io
