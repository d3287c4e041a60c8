// rng.cpp — deterministic random numbers (moe/core/rng.hpp): FNV-1a name hashing, splitmix64
// seeding, xoshiro256** and the normal and bounded draws built on it.
#include "moe/core/rng.hpp"

#include <cmath>

#include "moe/core/error.hpp"

namespace moe {

uint64_t hash_name(std::string_view name) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : name) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t splitmix64(uint64_t & x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t seed_for(uint64_t seed, std::string_view name) {
    uint64_t x = seed ^ hash_name(name);
    return splitmix64(x);
}

void Rng::reseed(uint64_t seed) {
    uint64_t x = seed;
    for (auto & s : st_.s) s = splitmix64(x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t Rng::next_u64() {
    auto & s = st_.s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double Rng::normal() {
    double u1 = uniform();
    double u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

uint64_t Rng::below(uint64_t n) {
    MOE_ASSERT(n > 0);
    // Lemire's nearly-divisionless method (rejection keeps it unbiased)
    __uint128_t m = static_cast<__uint128_t>(next_u64()) * n;
    uint64_t l = static_cast<uint64_t>(m);
    if (l < n) {
        uint64_t t = (0 - n) % n;
        while (l < t) {
            m = static_cast<__uint128_t>(next_u64()) * n;
            l = static_cast<uint64_t>(m);
        }
    }
    return static_cast<uint64_t>(m >> 64);
}

} // namespace moe
