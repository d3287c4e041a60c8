// data: the byte tokenizer (moe/data/tokenizer.hpp) — id b is byte b, 256 the document boundary.
#include "moe/core/error.hpp"
#include "moe/data/text.hpp"
#include "moe/data/tokenizer.hpp"

namespace moe::data {

namespace {

class ByteTokenizer final : public Tokenizer {
  public:
    ByteTokenizer() {
        bytes_.assign(kByteVocab, 1);
        bytes_[kBoundaryId] = 0;
        boundary_ = kBoundaryId;
    }
    std::string kind() const override { return "byte"; }
    void encode(std::string_view text, std::vector<int32_t> & out, bool) override {
        for (unsigned char c : text) out.push_back(c);
    }
    std::string decode(const int32_t * ids, size_t n) const override {
        std::string s;
        for (size_t i = 0; i < n; ++i) {
            MOE_CHECK(ids[i] >= 0 && ids[i] < kByteVocab, ErrorCode::spec,
                      "decode: token " + std::to_string(ids[i]) + " is not a byte tokenizer id");
            if (ids[i] != kBoundaryId) s.push_back((char)ids[i]);
        }
        return s;
    }
};

} // namespace

std::unique_ptr<Tokenizer> byte_tokenizer() { return std::make_unique<ByteTokenizer>(); }

} // namespace moe::data
