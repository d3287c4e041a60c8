// moe-eval generate (see generate.hpp).
#include "generate.hpp"

#include <cstdio>

#include <fmt/core.h>

#include "../common/cli_common.hpp"
#include "moe/core/error.hpp"
#include "moe/io/run_file.hpp"
#include "moe/train/run_setup.hpp"

namespace moe::apps {

namespace {

// the bytes of each token as it comes (the document boundary and special tokens print nothing)
class StdoutSink final : public train::TokenSink {
  public:
    explicit StdoutSink(const data::Tokenizer & tok) : tok_(tok) {}
    void on_token(int32_t t) override {
        if (t < 0 || t >= tok_.vocab()) return;
        const std::string s = tok_.piece(t);
        std::fwrite(s.data(), 1, s.size(), stdout);
        std::fflush(stdout);
    }

  private:
    const data::Tokenizer & tok_;
};

} // namespace

void add_generate_command(CLI::App & app, GenerateArgs & a) {
    a.cmd = app.add_subcommand("generate", "text from a language-model run (KV cache), streamed to stdout");
    auto * c = a.cmd;
    c->add_option("run", a.run, "run file of a gpt model written by moe-train")->required();
    c->add_option("--prompt", a.opt.prompt, "the text the generation continues (a new document begins before it)");
    c->add_option("--max-tokens", a.opt.max_tokens, "new tokens at most (200)");
    c->add_option("--temperature", a.opt.temperature, "divides the logits (0: greedy; 1.0)");
    c->add_option("--top-k", a.opt.top_k, "sample among the k most likely tokens (0: off)");
    c->add_option("--top-p", a.opt.top_p, "sample among the most likely tokens whose probability reaches p (1: off)");
    c->add_option("--seed", a.opt.seed, "seed of the sampling (0)");
    c->add_option("--domain", a.domain, "the domain (task) the sites see, by name (oracle routing uses it)");
    c->add_flag("--no-stop", a.no_stop, "do not end at a generated document boundary");
    c->add_flag("--recompute", a.opt.recompute, "recompute the whole sequence for every token (no KV cache; slower)");
    c->add_option("--trace", a.trace, "write the experts each site chose per generated token to this HDF5 file");
    add_force_option(*c, a.force, "an existing --trace file");
}

int run_generate(GenerateArgs & a, int threads) {
    if (a.cmd->get_option("--trace")->count() > 0 && a.trace.empty())
        throw Error(ErrorCode::spec, "--trace: an empty path");
    io::OutputLock lock;
    if (!a.trace.empty()) {
        train::OutputPolicy policy;
        policy.force = a.force;
        policy.option = "--trace";
        lock = train::claim_outputs(a.trace, "", {{"the run file", a.run}}, policy);
        train::prepare_outputs({a.trace}, {{"the run file", a.run}}, "moe-eval");
    }
    if (a.opt.max_tokens < 1)
        throw Error(ErrorCode::spec, "--max-tokens: must be at least 1, got " + std::to_string(a.opt.max_tokens));
    auto g = train::load_generator(a.run, threads);
    if (!a.domain.empty()) {
        int id = -1;
        std::string names;
        for (size_t i = 0; i < g.domains.size(); ++i) {
            if (g.domains[i] == a.domain) id = (int)i;
            names += (names.empty() ? "" : ", ") + g.domains[i];
        }
        if (id < 0) throw Error(ErrorCode::spec, "--domain '" + a.domain + "': the run's domains are " + names);
        a.opt.task = id;
    }
    a.opt.stop_at_boundary = !a.no_stop;
    StdoutSink sink(*g.tokenizer);
    a.opt.tokenizer = g.tokenizer.get();
    std::fputs(a.opt.prompt.c_str(), stdout);
    const auto res = train::generate(*g.net, a.opt, &sink);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    fmt::print(stderr, "{} tokens; stopped at {}\n", res.tokens.size(),
               res.stopped == "max_tokens" ? "--max-tokens"
               : res.stopped == "boundary" ? "a document boundary"
                                           : "the end of the context");
    if (!a.trace.empty()) {
        io::RunWriter w(a.trace, "moe-eval");
        const int64_t n = (int64_t)res.tokens.size();
        std::vector<int64_t> tok(res.tokens.begin(), res.tokens.end());
        w.set_attr("/", "run", a.run);
        w.set_attr("/", "prompt", a.opt.prompt);
        w.set_attr("/", "stopped", res.stopped);
        w.write_array("trace/tokens", std::span<const int64_t>(tok), {n});
        if (n > 0) // the logits each new token was drawn from (before temperature)
            w.write_array("trace/logits", std::span<const float>(res.logits), {n, (int64_t)res.logits.size() / n});
        for (size_t i = 0; i < res.sites.size(); ++i) {
            const int K = res.site_k[i];
            if (K == 0) continue;
            std::vector<int64_t> idx(res.site_idx[i].begin(), res.site_idx[i].end());
            w.write_array("trace/sites/" + res.sites[i] + "/experts", std::span<const int64_t>(idx), {n, K});
            w.write_array("trace/sites/" + res.sites[i] + "/gates", std::span<const float>(res.site_gate[i]), {n, K});
        }
        w.commit();
        fmt::print(stderr, "trace file: {}\n", a.trace);
    }
    return 0;
}

} // namespace moe::apps
