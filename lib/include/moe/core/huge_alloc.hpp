// moe/core/huge_alloc.hpp — an allocator that asks Linux for transparent huge pages.
//
// Parameters, gradients and the optimizer's moments are streamed through once or twice per step
// (AdamW reads and writes 32 bytes per parameter); on 4 KB pages the hardware prefetchers stop at
// every page edge and each page costs a TLB walk. Blocks of 2 MB and more are aligned to 2 MB and
// marked MADV_HUGEPAGE (the kernel's default policy here is "madvise": nothing is huge unless
// asked). AdamW over 3.9M parameters (mlp-mole-wide) on the Zen 2 VM: 4.4 -> 3.7 ms at 1 thread,
// 3.5 -> 3.35 ms at 2. Smaller blocks come from malloc as usual.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace moe {

template <typename T>
struct HugePageAllocator {
    using value_type = T;
    static constexpr std::size_t kHuge = std::size_t(2) << 20;

    HugePageAllocator() = default;
    template <typename U>
    HugePageAllocator(const HugePageAllocator<U> &) {}

    T * allocate(std::size_t n) {
        const std::size_t bytes = n * sizeof(T);
        void * p = nullptr;
        if (bytes >= kHuge) {
            const std::size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
            p = std::aligned_alloc(kHuge, rounded);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
            if (p) madvise(p, rounded, MADV_HUGEPAGE); // advice only: failure leaves 4 KB pages
#endif
        } else {
            p = std::malloc(bytes ? bytes : 1);
        }
        if (!p) throw std::bad_alloc();
        return static_cast<T *>(p);
    }
    void deallocate(T * p, std::size_t) noexcept { std::free(p); }

    template <typename U>
    bool operator==(const HugePageAllocator<U> &) const {
        return true;
    }
    template <typename U>
    bool operator!=(const HugePageAllocator<U> &) const {
        return false;
    }
};

template <typename T>
using HugeVector = std::vector<T, HugePageAllocator<T>>;

} // namespace moe
