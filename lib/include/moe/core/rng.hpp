// moe/core/rng.hpp — deterministic random numbers.
// xoshiro256** seeded through splitmix64. A parameter's initial values depend only on
// (spec seed, parameter name): seed_for(seed, "blocks.3.mlp.fc1.weight"), so adding a layer or
// an expert never changes the others.
#pragma once
#include <array>
#include <cmath>
#include <cstdint>
#include <string_view>

namespace moe {

uint64_t hash_name(std::string_view name);               // FNV-1a, 64 bit
uint64_t seed_for(uint64_t seed, std::string_view name); // splitmix64(seed ^ hash(name))

class Rng {
  public:
    struct State {
        std::array<uint64_t, 4> s{};
    };

    explicit Rng(uint64_t seed = 0) { reseed(seed); }
    Rng(uint64_t seed, std::string_view name) { reseed(seed_for(seed, name)); }
    void reseed(uint64_t seed);

    uint64_t next_u64();
    // uniform in [0, 1) with 53 (double) / 24 (float) random bits
    double uniform() { return (next_u64() >> 11) * 0x1.0p-53; }
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    // standard normal (Box-Muller; two uniforms per draw, no cached state)
    double normal();
    // uniform integer in [0, n)
    uint64_t below(uint64_t n);

    State state() const { return st_; }
    void set_state(const State & s) { st_ = s; }

  private:
    State st_;
};

} // namespace moe
