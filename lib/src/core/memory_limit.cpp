// core: the memory this process may still allocate (see moe/core/memory_limit.hpp).
#include "moe/core/memory_limit.hpp"

#include <sys/resource.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace moe {

namespace {

// "Key:   123 kB" lines of /proc/meminfo or /proc/self/status: the value in bytes, or 0.
uint64_t kb_field(const char * path, const std::string & key) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(key + ":", 0) != 0) continue;
        std::istringstream s(line.substr(key.size() + 1));
        uint64_t v = 0;
        s >> v;
        return v * 1024;
    }
    return 0;
}

// A file holding one number ("max" or unreadable: false).
bool read_number(const std::string & path, uint64_t & v) {
    std::ifstream in(path);
    std::string s;
    if (!(in >> s) || s == "max") return false;
    try {
        v = std::stoull(s);
    } catch (...) {
        return false;
    }
    return true;
}

// The cgroup of this process: the v2 path ("0::/path") or the v1 memory controller's.
void cgroup_bound(AvailableMemory & out) {
    std::ifstream in("/proc/self/cgroup");
    std::string line, v2, v1;
    while (std::getline(in, line)) {
        const auto a = line.find(':'), b = line.find(':', a + 1);
        if (a == std::string::npos || b == std::string::npos) continue;
        const std::string ctl = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
        if (line.rfind("0::", 0) == 0) v2 = path;
        if (ctl.find("memory") != std::string::npos) v1 = path;
    }
    uint64_t lim = 0, cur = 0;
    for (const std::string & p : {"/sys/fs/cgroup" + v2, std::string("/sys/fs/cgroup")}) {
        if (v2.empty() && p != "/sys/fs/cgroup") continue;
        if (read_number(p + "/memory.max", lim)) {
            read_number(p + "/memory.current", cur);
            out.bounds.push_back({"the cgroup limit memory.max (" + p + "/memory.max)", lim > cur ? lim - cur : 0, lim});
            return;
        }
    }
    for (const std::string & p : {"/sys/fs/cgroup/memory" + v1, std::string("/sys/fs/cgroup/memory")}) {
        // v1 reports "no limit" as a huge number (PAGE_COUNTER_MAX pages)
        if (read_number(p + "/memory.limit_in_bytes", lim) && lim < (uint64_t(1) << 60)) {
            read_number(p + "/memory.usage_in_bytes", cur);
            out.bounds.push_back(
                {"the cgroup limit memory.limit_in_bytes (" + p + "/memory.limit_in_bytes)", lim > cur ? lim - cur : 0, lim});
            return;
        }
    }
}

} // namespace

uint64_t address_space_in_use() { return kb_field("/proc/self/status", "VmSize"); }

AvailableMemory available_memory() {
    AvailableMemory out;
    if (const uint64_t avail = kb_field("/proc/meminfo", "MemAvailable"); avail > 0)
        out.bounds.push_back({"MemAvailable (/proc/meminfo)", avail, avail});
    struct rlimit rl {};
    if (::getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        const uint64_t lim = rl.rlim_cur, used = address_space_in_use();
        MemoryBound b{"the address-space limit ulimit -v (RLIMIT_AS)", lim > used ? lim - used : 0, lim};
        b.address_space = true;
        out.bounds.push_back(b);
    }
    cgroup_bound(out);
    for (size_t i = 0; i < out.bounds.size(); ++i)
        if (out.smallest < 0 || out.bounds[i].bytes < out.bounds[size_t(out.smallest)].bytes) out.smallest = int(i);
    return out;
}

std::string format_bytes(uint64_t bytes) {
    const char * unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = double(bytes);
    int u = 0;
    while (v >= 1024.0 && u < 5) v /= 1024.0, ++u;
    char buf[32];
    if (u == 0)
        std::snprintf(buf, sizeof buf, "%llu B", (unsigned long long)bytes);
    else
        std::snprintf(buf, sizeof buf, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v, unit[u]);
    return buf;
}

} // namespace moe
