// data: the tokenizer a text configuration names (moe/data/tokenizer.hpp).
#include "moe/core/error.hpp"
#include "moe/data/config.hpp"
#include "moe/data/tokenizer.hpp"

namespace moe::data {

std::unique_ptr<Tokenizer> open_tokenizer(const TextConfig & cfg, const std::string & where) {
    if (cfg.tokenizer == "byte") return byte_tokenizer();
    MOE_CHECK(cfg.tokenizer == "gpt2" || cfg.tokenizer == "sentencepiece", ErrorCode::spec,
              where + ".tokenizer: unknown tokenizer '" + cfg.tokenizer + "'");
    MOE_CHECK(
        !cfg.tokenizer_path.empty(), ErrorCode::spec,
        where + ".tokenizer_path: the " + cfg.tokenizer + " tokenizer needs its " +
            (cfg.tokenizer == "gpt2" ? "folder (vocab.json + merges.txt) or tokenizer.json" : "tokenizer.model file"));
    auto t = cfg.tokenizer == "gpt2" ? gpt2_tokenizer(cfg.tokenizer_path) : sentencepiece_tokenizer(cfg.tokenizer_path);
    MOE_CHECK(t->vocab() <= 65536, ErrorCode::spec,
              where + ".tokenizer_path: a vocabulary of " + std::to_string(t->vocab()) +
                  " tokens does not fit the 16-bit token cache (at most 65536)");
    return t;
}

} // namespace moe::data
