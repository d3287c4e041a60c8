// Tokenizers (moe/data/tokenizer.hpp) without downloads: the byte tokenizer, and GPT-2 byte-level
// BPE on the hand-made vocabulary of tests/fixtures/tiny_bpe (make_tiny_bpe.py: ids 0..255 are
// the bytes, then one id per merge in rank order, then <|endoftext|>): merge order, every
// non-overlapping occurrence, the pre-tokenisation pieces, round trips of random byte strings
// (invalid UTF-8 too), tokenizer.json in both merge forms, and the errors for bad files.
#include <doctest/doctest.h>

#include <fstream>
#include <functional>
#include <random>

#include "moe/core/error.hpp"
#include "moe/data/config.hpp"
#include "moe/data/text.hpp"
#include "moe/data/tokenizer.hpp"
#include "unit/temp_dir.hpp"

using namespace moe;
using namespace moe::data;
namespace fs = std::filesystem;

namespace {

const std::string kTiny = std::string(MOE_TEST_DATA_DIR) + "/tiny_bpe";

void write(const fs::path & p, const std::string & s) { std::ofstream(p, std::ios::binary) << s; }

std::string slurp(const std::string & p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// the error an expression throws
Error error_of(const std::function<void()> & f) {
    try {
        f();
    } catch (const Error & e) { return e; }
    FAIL("no error thrown");
    return Error(ErrorCode::internal, "");
}

} // namespace

TEST_CASE("byte tokenizer: ids are bytes, 256 the boundary") {
    auto t = byte_tokenizer();
    CHECK(t->vocab() == 257);
    CHECK(t->boundary() == 256);
    CHECK(t->token_bytes(0) == 1);
    CHECK(t->token_bytes(256) == 0);
    const std::string s("a\0\xff", 3);
    CHECK(t->encode(s) == std::vector<int32_t>{97, 0, 255});
    CHECK(t->decode(std::vector<int32_t>{97, 256, 0, 255}) == s);
    CHECK(t->fingerprint().empty());
}

TEST_CASE("gpt2 tiny BPE: merges by rank, every occurrence, pieces") {
    auto t = gpt2_tokenizer(kTiny);
    CHECK(t->kind() == "gpt2");
    CHECK(t->vocab() == 276);
    CHECK(t->boundary() == 275);
    CHECK(t->token_bytes(275) == 0);
    CHECK(t->token_bytes(259) == 5);                                             // hello
    CHECK(t->encode("hello world") == std::vector<int32_t>{259, 262, 108, 100}); // hello, Ġwor, l, d
    CHECK(t->encode("aaaa") == std::vector<int32_t>{263, 263});                  // both pairs merge
    CHECK(t->encode("aaa") == std::vector<int32_t>{263, 97});                    // left to right
    CHECK(t->encode(" the") == std::vector<int32_t>{265});                       // Ġt then Ġt+he
    // a run of spaces gives its last space to the word after it
    CHECK(t->encode("a  b") == std::vector<int32_t>{97, 32, 32, 98});
    CHECK(t->encode("\n\n") == std::vector<int32_t>{274});
    // <|endoftext|> is plain text unless special tokens are allowed
    CHECK(t->encode("<|endoftext|>").size() > 1);
    CHECK(t->encode("a<|endoftext|>hello", true) == std::vector<int32_t>{97, 275, 259});
    CHECK(t->decode(std::vector<int32_t>{259, 275, 262}) == "hello wor");
    CHECK(t->piece(262) == " wor");
}

TEST_CASE("gpt2 tiny BPE: pieces follow the GPT-2 pattern") {
    auto t = gpt2_tokenizer(kTiny);
    // "he llo": pieces "he", " llo" -> he; Ġ l l -> (l l) = ll after Ġ: [Ġ, ll, o]
    CHECK(t->encode("he llo") == std::vector<int32_t>{256, 32, 257, 111});
    // contractions are pieces of their own: "he's" -> he, 's
    CHECK(t->encode("he's") == std::vector<int32_t>{256, 39, 115});
    // numbers and letters are separate pieces: "he1" -> he, 1
    CHECK(t->encode("he1") == std::vector<int32_t>{256, 49});
}

TEST_CASE("gpt2 tiny BPE: decode(encode(x)) == x on random bytes, invalid UTF-8 included") {
    auto t = gpt2_tokenizer(kTiny);
    std::mt19937_64 rng(7);
    const std::vector<std::string> parts = {"hello",
                                            " world",
                                            "aa",
                                            " the",
                                            "\n\n",
                                            " ",
                                            "  ",
                                            "\t",
                                            "'s",
                                            "12",
                                            "\xc3\xa9",
                                            "\xe6\x97\xa5",
                                            "\xf0\x9f\xa4\x97",
                                            "\xff",
                                            "\xc3",
                                            "\x80",
                                            "\xed\xa0\x80",
                                            "\xc0\xaf",
                                            std::string("\0", 1),
                                            "<|endoftext|>"};
    for (int n = 0; n < 2000; ++n) {
        std::string s;
        const int len = (int)(rng() % 12);
        for (int i = 0; i < len; ++i) {
            if (rng() % 3 == 0)
                s.push_back((char)(rng() % 256));
            else
                s += parts[rng() % parts.size()];
        }
        const auto ids = t->encode(s);
        REQUIRE(t->decode(ids) == s);
        int64_t bytes = 0;
        for (int32_t id : ids) bytes += t->token_bytes(id);
        CHECK(bytes == (int64_t)s.size());
        CHECK(t->encode(s) == ids); // the piece cache does not change results
    }
}

TEST_CASE("gpt2 tokenizer.json: merges as strings and as pairs give the vocab.json results") {
    auto ref = gpt2_tokenizer(kTiny);
    for (const char * f : {"tokenizer_strings.json", "tokenizer_pairs.json"}) {
        CAPTURE(f);
        auto t = gpt2_tokenizer(kTiny + "/" + f);
        CHECK(t->vocab() == ref->vocab());
        CHECK(t->boundary() == ref->boundary());
        for (const char * s : {"hello world", "aaa", " the  there\n\n", "\xff\xfe hello"})
            CHECK(t->encode(s) == ref->encode(s));
    }
    // a folder holding only tokenizer.json
    test::TempDir d("tok_json");
    write(d.path / "tokenizer.json", slurp(kTiny + "/tokenizer_pairs.json"));
    CHECK(gpt2_tokenizer(d.path.string())->encode("hello") == std::vector<int32_t>{259});
}

TEST_CASE("gpt2 tokenizer: bad files name the file and line") {
    test::TempDir d("tok_bad");
    const std::string vocab = slurp(kTiny + "/vocab.json");
    auto make = [&](const std::string & v, const std::string & m) {
        write(d.path / "vocab.json", v);
        write(d.path / "merges.txt", m);
        return d.path.string();
    };
    SUBCASE("missing folder") {
        const Error e = error_of([&] { gpt2_tokenizer((d.path / "nope").string()); });
        CHECK(e.code() == ErrorCode::io);
        CHECK(std::string(e.what()).find("does not exist") != std::string::npos);
    }
    SUBCASE("missing merges file") {
        write(d.path / "vocab.json", vocab);
        const Error e = error_of([&] { gpt2_tokenizer(d.path.string()); });
        CHECK(e.code() == ErrorCode::io);
        CHECK(std::string(e.what()).find("merges.txt") != std::string::npos);
    }
    SUBCASE("a merge line of one token") {
        const Error e = error_of([&] { gpt2_tokenizer(make(vocab, "#version: 0.2\nh e\nll\n")); });
        CHECK(e.code() == ErrorCode::io);
        CHECK(std::string(e.what()).find("merges.txt:3:") != std::string::npos);
    }
    SUBCASE("a merge whose token is not in the vocabulary") {
        const Error e = error_of([&] { gpt2_tokenizer(make(vocab, "#version: 0.2\nh e\nq z\n")); });
        CHECK(e.code() == ErrorCode::io);
        CHECK(std::string(e.what()).find("merges.txt:3:") != std::string::npos);
        CHECK(std::string(e.what()).find("'qz' is not in the vocabulary") != std::string::npos);
    }
    SUBCASE("malformed vocabulary JSON") {
        const Error e = error_of([&] { gpt2_tokenizer(make("{\"a\": 1,\n \"b\" 2}", "h e\n")); });
        CHECK(e.code() == ErrorCode::io);
        CHECK(std::string(e.what()).find("vocab.json: malformed JSON") != std::string::npos);
        CHECK(std::string(e.what()).find("line 2") != std::string::npos);
    }
    SUBCASE("a vocabulary without <|endoftext|>") {
        std::string v = vocab;
        v.replace(v.find("<|endoftext|>"), 13, "<|end|>");
        const Error e = error_of([&] { gpt2_tokenizer(make(v, "h e\n")); });
        CHECK(e.code() == ErrorCode::io);
        CHECK(std::string(e.what()).find("<|endoftext|>") != std::string::npos);
    }
    SUBCASE("a tokenizer.json merge that is neither form") {
        std::string j = slurp(kTiny + "/tokenizer_pairs.json");
        j.replace(j.find("[\"h\", \"e\"]"), 10, "[\"h\"]");
        write(d.path / "t.json", j);
        const Error e = error_of([&] { gpt2_tokenizer((d.path / "t.json").string()); });
        CHECK(e.code() == ErrorCode::io);
        CHECK(std::string(e.what()).find("model.merges[0]") != std::string::npos);
    }
}

TEST_CASE("open_tokenizer: the spec's kinds") {
    TextConfig c;
    CHECK(open_tokenizer(c)->kind() == "byte");
    c.tokenizer = "gpt2";
    CHECK(error_of([&] { open_tokenizer(c); }).code() == ErrorCode::spec); // no path
    c.tokenizer_path = kTiny;
    CHECK(open_tokenizer(c)->vocab() == 276);
}

TEST_CASE("text corpus: the token cache keys on the tokenizer") {
    test::TempDir d("tok_corpus");
    fs::create_directories(d.path / "en");
    std::string doc;
    for (int i = 0; i < 30; ++i) doc += "hello world, the aa there\n";
    write(d.path / "en/a.txt", doc);
    write(d.path / "en/b.txt", doc + "\xff\xfe");
    TextConfig c;
    c.block_size = 8;
    c.test_percent = 0;
    c.cache_dir = (d.path / "cache").string();
    c.domains = {{"en", {(d.path / "en").string()}, 1.0, 0, 0}};
    auto bytes = TextCorpus::open(c);
    CHECK(bytes->vocab() == 257);
    c.tokenizer = "gpt2";
    c.tokenizer_path = kTiny;
    auto bpe = TextCorpus::open(c);
    CHECK(bpe->cache_path() != bytes->cache_path());
    CHECK(bpe->vocab() == 276);
    CHECK(bpe->boundary() == 275);
    const int64_t n = bpe->length(0, TextSplit::train);
    CHECK(n < bytes->length(0, TextSplit::train));
    // the stream decodes to the documents, joined at one boundary
    std::vector<int32_t> ids(bpe->tokens(0, TextSplit::train), bpe->tokens(0, TextSplit::train) + n);
    const auto nb = std::count(ids.begin(), ids.end(), 275);
    CHECK(nb == 1);
    CHECK(bpe->tokenizer().decode(ids) == doc + doc + "\xff\xfe");
    int64_t sum = 0;
    for (int32_t id : ids) sum += bpe->tokenizer().token_bytes(id);
    CHECK(sum == bpe->domains()[0].bytes[0]);
    // reopened: the same cache
    CHECK(TextCorpus::open(c)->cache_path() == bpe->cache_path());
}
