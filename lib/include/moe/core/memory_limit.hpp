// moe/core/memory_limit.hpp — how much memory this process may still allocate: the smallest of
// the kernel's MemAvailable (proc(5), /proc/meminfo), the address-space limit (getrlimit(2)
// RLIMIT_AS, `ulimit -v`) less the address space already mapped (VmSize in /proc/self/status),
// and the cgroup's limit less its usage (cgroup v2 memory.max - memory.current, or v1
// memory.limit_in_bytes - memory.usage_in_bytes; the kernel's Documentation/admin-guide/cgroup-v2.rst).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace moe {

struct MemoryBound {
    std::string source;  // e.g. "MemAvailable (/proc/meminfo)", "ulimit -v (RLIMIT_AS)"
    uint64_t bytes = 0;  // what is left under this bound
    uint64_t limit = 0;  // the bound itself (MemAvailable: the same as bytes)
    bool address_space = false; // counts mapped address space (RLIMIT_AS), not resident memory
};

struct AvailableMemory {
    std::vector<MemoryBound> bounds; // every bound found
    int smallest = -1;               // index into bounds; -1: none found (no limit known)
    const MemoryBound * min() const { return smallest >= 0 ? &bounds[size_t(smallest)] : nullptr; }
};

// Reads the bounds now. Never throws: an unreadable source is left out.
AvailableMemory available_memory();

// Bytes of address space this process has mapped (VmSize), 0 when unknown.
uint64_t address_space_in_use();

// "1.5 GiB", "312 MiB", "48 KiB", "512 B".
std::string format_bytes(uint64_t bytes);

} // namespace moe
