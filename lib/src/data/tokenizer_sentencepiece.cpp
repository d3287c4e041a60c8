// data: a SentencePiece model (moe/data/tokenizer.hpp) through libsentencepiece
// (google/sentencepiece, Debian's 0.1.97), for Llama-2-family `tokenizer.model` files. Built when
// CMake's pkg-config finds sentencepiece (MOE_HAVE_SENTENCEPIECE); otherwise opening one is a
// spec error that says so.
//
// Bytes per token (bits per byte): a piece's UTF-8 with each U+2581 '▁' (the meta space) counted as
// the one space byte it stands for; a byte-fallback piece <0xAB> is one byte; control pieces
// (<s>, </s>) and the unknown piece count 0. The model's normaliser and its dummy prefix (a ▁ before
// the first piece of a text, which decoding removes) mean the counts can differ from the text's
// bytes by a little; docs/tokenizers.md says how much.
#include "moe/core/error.hpp"
#include "moe/data/tokenizer.hpp"

#ifdef MOE_HAVE_SENTENCEPIECE
#include <sentencepiece_processor.h>

#include <filesystem>
#include <fstream>

#include "moe/core/sha256.hpp"
#endif

namespace moe::data {

#ifdef MOE_HAVE_SENTENCEPIECE
namespace {

class SentencePieceTokenizer final : public Tokenizer {
  public:
    explicit SentencePieceTokenizer(const std::string & path) {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(path, ec))
            throw Error(ErrorCode::io, "the SentencePiece model " + path + " does not exist (or is not a file)");
        std::ifstream in(path, std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), {});
        if (!in && !in.eof()) throw Error(ErrorCode::io, "cannot read the SentencePiece model " + path);
        const auto st = sp_.LoadFromSerializedProto(bytes);
        if (!st.ok())
            throw Error(ErrorCode::io, path + ": not a SentencePiece model (" + std::string(st.ToString()) + ")");
        fingerprint_ = sha256_hex(bytes);
        const int V = sp_.GetPieceSize();
        pieces_.assign((size_t)V, std::string());
        bytes_.assign((size_t)V, 0);
        for (int id = 0; id < V; ++id) {
            std::string s;
            if (sp_.IsControl(id) || sp_.IsUnknown(id)) {
                // no bytes
            } else if (sp_.IsByte(id)) {
                s.push_back((char)std::stoi(sp_.IdToPiece(id).substr(3, 2), nullptr, 16)); // <0xAB>
            } else {
                const std::string & p = sp_.IdToPiece(id);
                for (size_t i = 0; i < p.size(); ++i) {
                    if (p.compare(i, 3, "\xE2\x96\x81") == 0) {
                        s.push_back(' ');
                        i += 2;
                    } else {
                        s.push_back(p[i]);
                    }
                }
            }
            bytes_[(size_t)id] = (int32_t)s.size();
            pieces_[(size_t)id] = std::move(s);
        }
        boundary_ = sp_.eos_id();
        bos_ = sp_.bos_id();
        MOE_CHECK(boundary_ >= 0 && boundary_ < V, ErrorCode::io,
                  path + ": the SentencePiece model has no eos piece (the document boundary)");
    }
    std::string kind() const override { return "sentencepiece"; }
    void encode(std::string_view text, std::vector<int32_t> & out, bool) override {
        std::vector<int> ids;
        const auto st = sp_.Encode(std::string(text), &ids);
        if (!st.ok()) throw Error(ErrorCode::io, "SentencePiece cannot encode a text: " + std::string(st.ToString()));
        out.insert(out.end(), ids.begin(), ids.end());
    }
    std::string decode(const int32_t * ids, size_t n) const override {
        std::vector<int> v(ids, ids + n);
        for (int id : v)
            MOE_CHECK(id >= 0 && id < vocab(), ErrorCode::spec,
                      "decode: token " + std::to_string(id) + " is outside the vocabulary of " +
                          std::to_string(vocab()));
        std::string s;
        const auto st = sp_.Decode(v, &s);
        if (!st.ok()) throw Error(ErrorCode::io, "SentencePiece cannot decode: " + std::string(st.ToString()));
        return s;
    }
    std::string piece(int32_t id) const override {
        MOE_CHECK(id >= 0 && id < vocab(), ErrorCode::spec, "decode: token " + std::to_string(id) + " is out of range");
        return pieces_[(size_t)id];
    }

  private:
    sentencepiece::SentencePieceProcessor sp_;
    std::vector<std::string> pieces_;
};

} // namespace

bool sentencepiece_available() { return true; }
std::unique_ptr<Tokenizer> sentencepiece_tokenizer(const std::string & model_path) {
    return std::make_unique<SentencePieceTokenizer>(model_path);
}
#else
bool sentencepiece_available() { return false; }
std::unique_ptr<Tokenizer> sentencepiece_tokenizer(const std::string & model_path) {
    throw Error(ErrorCode::spec,
                "data.text.tokenizer: sentencepiece (" + model_path + "): this build has no SentencePiece",
                {"install libsentencepiece-dev and rebuild (CMake finds it with pkg-config)"});
}
#endif

} // namespace moe::data
