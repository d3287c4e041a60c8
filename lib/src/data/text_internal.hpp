// data: what the text corpus (text_corpus.cpp) and its cache file (text_cache.cpp) share.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "moe/data/text.hpp"

namespace moe::data::text {

// A document of a domain: where it is and what the split rule made of it.
struct Doc {
    std::string key;
    std::filesystem::path path;
    int64_t size = 0;
    int64_t mtime_ns = 0;
    int split = 0; // TextSplit
};

// The domains' documents in key order, the caps applied to their byte counts.
struct Plan {
    std::vector<TextDomainInfo> domains; // docs, bytes and tokens filled in (sha256 by the build)
    std::vector<std::vector<Doc>> docs;  // per domain, key order
    std::vector<int64_t> caps[3];        // per split: the byte cap of each domain (0 = none)
    std::string fingerprint;
    std::string manifest; // manifest.json beside the domains, or ""
};

// ---- the cache file ----------------------------------------------------------------------------
//   "MOETXT01" | tokens (u16 LE; per domain its train, val, test streams) | header JSON |
//   u64 header offset | u64 header length | sha256 of every byte before it
// The header holds the fingerprint, the tokenizer and each domain's counts, stream offsets and
// sha256. Written to a temporary and renamed, so a cache is complete or absent.
void build_cache(const Plan & plan, const std::string & path, Tokenizer & tokenizer);
// Maps a cache and checks it (size, checksum, header, fingerprint, token range); throws
// ErrorCode::io naming the file and the problem (token ids must be below vocab).
std::unique_ptr<TextCorpus> map_cache(const std::string & path, const std::string & fingerprint, int vocab);

std::string default_cache_dir();

} // namespace moe::data::text
