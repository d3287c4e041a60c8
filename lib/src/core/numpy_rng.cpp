// numpy's legacy MT19937 and RandomState.permutation (see moe/core/numpy_rng.hpp for the sources).
#include "moe/core/numpy_rng.hpp"

#include <string>
#include <utility>

#include "moe/core/error.hpp"

namespace moe {

Mt19937::Mt19937(uint32_t seed) {
    key_[0] = seed;
    for (uint32_t i = 1; i < 624; ++i) key_[i] = 1812433253u * (key_[i - 1] ^ (key_[i - 1] >> 30)) + i;
    pos_ = 624;
}

void Mt19937::generate() {
    constexpr int N = 624, M = 397;
    auto twist = [](uint32_t hi, uint32_t lo) {
        const uint32_t y = (hi & 0x80000000u) | (lo & 0x7fffffffu);
        return (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    };
    for (int i = 0; i < N; ++i) key_[i] = key_[(i + M) % N] ^ twist(key_[i], key_[(i + 1) % N]);
    pos_ = 0;
}

uint32_t Mt19937::next_u32() {
    if (pos_ == 624) generate();
    uint32_t y = key_[pos_++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

// random_interval: uniform in [0, max] by masking to the smallest 2^k-1 >= max and rejecting.
// numpy draws 64 bits only when max > 2^32-1, which an int n never reaches.
static uint32_t random_interval(Mt19937 & mt, uint32_t max) {
    if (max == 0) return 0;
    uint32_t mask = max;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    uint32_t v;
    while ((v = mt.next_u32() & mask) > max) {}
    return v;
}

std::vector<int> numpy_legacy_permutation(uint64_t seed, int n) {
    // numpy: ValueError("Seed must be between 0 and 2**32 - 1")
    MOE_CHECK(seed <= 0xffffffffull, ErrorCode::spec,
              "numpy legacy seed must be between 0 and 2**32 - 1, got " + std::to_string(seed));
    MOE_CHECK(n >= 0, ErrorCode::spec, "permutation size must be >= 0, got " + std::to_string(n));
    Mt19937 mt(static_cast<uint32_t>(seed));
    std::vector<int> p(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) p[i] = i;
    // RandomState.shuffle: for i in reversed(range(1, n)): j = random_interval(i); swap(x[i], x[j])
    for (int i = n - 1; i > 0; --i) std::swap(p[i], p[random_interval(mt, static_cast<uint32_t>(i))]);
    return p;
}

} // namespace moe
