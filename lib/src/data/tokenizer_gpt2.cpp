// data: GPT-2 byte-level BPE (moe/data/tokenizer.hpp), exactly as
// openai/gpt-2@9b63575:src/encoder.py:
//   1. bytes_to_unicode (L8-28): bytes 0x21-0x7E, 0xA1-0xAC, 0xAE-0xFF stand for themselves, the
//      other 68 in increasing order for U+0100 + k; token strings are written in this alphabet;
//   2. the text is cut into pieces by the pattern of L53, compiled with PCRE2 (UTF + UCP), `\s`
//      written out as the Unicode White_Space set that Python's `regex` module uses;
//   3. each piece's UTF-8 bytes become single-byte symbols, and bpe (L55-94) merges, while any
//      adjacent pair is ranked, every non-overlapping occurrence (left to right) of the pair with
//      the lowest rank (its line in merges.txt after the `#version` line, from 0);
//   4. decode (L103-106) maps the token strings back through the inverse table.
// Bytes that are not valid UTF-8 (encoder.py only sees Python str, so it never meets them): each
// such byte is a piece of its own, and the valid runs between them are pre-tokenised apart, so
// decode(encode(x)) == x for every byte string; decode returns the raw bytes (encoder.py then
// decodes UTF-8 with errors="replace", which would lose them).
// The files: vocab.json + merges.txt (Hugging Face names), encoder.json + vocab.bpe (OpenAI's),
// or a tokenizer.json (huggingface/tokenizers@3ba8ad0:tokenizers/src/models/bpe/serialization.rs:
// merges as "a b" strings or ["a", "b"] pairs).
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <climits>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "moe/core/error.hpp"
#include "moe/core/sha256.hpp"
#include "moe/data/tokenizer.hpp"

namespace moe::data {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// the Unicode White_Space property (what `\s` is in Python's regex module)
#define WS "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
constexpr const char * kPattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+|[" WS "]+(?![^" WS "])|[" WS "]+";
#undef WS

void put_utf8(std::string & s, uint32_t cp) {
    if (cp < 0x80) {
        s.push_back((char)cp);
    } else if (cp < 0x800) {
        s.push_back((char)(0xC0 | (cp >> 6)));
        s.push_back((char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        s.push_back((char)(0xE0 | (cp >> 12)));
        s.push_back((char)(0x80 | ((cp >> 6) & 0x3F)));
        s.push_back((char)(0x80 | (cp & 0x3F)));
    } else {
        s.push_back((char)(0xF0 | (cp >> 18)));
        s.push_back((char)(0x80 | ((cp >> 12) & 0x3F)));
        s.push_back((char)(0x80 | ((cp >> 6) & 0x3F)));
        s.push_back((char)(0x80 | (cp & 0x3F)));
    }
}

// The length of the valid UTF-8 sequence at p (strict: no overlongs, surrogates or > U+10FFFF),
// 0 when there is none; cp gets the code point.
int utf8_at(const unsigned char * p, size_t n, uint32_t & cp) {
    const unsigned char c = p[0];
    if (c < 0x80) return cp = c, 1;
    int len;
    uint32_t min;
    if ((c & 0xE0) == 0xC0)
        len = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0)
        len = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0)
        len = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; ++i) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

struct ByteTable {
    uint32_t to_cp[256];
    std::unordered_map<uint32_t, int> to_byte;
    ByteTable() {
        int k = 0;
        for (int b = 0; b < 256; ++b) {
            const bool self = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            to_cp[b] = self ? (uint32_t)b : 0x100 + (uint32_t)k++;
            to_byte[to_cp[b]] = b;
        }
    }
};
const ByteTable & table() {
    static const ByteTable t;
    return t;
}

std::string read_text(const fs::path & p, const std::string & what) {
    std::error_code ec;
    if (!fs::is_regular_file(p, ec))
        throw Error(ErrorCode::io, "the GPT-2 " + what + " " + p.string() + " does not exist (or is not a file)");
    std::ifstream in(p, std::ios::binary);
    if (!in) throw Error(ErrorCode::io, "cannot read the GPT-2 " + what + " " + p.string());
    std::string s((std::istreambuf_iterator<char>(in)), {});
    if (in.bad()) throw Error(ErrorCode::io, "cannot read the GPT-2 " + what + " " + p.string());
    return s;
}

json parse_json(const std::string & text, const std::string & file) {
    try {
        return json::parse(text);
    } catch (const json::parse_error & e) { throw Error(ErrorCode::io, file + ": malformed JSON (" + e.what() + ")"); }
}

class Gpt2Tokenizer final : public Tokenizer {
  public:
    // vocab: token string -> id; merges: (a, b, where) in rank order; special: contents -> id
    Gpt2Tokenizer(const json & vocab, const std::string & vocab_file,
                  const std::vector<std::array<std::string, 3>> & merges, const std::string & merges_file,
                  const std::vector<std::pair<std::string, int32_t>> & special, std::string fingerprint) {
        fingerprint_ = std::move(fingerprint);
        MOE_CHECK(vocab.is_object(), ErrorCode::io, vocab_file + ": the vocabulary is not a JSON object");
        int32_t max_id = -1;
        for (auto it = vocab.begin(); it != vocab.end(); ++it) {
            if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
                it.value().get<int64_t>() > INT32_MAX - 1)
                throw Error(ErrorCode::io,
                            vocab_file + ": the id of token '" + it.key() + "' is not a non-negative integer");
            const int32_t id = (int32_t)it.value().get<int64_t>();
            ids_[it.key()] = id;
            max_id = std::max(max_id, id);
        }
        for (const auto & [s, id] : special) max_id = std::max(max_id, id);
        MOE_CHECK(max_id >= 0, ErrorCode::io, vocab_file + ": the vocabulary is empty");
        strings_.assign((size_t)max_id + 1, std::string());
        is_special_.assign((size_t)max_id + 1, 0);
        bytes_.assign((size_t)max_id + 1, 0);
        for (const auto & [s, id] : ids_) strings_[(size_t)id] = s;
        for (const auto & [s, id] : special) {
            is_special_[(size_t)id] = 1;
            strings_[(size_t)id] = s;
            special_.push_back({s, id});
        }
        // the raw bytes of every token
        raw_.assign(strings_.size(), std::string());
        const auto & t = table();
        for (size_t id = 0; id < strings_.size(); ++id) {
            if (is_special_[id]) continue;
            const std::string & s = strings_[id];
            std::string raw;
            bool byte_level = true;
            for (size_t i = 0; i < s.size();) {
                uint32_t cp = 0;
                const int n = utf8_at((const unsigned char *)s.data() + i, s.size() - i, cp);
                const auto b = n > 0 ? t.to_byte.find(cp) : t.to_byte.end();
                if (b == t.to_byte.end()) {
                    byte_level = false;
                    break;
                }
                raw.push_back((char)b->second);
                i += (size_t)n;
            }
            raw_[id] = byte_level ? raw : s; // a token outside the byte alphabet stands for its UTF-8
            bytes_[id] = (int32_t)raw_[id].size();
        }
        for (int b = 0; b < 256; ++b) {
            std::string s;
            put_utf8(s, t.to_cp[b]);
            const auto it = ids_.find(s);
            if (it == ids_.end())
                throw Error(ErrorCode::io, vocab_file + ": the vocabulary lacks the token '" + s + "' of byte " +
                                               std::to_string(b) + " (not a byte-level BPE vocabulary)");
            byte_id_[b] = it->second;
        }
        for (size_t r = 0; r < merges.size(); ++r) {
            const auto & [a, b, where] = merges[r];
            const auto ia = ids_.find(a), ib = ids_.find(b), iab = ids_.find(a + b);
            const auto missing = [&](const std::string & tok) {
                return Error(ErrorCode::io, merges_file + ":" + where + ": the merge '" + a + " " + b + "': '" + tok +
                                                "' is not in the vocabulary " + vocab_file);
            };
            if (ia == ids_.end()) throw missing(a);
            if (ib == ids_.end()) throw missing(b);
            if (iab == ids_.end()) throw missing(a + b);
            // a repeated merge takes its last rank (encoder.py builds a dict from the list)
            ranks_[key(ia->second, ib->second)] = {(int32_t)r, iab->second};
        }
        const auto eot =
            std::find_if(special_.begin(), special_.end(), [](const auto & p) { return p.first == "<|endoftext|>"; });
        if (eot == special_.end())
            throw Error(ErrorCode::io, vocab_file + ": the vocabulary has no <|endoftext|> token (the boundary)");
        boundary_ = eot->second;
        int err = 0;
        PCRE2_SIZE off = 0;
        re_ = pcre2_compile((PCRE2_SPTR)kPattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
        MOE_ASSERT(re_ != nullptr);
        md_ = pcre2_match_data_create_from_pattern(re_, nullptr);
        MOE_ASSERT(md_ != nullptr);
    }
    ~Gpt2Tokenizer() override {
        pcre2_match_data_free(md_);
        pcre2_code_free(re_);
    }
    Gpt2Tokenizer(const Gpt2Tokenizer &) = delete;
    Gpt2Tokenizer & operator=(const Gpt2Tokenizer &) = delete;

    std::string kind() const override { return "gpt2"; }

    void encode(std::string_view text, std::vector<int32_t> & out, bool allow_special) override {
        if (!allow_special || special_.empty()) return encode_plain(text, out);
        size_t i = 0;
        while (i < text.size()) {
            size_t best = std::string_view::npos, len = 0;
            int32_t id = -1;
            for (const auto & [s, sid] : special_) { // leftmost, then longest
                const size_t p = text.find(s, i);
                if (p < best || (p == best && p != std::string_view::npos && s.size() > len))
                    best = p, len = s.size(), id = sid;
            }
            if (best == std::string_view::npos) break;
            encode_plain(text.substr(i, best - i), out);
            out.push_back(id);
            i = best + len;
        }
        encode_plain(text.substr(i), out);
    }

    std::string decode(const int32_t * ids, size_t n) const override {
        std::string s;
        for (size_t i = 0; i < n; ++i) {
            MOE_CHECK(ids[i] >= 0 && (size_t)ids[i] < raw_.size(), ErrorCode::spec,
                      "decode: token " + std::to_string(ids[i]) + " is outside the vocabulary of " +
                          std::to_string(raw_.size()));
            s += raw_[(size_t)ids[i]];
        }
        return s;
    }

  private:
    std::unordered_map<std::string, int32_t> ids_;
    std::vector<std::string> strings_, raw_;
    std::vector<uint8_t> is_special_;
    std::vector<std::pair<std::string, int32_t>> special_;
    int32_t byte_id_[256] = {};
    std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> ranks_; // (a, b) -> (rank, merged id)
    std::unordered_map<std::string, std::vector<int32_t>> cache_;     // piece -> ids
    std::vector<int32_t> word_, next_;
    pcre2_code * re_ = nullptr;
    pcre2_match_data * md_ = nullptr;

    static uint64_t key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }

    void encode_plain(std::string_view text, std::vector<int32_t> & out) {
        const auto * p = (const unsigned char *)text.data();
        size_t i = 0;
        while (i < text.size()) { // a valid UTF-8 run, then an invalid byte as its own piece
            size_t j = i;
            uint32_t cp;
            while (j < text.size()) {
                const int n = utf8_at(p + j, text.size() - j, cp);
                if (n == 0) break;
                j += (size_t)n;
            }
            if (j > i) pretokenize(text.substr(i, j - i), out);
            if (j < text.size()) {
                out.push_back(byte_id_[p[j]]);
                ++j;
            }
            i = j;
        }
    }

    void pretokenize(std::string_view run, std::vector<int32_t> & out) {
        PCRE2_SIZE at = 0;
        while (at < run.size()) {
            const int rc = pcre2_match(re_, (PCRE2_SPTR)run.data(), run.size(), at, PCRE2_NO_UTF_CHECK, md_, nullptr);
            MOE_ASSERT(rc > 0); // every character is a letter, a number, a space or something else
            const PCRE2_SIZE * ov = pcre2_get_ovector_pointer(md_);
            MOE_ASSERT(ov[0] == at && ov[1] > at); // the pattern matches at every position
            bpe(run.substr(ov[0], ov[1] - ov[0]), out);
            at = ov[1];
        }
    }

    void bpe(std::string_view piece, std::vector<int32_t> & out) {
        if (auto it = cache_.find(std::string(piece)); it != cache_.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
        word_.clear();
        for (unsigned char c : piece) word_.push_back(byte_id_[c]);
        while (word_.size() > 1) {
            int32_t best = INT32_MAX, merged = -1, first = -1, second = -1;
            for (size_t i = 0; i + 1 < word_.size(); ++i) {
                const auto r = ranks_.find(key(word_[i], word_[i + 1]));
                if (r != ranks_.end() && r->second.first < best)
                    best = r->second.first, merged = r->second.second, first = word_[i], second = word_[i + 1];
            }
            if (merged < 0) break;
            next_.clear();
            for (size_t i = 0; i < word_.size();) {
                if (i + 1 < word_.size() && word_[i] == first && word_[i + 1] == second) {
                    next_.push_back(merged);
                    i += 2;
                } else {
                    next_.push_back(word_[i++]);
                }
            }
            word_.swap(next_);
        }
        out.insert(out.end(), word_.begin(), word_.end());
        if (cache_.size() >= (1u << 16)) cache_.clear(); // bounded; results never depend on it
        cache_.emplace(std::string(piece), word_);
    }
};

// merges.txt / vocab.bpe: an optional `#version` first line, then "a b" per line
std::vector<std::array<std::string, 3>> read_merges_txt(const std::string & text, const std::string & file) {
    std::vector<std::array<std::string, 3>> out;
    size_t pos = 0;
    int line = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        std::string l = text.substr(pos, end - pos);
        pos = end + 1;
        ++line;
        if (!l.empty() && l.back() == '\r') l.pop_back();
        if (line == 1 && l.rfind("#version", 0) == 0) continue;
        if (l.empty() && pos >= text.size()) break; // the final newline
        const size_t sp = l.find(' ');
        if (l.empty() || sp == std::string::npos || sp == 0 || sp + 1 >= l.size() ||
            l.find(' ', sp + 1) != std::string::npos)
            throw Error(ErrorCode::io, file + ":" + std::to_string(line) +
                                           ": a merge line must be two tokens separated by one space, got '" +
                                           l.substr(0, 80) + "'");
        out.push_back({l.substr(0, sp), l.substr(sp + 1), std::to_string(line)});
    }
    return out;
}

std::unique_ptr<Tokenizer> from_tokenizer_json(const fs::path & p) {
    const std::string file = p.string();
    const std::string text = read_text(p, "tokenizer.json");
    const json j = parse_json(text, file);
    const auto bad = [&](const std::string & what) { return Error(ErrorCode::io, file + ": " + what); };
    if (!j.is_object() || !j.contains("model") || !j["model"].is_object())
        throw bad("no \"model\" object (not a Hugging Face tokenizer.json)");
    const json & m = j["model"];
    if (m.contains("type") && m["type"] != "BPE")
        throw bad("model.type is " + m["type"].dump() + "; only BPE is supported");
    if (!m.contains("vocab") || !m["vocab"].is_object()) throw bad("model.vocab is not an object");
    if (!m.contains("merges") || !m["merges"].is_array()) throw bad("model.merges is not an array");
    if (j.contains("normalizer") && !j["normalizer"].is_null())
        throw bad("has a normalizer (" + j["normalizer"].value("type", std::string("?")) +
                  "); only GPT-2 style byte-level BPE without one is supported");
    const json pre = j.value("pre_tokenizer", json());
    if (!pre.is_null()) {
        if (!pre.is_object() || pre.value("type", std::string()) != "ByteLevel")
            throw bad("pre_tokenizer " + (pre.is_object() ? pre.value("type", std::string("?")) : pre.dump()) +
                      " is not supported (only ByteLevel)");
        if (pre.value("add_prefix_space", false)) throw bad("pre_tokenizer.add_prefix_space true is not supported");
        if (!pre.value("use_regex", true)) throw bad("pre_tokenizer.use_regex false is not supported");
    }
    std::vector<std::array<std::string, 3>> merges;
    const json & jm = m["merges"];
    for (size_t i = 0; i < jm.size(); ++i) {
        const std::string where = "model.merges[" + std::to_string(i) + "]";
        if (jm[i].is_string()) {
            const std::string l = jm[i].get<std::string>();
            const size_t sp = l.find(' ');
            if (sp == std::string::npos || sp == 0 || sp + 1 >= l.size() || l.find(' ', sp + 1) != std::string::npos)
                throw bad(where + ": a merge must be two tokens separated by one space, got '" + l.substr(0, 80) + "'");
            merges.push_back({l.substr(0, sp), l.substr(sp + 1), where});
        } else if (jm[i].is_array() && jm[i].size() == 2 && jm[i][0].is_string() && jm[i][1].is_string()) {
            merges.push_back({jm[i][0].get<std::string>(), jm[i][1].get<std::string>(), where});
        } else {
            throw bad(where + ": a merge must be \"a b\" or [\"a\", \"b\"]");
        }
    }
    std::vector<std::pair<std::string, int32_t>> special;
    if (j.contains("added_tokens") && j["added_tokens"].is_array())
        for (const auto & t : j["added_tokens"]) {
            if (!t.is_object() || !t.contains("id") || !t.contains("content") || !t["id"].is_number_integer() ||
                !t["content"].is_string() || t["id"].get<int64_t>() < 0)
                throw bad("added_tokens: an entry needs an integer id and a string content");
            if (t.value("special", false))
                special.push_back({t["content"].get<std::string>(), (int32_t)t["id"].get<int64_t>()});
        }
    if (special.empty() && m["vocab"].contains("<|endoftext|>"))
        special.push_back({"<|endoftext|>", m["vocab"]["<|endoftext|>"].get<int32_t>()});
    return std::make_unique<Gpt2Tokenizer>(m["vocab"], file, merges, file, special, sha256_hex(text));
}

} // namespace

std::unique_ptr<Tokenizer> gpt2_tokenizer(const std::string & vocab_json, const std::string & merges_txt) {
    const std::string vt = read_text(vocab_json, "vocabulary");
    const std::string mt = read_text(merges_txt, "merges file");
    const json v = parse_json(vt, vocab_json);
    MOE_CHECK(v.is_object(), ErrorCode::io, vocab_json + ": the vocabulary is not a JSON object");
    std::vector<std::pair<std::string, int32_t>> special;
    if (v.contains("<|endoftext|>") && v["<|endoftext|>"].is_number_integer())
        special.push_back({"<|endoftext|>", v["<|endoftext|>"].get<int32_t>()});
    return std::make_unique<Gpt2Tokenizer>(v, vocab_json, read_merges_txt(mt, merges_txt), merges_txt, special,
                                           sha256_hex(sha256_hex(vt) + sha256_hex(mt)));
}

std::unique_ptr<Tokenizer> gpt2_tokenizer(const std::string & path) {
    std::error_code ec;
    const fs::path p(path);
    if (fs::is_regular_file(p, ec)) return from_tokenizer_json(p);
    if (!fs::is_directory(p, ec))
        throw Error(ErrorCode::io, "the GPT-2 tokenizer " + path + " does not exist",
                    {"give a folder with vocab.json + merges.txt (or tokenizer.json), or a tokenizer.json file"});
    if (fs::is_regular_file(p / "vocab.json", ec) || fs::is_regular_file(p / "merges.txt", ec))
        return gpt2_tokenizer((p / "vocab.json").string(), (p / "merges.txt").string());
    if (fs::is_regular_file(p / "tokenizer.json", ec)) return from_tokenizer_json(p / "tokenizer.json");
    if (fs::is_regular_file(p / "encoder.json", ec) || fs::is_regular_file(p / "vocab.bpe", ec))
        return gpt2_tokenizer((p / "encoder.json").string(), (p / "vocab.bpe").string());
    throw Error(ErrorCode::io,
                "the GPT-2 tokenizer folder " + path +
                    " holds neither vocab.json + merges.txt, tokenizer.json nor encoder.json + vocab.bpe");
}

} // namespace moe::data
