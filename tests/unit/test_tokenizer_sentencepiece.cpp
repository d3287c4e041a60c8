// The SentencePiece tokenizer (moe/data/tokenizer.hpp) on a tiny model trained here with
// libsentencepiece_train (google/sentencepiece 0.1.97, Debian's): the model's bos/eos, ids that
// decode back to the text, the bytes per token (▁ one byte, byte-fallback pieces one byte,
// control pieces none), and the errors for a missing or broken model file. Skipped, saying so,
// when the build has no SentencePiece.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>

#include "moe/core/error.hpp"
#include "moe/data/tokenizer.hpp"
#include "unit/temp_dir.hpp"

#ifdef MOE_HAVE_SENTENCEPIECE
#include <sentencepiece_trainer.h>
#endif

using namespace moe;
using namespace moe::data;

TEST_CASE("sentencepiece: a tiny trained model") {
#ifndef MOE_HAVE_SENTENCEPIECE
    CHECK(!sentencepiece_available());
    std::printf("SKIPPED sentencepiece: this build has no libsentencepiece\n");
#else
    REQUIRE(sentencepiece_available());
    test::TempDir d("spm");
    {
        std::ofstream out(d.file("corpus.txt"));
        for (int i = 0; i < 40; ++i)
            out << "the quick brown fox jumps over the lazy dog " << i << "\nhello world, hello there\n";
    }
    const std::string args =
        "--input=" + d.file("corpus.txt") + " --model_prefix=" + d.file("m") +
        " --vocab_size=300 --hard_vocab_limit=false --model_type=bpe --byte_fallback=true --character_coverage=1.0"
        " --bos_id=1 --eos_id=2 --unk_id=0 --minloglevel=2";
    const auto st = sentencepiece::SentencePieceTrainer::Train(args);
    REQUIRE_MESSAGE(st.ok(), st.ToString());
    auto t = sentencepiece_tokenizer(d.file("m.model"));
    CHECK(t->kind() == "sentencepiece");
    CHECK(t->vocab() > 259); // 3 controls, 256 bytes, then the merges
    CHECK(t->bos() == 1);
    CHECK(t->boundary() == 2);
    CHECK(t->token_bytes(1) == 0);
    CHECK(t->token_bytes(2) == 0);
    CHECK(t->token_bytes(3 + 'A') == 1); // the byte-fallback pieces <0x00>.. follow the controls
    for (const char * s : {"hello world", "the lazy fox", "caf\xc3\xa9 \xe6\x97\xa5"}) {
        CAPTURE(s);
        const auto ids = t->encode(s);
        CHECK(!ids.empty());
        CHECK(t->decode(ids) == s);
        int64_t bytes = 0;
        std::string joined;
        for (int32_t id : ids) bytes += t->token_bytes(id), joined += t->piece(id);
        CHECK(joined == std::string(" ") + s); // the dummy prefix: one space byte more
        CHECK(bytes == (int64_t)std::string(s).size() + 1);
    }
    CHECK(t->fingerprint().size() == 64);
    // errors
    const auto code_of = [](const std::string & p) {
        try {
            sentencepiece_tokenizer(p);
        } catch (const Error & e) { return e.code(); }
        return ErrorCode::internal;
    };
    CHECK(code_of(d.file("absent.model")) == ErrorCode::io);
    std::ofstream(d.file("bad.model")) << "not a model";
    CHECK(code_of(d.file("bad.model")) == ErrorCode::io);
#endif
}
