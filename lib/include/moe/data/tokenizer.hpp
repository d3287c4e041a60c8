// moe/data/tokenizer.hpp — text to token ids and back (docs/tokenizers.md).
//
//   byte          ids 0..255 are the bytes, 256 the document boundary (vocabulary 257)
//   gpt2          GPT-2 byte-level BPE exactly as openai/gpt-2@9b63575:src/encoder.py, read from
//                 vocab.json + merges.txt (or encoder.json + vocab.bpe) or a Hugging Face
//                 tokenizer.json; `<|endoftext|>` is the document boundary
//   sentencepiece a SentencePiece `tokenizer.model` (libsentencepiece, optional at build time);
//                 the model's eos is the document boundary
//
// Every tokenizer knows the bytes each token stands for (token_bytes: 0 for special tokens), so
// bits per byte divides by the bytes of the scored targets. encode is deterministic; it is not
// thread-safe (a tokenizer may cache the pieces it has seen), so give each thread its own.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace moe::data {

struct TextConfig;

class Tokenizer {
  public:
    virtual ~Tokenizer() = default;
    virtual std::string kind() const = 0; // "byte" | "gpt2" | "sentencepiece"
    int vocab() const { return (int)bytes_.size(); }
    int32_t boundary() const { return boundary_; } // the document boundary (eos)
    int32_t bos() const { return bos_; }           // -1: none
    // Appends the ids of text. allow_special: special tokens written in the text (GPT-2's
    // `<|endoftext|>`) become their id instead of being tokenised as plain text.
    virtual void encode(std::string_view text, std::vector<int32_t> & out, bool allow_special = false) = 0;
    std::vector<int32_t> encode(std::string_view text, bool allow_special = false) {
        std::vector<int32_t> out;
        encode(text, out, allow_special);
        return out;
    }
    // The bytes of ids (special tokens give none). Throws ErrorCode::spec on an id out of range.
    virtual std::string decode(const int32_t * ids, size_t n) const = 0;
    std::string decode(const std::vector<int32_t> & ids) const { return decode(ids.data(), ids.size()); }
    // The bytes one token writes when it follows others (streaming output; "" for special tokens).
    virtual std::string piece(int32_t id) const { return decode(&id, 1); }
    // The bytes a token stands for (bits per byte counts them per scored target).
    int token_bytes(int32_t id) const { return bytes_[(size_t)id]; }
    const std::vector<int32_t> & bytes_per_token() const { return bytes_; }
    // sha256 over the tokenizer's files ("" for byte): the token cache keys on it.
    const std::string & fingerprint() const { return fingerprint_; }

  protected:
    std::vector<int32_t> bytes_; // per id; its size is the vocabulary
    int32_t boundary_ = -1, bos_ = -1;
    std::string fingerprint_;
};

std::unique_ptr<Tokenizer> byte_tokenizer();

// path: a folder holding tokenizer.json, or vocab.json + merges.txt, or encoder.json + vocab.bpe;
// or a tokenizer.json file. Throws ErrorCode::io naming the file (and line) of a missing or
// malformed file, or a merge whose tokens are not in the vocabulary.
std::unique_ptr<Tokenizer> gpt2_tokenizer(const std::string & path);
std::unique_ptr<Tokenizer> gpt2_tokenizer(const std::string & vocab_json, const std::string & merges_txt);

// A SentencePiece model file. Throws ErrorCode::io for a missing or unreadable model and
// ErrorCode::spec when the build has no SentencePiece (sentencepiece_available() is false).
std::unique_ptr<Tokenizer> sentencepiece_tokenizer(const std::string & model_path);
bool sentencepiece_available();

// The tokenizer of a text configuration (data.text.tokenizer, data.text.tokenizer_path).
std::unique_ptr<Tokenizer> open_tokenizer(const TextConfig & cfg, const std::string & where = "data.text");

} // namespace moe::data
