// moe/core/numpy_rng.hpp — numpy's legacy global RNG, for class orders that match SEMA / PILOT
// (`np.random.seed(1993); order = np.random.permutation(n_classes)`). Ports of
// numpy 1.24.2: numpy/random/src/mt19937/mt19937.{h,c} (mt19937_seed, mt19937_next),
// numpy/random/_mt19937.pyx (MT19937._legacy_seeding), numpy/random/mtrand.pyx
// (RandomState.permutation / shuffle) and numpy/random/src/distributions/distributions.c (random_interval).
#pragma once
#include <array>
#include <cstdint>
#include <vector>

namespace moe {

// MT19937 with numpy's integer seeding (Knuth's init_genrand: key[0] = seed, pos = 624).
class Mt19937 {
  public:
    explicit Mt19937(uint32_t seed);
    uint32_t next_u32(); // tempered output == RandomState(seed)._bit_generator.random_raw()

  private:
    void generate(); // refill the 624 words (mt19937_gen)
    std::array<uint32_t, 624> key_{};
    int pos_ = 624;
};

// == `np.random.seed(seed); np.random.permutation(n)` (legacy RandomState, not Generator):
// a permutation of 0..n-1. seed must be in [0, 2^32-1] and n >= 0, else Error(ErrorCode::spec).
std::vector<int> numpy_legacy_permutation(uint64_t seed, int n);

} // namespace moe
