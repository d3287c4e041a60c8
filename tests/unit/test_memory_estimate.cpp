// Unit tests for the memory guard's arithmetic (moe/train/memory_estimate.hpp) on hand-computed
// cases, and its refusal message.
#include <doctest/doctest.h>

#include <string>

#include "moe/core/error.hpp"
#include "moe/core/memory_limit.hpp"
#include "moe/train/memory_estimate.hpp"

using namespace moe;
using namespace moe::train;

TEST_CASE("memory estimate: parameters, gradients, AdamW and SGD state, by hand") {
    MemoryCounts c;
    c.data_bytes = 1000;
    c.n_trainable = 100;
    c.n_frozen = 50;
    c.activation_bytes = 64;
    c.overhead = 8;
    c.optimizer = "adamw";
    c.checkpoint_copy = true;
    MemoryEstimate e = combine(c);
    REQUIRE(e.parts.size() == 6);
    CHECK(e.parts[0].name == "data");
    CHECK(e.parts[0].bytes == 1000);
    CHECK(e.parts[1].bytes == 150 * 4); // every tensor, float32
    CHECK(e.parts[2].bytes == 100 * 4); // trainable only
    CHECK(e.parts[3].bytes == 2 * 100 * 4 * 2); // m and v, and the checkpoint's copy
    CHECK(e.parts[4].bytes == 64);
    CHECK(e.parts[5].bytes == 8);
    CHECK(e.total() == 1000 + 600 + 400 + 1600 + 64 + 8);

    c.optimizer = "sgd";
    c.momentum = 0.9;
    c.checkpoint_copy = false;
    CHECK(combine(c).parts[3].bytes == 100 * 4);
    c.momentum = 0;
    CHECK(combine(c).parts[3].bytes == 0);
    // model.base_storage bf16: 40 of the 50 frozen elements at 2 bytes, and a 12-element scratch
    c.n_frozen_bf16 = 40;
    c.bf16_scratch = 12;
    CHECK(combine(c).parts[1].bytes == (100 + 10) * 4 + 40 * 2 + 12 * 4);
    CHECK(combine(c).parts[2].bytes == 100 * 4); // gradients unchanged
}

TEST_CASE("memory guard: refuses with the estimate, the limit and the keys, largest part first") {
    MemoryCounts c;
    c.data_bytes = uint64_t(3) << 30;
    c.n_trainable = 1 << 20;
    MemoryEstimate e = combine(c);
    e.parts[0].keys = {"data.train_limit"};
    e.parts[1].keys = {"model.mlp.hidden"};
    AvailableMemory avail;
    avail.bounds.push_back({"MemAvailable (/proc/meminfo)", uint64_t(2) << 30, uint64_t(2) << 30});
    avail.smallest = 0;
    bool thrown = false;
    try {
        check_memory(e, avail);
    } catch (const Error & err) {
        thrown = true;
        CHECK(err.code() == ErrorCode::spec);
        const std::string m = err.what();
        CHECK(m.find("needs about 3.02 GiB but 2.00 GiB is available (MemAvailable (/proc/meminfo))") !=
              std::string::npos);
        CHECK(m.find("by part: data 3.00 GiB, optimizer") != std::string::npos);
        REQUIRE(!err.hints().empty());
        CHECK(err.hints()[0].find("data (3.00 GiB): set data.train_limit") == 0);
    }
    CHECK(thrown);
    avail.bounds[0].bytes = uint64_t(4) << 30;
    CHECK_NOTHROW(check_memory(e, avail));
    // an address-space bound also counts what is mapped but not touched
    e.address_space_extra = uint64_t(2) << 30;
    avail.bounds[0].address_space = true;
    CHECK_THROWS_AS(check_memory(e, avail), Error);
}

TEST_CASE("format_bytes") {
    CHECK(format_bytes(512) == "512 B");
    CHECK(format_bytes(1536) == "1.50 KiB");
    CHECK(format_bytes(uint64_t(300) << 20) == "300 MiB");
}
