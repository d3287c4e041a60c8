// Training-time augmentation of image batches.
#include <doctest/doctest.h>

#include <vector>

#include "moe/core/rng.hpp"
#include "moe/data/dataset.hpp"

using namespace moe;

TEST_CASE("augment_batch: flips are mirrors, shifts move content, both deterministic in the seed") {
    const int B = 64, C = 1, H = 5, W = 6;
    std::vector<float> orig((size_t)B * H * W), scratch(H * W);
    for (size_t i = 0; i < orig.size(); ++i) orig[i] = float(i % 97) * 0.01f;
    data::AugmentConfig flip_only{true, 0};
    auto x = orig;
    Rng r1(3);
    data::augment_batch(x.data(), B, C, H, W, flip_only, r1, scratch.data());
    int flipped = 0;
    for (int b = 0; b < B; ++b) {
        const float * o = orig.data() + (size_t)b * H * W;
        const float * a = x.data() + (size_t)b * H * W;
        bool same = true, mirror = true;
        for (int y = 0; y < H; ++y)
            for (int xx = 0; xx < W; ++xx) {
                same &= a[y * W + xx] == o[y * W + xx];
                mirror &= a[y * W + xx] == o[y * W + (W - 1 - xx)];
            }
        CHECK((same || mirror));
        flipped += !same;
    }
    CHECK(flipped > B / 4);
    CHECK(flipped < 3 * B / 4);

    data::AugmentConfig shift{false, 1};
    auto s1 = orig, s2 = orig;
    Rng ra(9), rb(9);
    data::augment_batch(s1.data(), B, C, H, W, shift, ra, scratch.data());
    data::augment_batch(s2.data(), B, C, H, W, shift, rb, scratch.data());
    CHECK(s1 == s2);
    CHECK(s1 != orig);
    // a shifted image keeps its interior content: some row/column offset of at most 1 explains it
    for (int b = 0; b < B; ++b) {
        const float * o = orig.data() + (size_t)b * H * W;
        const float * a = s1.data() + (size_t)b * H * W;
        bool found = false;
        for (int dy = -1; dy <= 1 && !found; ++dy)
            for (int dx = -1; dx <= 1 && !found; ++dx) {
                bool ok = true;
                for (int y = 1; y < H - 1; ++y)
                    for (int xx = 1; xx < W - 1; ++xx) ok &= a[y * W + xx] == o[(y - dy) * W + (xx - dx)];
                found = ok;
            }
        CHECK(found);
    }
    data::AugmentConfig none{false, 0};
    auto n = orig;
    data::augment_batch(n.data(), B, C, H, W, none, ra, scratch.data());
    CHECK(n == orig);
}
