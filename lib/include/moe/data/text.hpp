// moe/data/text.hpp — multi-domain text for causal language models.
//
// A corpus is a list of domains (the tasks of an LM run), each a set of documents found under
// files, directories or globs. A document's key is its path relative to the directory (or the
// glob's fixed prefix) it was found under; a document is in the test split iff
//   int(sha256(domain + ":" + key)[:8], 16) % 100 < test_percent
// (then val iff below test_percent + val_percent; else train), so the split of a document never
// changes when others are added or removed. The documents of a domain and split are joined in
// key order with the document-boundary id between them, and capped (in bytes, the last
// document cut) per domain, then tokenised (moe/data/tokenizer.hpp; the cap cuts the bytes before
// tokenising). The byte tokenizer maps byte b to id b and the boundary to 256.
//
// The token streams are cached in one checksummed file per corpus (text_cache.cpp), found by a
// fingerprint of the configuration (with the tokenizer's files' sha256) and of every document's
// key, size and modification time;
// the file is memory-mapped, so a sweep tokenises once and a corpus larger than memory streams.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "moe/data/config.hpp"
#include "moe/data/tokenizer.hpp"

namespace moe::data {

inline constexpr int kByteVocab = 257; // 256 bytes + the document boundary
inline constexpr int32_t kBoundaryId = 256;

struct TextDomainInfo {
    std::string name;
    double weight = 1;
    int64_t docs[3] = {0, 0, 0};   // documents per split (train, val, test) before capping
    int64_t bytes[3] = {0, 0, 0};  // bytes per split after capping (documents only)
    int64_t tokens[3] = {0, 0, 0}; // tokens per split after capping (boundaries included)
    std::string sha256;            // of the domain's documents in key order (every split, uncapped)
};

enum class TextSplit : int { train = 0, val = 1, test = 2 };
TextSplit text_split(const std::string & name); // "train" | "val" | "test"

class TextCorpus {
  public:
    // Finds or builds the cache of cfg's corpus (`where` names the spec section for messages).
    // Throws ErrorCode::io (a missing path, an unreadable document or cache) or ErrorCode::spec
    // (an empty domain, a train split shorter than one block of block_size + 1 tokens).
    static std::unique_ptr<TextCorpus> open(const TextConfig & cfg, const std::string & where = "data.text");
    virtual ~TextCorpus() = default;

    int vocab() const { return tokenizer_->vocab(); }
    int32_t boundary() const { return tokenizer_->boundary(); }
    const Tokenizer & tokenizer() const { return *tokenizer_; }
    int n_domains() const { return (int)domains_.size(); }
    const std::vector<TextDomainInfo> & domains() const { return domains_; }
    std::vector<std::string> domain_names() const;
    const std::string & cache_path() const { return cache_path_; }
    const std::string & fingerprint() const { return fingerprint_; }
    // The corpus' manifest.json beside its domains (package versions, hashes), or "".
    const std::string & manifest() const { return manifest_; }
    // The token stream of a domain and split (ids in [0, vocab)).
    virtual const uint16_t * tokens(int domain, TextSplit s) const = 0;
    int64_t length(int domain, TextSplit s) const { return domains_[domain].tokens[(int)s]; }

  protected:
    std::vector<TextDomainInfo> domains_;
    std::string cache_path_, fingerprint_, manifest_;
    std::shared_ptr<Tokenizer> tokenizer_;
};

// ---- training sequences ---------------------------------------------------------------------
// Micro-batch m (counted from the start of the run) holds B sequences of block_size + 1 tokens
// drawn from the train streams: sequence j of micro-batch m is a function of (seed, m, j) only,
// so a run resumes at any micro-batch. Domains are drawn by weight per sequence ("mixed") or
// per micro-batch ("one": every sequence of a micro-batch from one domain).
class TextSampler {
  public:
    TextSampler(const TextCorpus & c, const TextConfig & cfg, uint64_t seed);
    // tokens (B, T) inputs, targets (B*T) the next tokens, task (B) the domain of each sequence
    void fill(int64_t micro, int B, int32_t * tokens, int32_t * targets, int32_t * task) const;
    // training tokens of one pass over the weighted mixture (the length of an "epoch")
    int64_t epoch_tokens() const;

  private:
    const TextCorpus & c_;
    int T_;
    bool one_domain_;
    uint64_t seq_seed_, batch_seed_;
    std::vector<double> cum_; // cumulative domain weights (normalised)
    std::vector<int> usable_; // domains with a train stream of at least T + 1 tokens
    int draw_domain(uint64_t u) const;
};

// ---- evaluation windows -----------------------------------------------------------------------
// Every target of a domain's split is scored once: windows of block_size tokens start every
// `stride` tokens (stride = block_size: disjoint windows; smaller: each window scores only its
// targets the previous window did not, so every prediction sees at least block_size - stride
// tokens of context). Boundary targets are not scored (they have no bytes).
struct TextWindow {
    int domain = 0;
    int64_t start = 0;  // first input token
    int len = 0;        // input tokens (<= T; the last window of a domain may be shorter)
    int score_from = 0; // positions < score_from are context only
};

std::vector<TextWindow> text_windows(const TextCorpus & c, TextSplit s, int T, int stride, int64_t max_targets);
// Fills B windows: tokens (B, T) (padded with 0), targets (B*T), mask (B*T; 1 = scored), task (B).
void fill_windows(const TextCorpus & c, TextSplit s, const TextWindow * w, int B, int T, int32_t * tokens,
                  int32_t * targets, uint8_t * mask, int32_t * task);

} // namespace moe::data
