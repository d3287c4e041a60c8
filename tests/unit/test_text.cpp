// The text corpus on a tiny corpus the test writes itself: the split rule (the reference page's
// examples), caps, the joined streams, training sequences that depend only on (seed, position)
// (so a run resumes), evaluation windows that score every target once, and the checksummed
// cache (reused, and refused when truncated, damaged or from another corpus).
#include <doctest/doctest.h>

#include <fstream>
#include <set>

#include "moe/core/error.hpp"
#include "moe/core/sha256.hpp"
#include "moe/data/text.hpp"
#include "unit/temp_dir.hpp"

using namespace moe;
using namespace moe::data;
namespace fs = std::filesystem;

namespace {

void write(const fs::path & p, const std::string & s) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << s;
}

std::string repeat(const std::string & s, int n) {
    std::string o;
    for (int i = 0; i < n; ++i) o += s;
    return o;
}

// c: strlen.c (bucket 34, train) and bench-memmem.c (bucket 1, test); python: os.py (80, train),
// json/decoder.py (65, train) and asyncio/locks.py (3, test)
struct Corpus {
    test::TempDir dir{"text"};
    TextConfig cfg;
    Corpus() {
        write(dir.path / "c/glibc-2.36/string/strlen.c", repeat("int strlen(const char *s);\n", 20));
        write(dir.path / "c/glibc-2.36/benchtests/bench-memmem.c", "memmem bench\n");
        write(dir.path / "python/usr/lib/python3.11/os.py", repeat("import sys\n", 30));
        write(dir.path / "python/usr/lib/python3.11/json/decoder.py", "class JSONDecoder: pass\n");
        write(dir.path / "python/usr/lib/python3.11/asyncio/locks.py", "class Lock: pass\n");
        cfg.block_size = 16;
        cfg.cache_dir = (dir.path / "cache").string();
        cfg.domains = {{"c", {(dir.path / "c").string()}, 1.0, 0, 0},
                       {"python", {(dir.path / "python").string()}, 3.0, 0, 0}};
    }
};

std::string stream(const TextCorpus & c, int d, TextSplit s) {
    std::string o;
    const uint16_t * t = c.tokens(d, s);
    for (int64_t i = 0; i < c.length(d, s); ++i) o += t[i] == kBoundaryId ? '|' : char(t[i]);
    return o;
}

} // namespace

TEST_CASE("text: the split rule of the reference page, documents joined in key order") {
    // the rule itself: int(sha256(domain:key)[:8], 16) % 100
    CHECK(sha256_hex("c:glibc-2.36/string/strlen.c").substr(0, 8) == "8820138e");
    CHECK(sha256_hex("english:gcide.dict#00007").substr(0, 8) == "4f622cf7");
    Corpus k;
    auto c = TextCorpus::open(k.cfg);
    REQUIRE(c->n_domains() == 2);
    const auto & d = c->domains();
    CHECK(d[0].docs[0] == 1); // c: strlen.c train
    CHECK(d[0].docs[2] == 1); // c: bench-memmem.c test
    CHECK(d[1].docs[0] == 2); // python: os.py, json/decoder.py train
    CHECK(d[1].docs[2] == 1); // python: asyncio/locks.py test
    CHECK(stream(*c, 0, TextSplit::test) == "memmem bench\n");
    // key order: usr/lib/python3.11/json/decoder.py < usr/lib/python3.11/os.py, one boundary between
    CHECK(stream(*c, 1, TextSplit::train) == "class JSONDecoder: pass\n|" + repeat("import sys\n", 30));
    CHECK(c->length(1, TextSplit::train) == 24 + 1 + 330);
    CHECK(d[1].bytes[0] == 24 + 330);
    CHECK(d[1].sha256.size() == 64);
}

TEST_CASE("text: caps keep whole documents in key order and cut the first that does not fit") {
    Corpus k;
    k.cfg.domains[1].train_bytes = 30; // decoder.py (24 bytes) whole, then 6 bytes of os.py
    k.cfg.domains[1].test_bytes = 5;
    auto c = TextCorpus::open(k.cfg);
    CHECK(stream(*c, 1, TextSplit::train) == "class JSONDecoder: pass\n|import");
    CHECK(c->domains()[1].bytes[0] == 30);
    CHECK(stream(*c, 1, TextSplit::test) == "class");
}

TEST_CASE("text: training sequences depend only on (seed, micro-batch), so a run resumes anywhere") {
    Corpus k;
    auto c = TextCorpus::open(k.cfg);
    TextSampler a(*c, k.cfg, 7), b(*c, k.cfg, 7), other(*c, k.cfg, 8);
    const int B = 4, T = 16;
    std::vector<int32_t> ta(B * T), ya(B * T), da(B), tb(B * T), yb(B * T), db(B);
    std::set<int> domains;
    for (int64_t m : {0, 5, 123456789}) { // b draws micro-batch m without having drawn the earlier ones
        a.fill(m, B, ta.data(), ya.data(), da.data());
        b.fill(m, B, tb.data(), yb.data(), db.data());
        CHECK(ta == tb);
        CHECK(ya == yb);
        CHECK(da == db);
        for (int j = 0; j < B; ++j) {
            domains.insert(da[j]);
            const uint16_t * s = c->tokens(da[j], TextSplit::train);
            const int64_t L = c->length(da[j], TextSplit::train);
            // the targets are the next tokens of one window of the domain's train stream
            bool found = false;
            for (int64_t p = 0; p + T < L && !found; ++p) {
                bool ok = true;
                for (int t = 0; t < T && ok; ++t) ok = s[p + t] == ta[j * T + t] && s[p + t + 1] == ya[j * T + t];
                found = ok;
            }
            CHECK(found);
        }
    }
    other.fill(0, B, tb.data(), yb.data(), db.data());
    a.fill(0, B, ta.data(), ya.data(), da.data());
    CHECK(ta != tb);
    // "one": every sequence of a micro-batch from the same domain
    k.cfg.batch_domains = "one";
    TextSampler one(*c, k.cfg, 7);
    for (int64_t m = 0; m < 20; ++m) {
        one.fill(m, B, ta.data(), ya.data(), da.data());
        for (int j = 1; j < B; ++j) CHECK(da[j] == da[0]);
        domains.insert(da[0]);
    }
    CHECK(domains.size() == 2);
}

TEST_CASE("text: evaluation windows score every target exactly once, boundaries never") {
    Corpus k;
    auto c = TextCorpus::open(k.cfg);
    const int T = 16;
    for (int stride : {16, 5, 1}) {
        INFO("stride " << stride);
        auto w = text_windows(*c, TextSplit::train, T, stride, 0);
        std::vector<std::vector<int>> hits(2);
        for (int d = 0; d < 2; ++d) hits[d].assign(c->length(d, TextSplit::train), 0);
        std::vector<int32_t> tok(T), tgt(T), task(1);
        std::vector<uint8_t> mask(T);
        int64_t context_short = 0;
        for (const auto & x : w) {
            fill_windows(*c, TextSplit::train, &x, 1, T, tok.data(), tgt.data(), mask.data(), task.data());
            for (int t = 0; t < T; ++t)
                if (t >= x.score_from && t < x.len) {
                    ++hits[x.domain][x.start + t + 1];
                    CHECK(tgt[t] == c->tokens(x.domain, TextSplit::train)[x.start + t + 1]);
                    CHECK((mask[t] == 1) == (tgt[t] != kBoundaryId));
                    if (x.start > 0 && t < T - stride) ++context_short;
                } else {
                    CHECK(mask[t] == 0);
                }
        }
        for (int d = 0; d < 2; ++d) {
            CHECK(hits[d][0] == 0);
            for (size_t i = 1; i < hits[d].size(); ++i) CHECK(hits[d][i] == 1);
        }
        CHECK(context_short == 0); // after the first window, every scored target has T - stride tokens before it
    }
    // a cap: whole windows until at least that many targets per domain
    auto w = text_windows(*c, TextSplit::train, T, T, 20);
    int64_t n0 = 0;
    for (const auto & x : w)
        if (x.domain == 1) n0 += x.len - x.score_from;
    CHECK(n0 >= 20);
    CHECK(n0 < 20 + T);
}

TEST_CASE("text: the token cache is reused, and refused when truncated, damaged or another corpus'") {
    Corpus k;
    auto c = TextCorpus::open(k.cfg);
    const std::string path = c->cache_path();
    REQUIRE(fs::exists(path));
    const auto t0 = fs::last_write_time(path);
    c.reset();
    auto c2 = TextCorpus::open(k.cfg); // the same corpus: the same file, not rebuilt
    CHECK(c2->cache_path() == path);
    CHECK(fs::last_write_time(path) == t0);
    c2.reset();
    auto expect_io = [&](const std::string & what) {
        try {
            TextCorpus::open(k.cfg);
            FAIL("no error for a cache that is " << what);
        } catch (const Error & e) {
            CHECK(e.code() == ErrorCode::io);
            CHECK(std::string(e.what()).find(path) != std::string::npos);
            CHECK(std::string(e.what()).find(what) != std::string::npos);
        }
    };
    const auto size = fs::file_size(path);
    std::string bytes;
    {
        std::ifstream in(path, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    fs::resize_file(path, size - 7);
    expect_io("truncated");
    std::string damaged = bytes;
    damaged[20] ^= 1;
    write(path, damaged);
    expect_io("damaged");
    // another corpus' cache under this one's name
    Corpus other;
    other.cfg.domains.pop_back();
    auto oc = TextCorpus::open(other.cfg);
    fs::copy_file(oc->cache_path(), path, fs::copy_options::overwrite_existing);
    expect_io("another corpus");
    fs::remove(path);
    auto rebuilt = TextCorpus::open(k.cfg); // deleting it rebuilds it
    CHECK(rebuilt->length(1, TextSplit::train) == 24 + 1 + 330);
}

TEST_CASE("text: a missing path, an empty domain and a domain shorter than one block are clear errors") {
    Corpus k;
    auto expect = [&](ErrorCode code, const std::string & part) {
        try {
            TextCorpus::open(k.cfg);
            FAIL("no error; expected one mentioning " << part);
        } catch (const Error & e) {
            CHECK(e.code() == code);
            INFO(e.what());
            CHECK(std::string(e.what()).find(part) != std::string::npos);
        }
    };
    auto cfg0 = k.cfg;
    k.cfg.domains[1].paths = {(k.dir.path / "nope").string()};
    expect(ErrorCode::io, "data.text.domains[1].paths[0]");
    k.cfg = cfg0;
    write(k.dir.path / "empty/a.txt", "");
    k.cfg.domains[1].paths = {(k.dir.path / "empty").string()};
    expect(ErrorCode::io, "is empty");
    k.cfg = cfg0;
    k.cfg.block_size = 400; // python's train split has 355 tokens
    expect(ErrorCode::io, "fewer than one block");
    k.cfg = cfg0;
    k.cfg.domains[1].paths = {(k.dir.path / "python/**/*.py").string()}; // a glob: the same documents
    auto c = TextCorpus::open(k.cfg);
    CHECK(c->domains()[1].docs[0] == 2);
    CHECK(c->domains()[1].docs[2] == 1);
    k.cfg.domains[1].paths = {(k.dir.path / "python/**/*.rs").string()};
    expect(ErrorCode::io, "matches no file");
}
