// moe/train/generate.hpp — text generation from a causal language model with its adapter sites:
// the prompt's tokens after a document boundary (a new document begins), then one token at a time
// against the model's KV cache (or, for checking, by recomputing the whole sequence each time),
// sampled with temperature, top-k and top-p (nucleus) from a seeded generator; the experts each
// site chose for every generated token are recorded.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "moe/data/tokenizer.hpp"
#include "moe/train/network.hpp"

namespace moe::train {

struct GenerateOptions {
    std::string prompt;
    int max_tokens = 200;     // new tokens at most (the context may end generation sooner)
    double temperature = 1.0; // 0: greedy (argmax)
    int top_k = 0;            // > 0: sample among the k most likely tokens
    double top_p = 1.0;       // < 1: among the smallest set of tokens whose probability reaches top_p
    uint64_t seed = 0;
    int task = 0;                          // the task (domain) id sites see (oracle routing uses it)
    bool stop_at_boundary = true;          // a generated document boundary ends the text
    bool recompute = false;                // the full forward over the whole sequence for every token (no cache)
    data::Tokenizer * tokenizer = nullptr; // encodes the prompt (nullptr: the byte tokenizer)
};

// What generation produced: the new tokens, their logits' row (V) for checking, per site the
// experts chosen at each new token's position.
struct Generated {
    std::vector<int32_t> tokens;        // the new tokens
    std::vector<float> logits;          // (n, V) the logits each new token was drawn from
    std::string stopped = "max_tokens"; // max_tokens | boundary | context
    std::vector<std::string> sites;
    std::vector<int> site_k;                    // slots per token of each site
    std::vector<std::vector<int32_t>> site_idx; // per site (n, K) experts (-1: empty slot)
    std::vector<std::vector<float>> site_gate;  // per site (n, K)
};

// Receives each new token as it is drawn (the app streams it to stdout).
class TokenSink {
  public:
    virtual ~TokenSink() = default;
    virtual void on_token(int32_t token) = 0;
};

// net: a gpt network (planned for at least one sequence). Throws ErrorCode::spec when the prompt
// does not fit the context, max_tokens < 1 or the sampling settings are out of range.
Generated generate(Network & net, const GenerateOptions & opt, TokenSink * sink = nullptr);

// Rebuilds the network of a moe-train run of a gpt model from its file alone (the corpus is not
// read; the domain names come from its spec) and generates. threads < 0: the spec's.
struct RunGenerator {
    std::unique_ptr<Network> net;
    std::vector<std::string> domains;
    std::shared_ptr<data::Tokenizer> tokenizer; // the run's data.text tokenizer
};
RunGenerator load_generator(const std::string & run_path, int threads);

} // namespace moe::train
