// train: text generation (see moe/train/generate.hpp). Sampling follows Hugging Face's logits
// warpers (huggingface/transformers@c44b2d9 src/transformers/generation/logits_process.py):
// temperature divides the logits, then top-k keeps the k largest, then top-p keeps the smallest
// set of most likely tokens whose probability reaches top_p (at least one); the token is drawn
// from the renormalised rest.
#include "moe/train/generate.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "moe/blas/gemm.hpp"
#include "moe/core/error.hpp"
#include "moe/core/rng.hpp"
#include "moe/data/text.hpp"
#include "moe/io/run_file.hpp"
#include "moe/spec/spec.hpp"
#include "moe/train/run_spec.hpp"

namespace moe::train {

namespace {

// draws a token from logits (V) with the sampling settings; scratch holds V doubles and V ints
int32_t sample(const float * logits, int V, const GenerateOptions & o, Rng & rng, std::vector<double> & p,
               std::vector<int> & order) {
    if (o.temperature == 0) return (int32_t)(std::max_element(logits, logits + V) - logits);
    for (int v = 0; v < V; ++v) p[v] = double(logits[v]) / o.temperature;
    std::iota(order.begin(), order.end(), 0); // most likely first; ties by id
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
    int keep = V;
    if (o.top_k > 0) keep = std::min(keep, o.top_k);
    const double mx = p[order[0]];
    double z = 0;
    for (int i = 0; i < keep; ++i) z += std::exp(p[order[i]] - mx);
    if (o.top_p < 1) {
        double cum = 0;
        for (int i = 0; i < keep; ++i) {
            cum += std::exp(p[order[i]] - mx) / z;
            if (cum >= o.top_p) {
                keep = i + 1;
                break;
            }
        }
        z = 0;
        for (int i = 0; i < keep; ++i) z += std::exp(p[order[i]] - mx);
    }
    double u = rng.uniform() * z;
    for (int i = 0; i < keep; ++i) {
        u -= std::exp(p[order[i]] - mx);
        if (u < 0) return order[i];
    }
    return order[keep - 1];
}

} // namespace

Generated generate(Network & net, const GenerateOptions & o, TokenSink * sink) {
    auto * dec = net.model->decoder();
    MOE_CHECK(dec != nullptr, ErrorCode::spec,
              "generate: the run's model '" + net.model->kind() + "' is not a causal language model");
    MOE_CHECK(o.max_tokens >= 1, ErrorCode::spec,
              "--max-tokens: must be at least 1, got " + std::to_string(o.max_tokens));
    MOE_CHECK(o.temperature >= 0 && std::isfinite(o.temperature), ErrorCode::spec,
              "--temperature: must be >= 0 (0: greedy)");
    MOE_CHECK(o.top_k >= 0, ErrorCode::spec, "--top-k: must be >= 0 (0: off)");
    MOE_CHECK(o.top_p > 0 && o.top_p <= 1, ErrorCode::spec, "--top-p: must be in (0, 1]");
    const int T = dec->context(), V = net.model->n_outputs();
    std::unique_ptr<data::Tokenizer> bytes;
    data::Tokenizer * tok = o.tokenizer;
    if (!tok) tok = (bytes = data::byte_tokenizer()).get();
    MOE_CHECK(V == tok->vocab(), ErrorCode::spec,
              "generate: the model's vocabulary has " + std::to_string(V) + " tokens, not the " + tok->kind() +
                  " tokenizer's " + std::to_string(tok->vocab()));
    const int32_t boundary = tok->boundary();
    std::vector<int32_t> seq = {boundary}; // a new document begins
    tok->encode(o.prompt, seq);
    const std::string unit = tok->kind() == "byte" ? " bytes" : " tokens";
    MOE_CHECK((int)seq.size() <= T, ErrorCode::spec,
              "--prompt: " + std::to_string(seq.size() - 1) + unit + " do not fit the model's context of " +
                  std::to_string(T) + " positions (at most " + std::to_string(T - 1) + unit + ")");
    MOE_CHECK(net.model->planned_batch() >= 1, ErrorCode::internal, "generate: plan the network first");

    Generated g;
    for (auto & s : net.sites) {
        g.sites.push_back(s->name());
        g.site_k.push_back(0);
        g.site_idx.emplace_back();
        g.site_gate.emplace_back();
    }
    auto record_sites = [&](int row) { // the chosen experts of one row of the last forward
        for (size_t i = 0; i < net.sites.size(); ++i) {
            const auto sel = net.sites[i]->last_selection();
            if (sel.K == 0 || row >= sel.N) continue;
            if (g.site_k[i] == 0) g.site_k[i] = sel.K;
            const int K = g.site_k[i];
            for (int j = 0; j < K; ++j) {
                const bool in = j < sel.K;
                g.site_idx[i].push_back(in ? sel.idx[(size_t)row * sel.K + j] : -1);
                g.site_gate[i].push_back(in ? float(sel.gate[(size_t)row * sel.K + j]) : 0.f);
            }
        }
    };
    Rng rng(o.seed, "generate");
    std::vector<double> p(V);
    std::vector<int> order(V);
    const int32_t task = o.task;
    std::vector<int32_t> full; // recompute: the sequence padded to T
    std::vector<float> row(V);
    net.set_stats_enabled(false);
    if (!o.recompute) dec->plan_decode(1);
    int t = 0; // positions fed so far
    auto logits_of_last = [&]() -> const float * {
        if (o.recompute) {
            full.assign(T, 0);
            std::copy(seq.begin(), seq.end(), full.begin());
            models::Batch<float> b;
            b.B = 1;
            b.tokens = full.data();
            b.task = &task;
            const float * z = net.forward(b, false, 0);
            t = (int)seq.size();
            record_sites(t - 1);
            return z + (size_t)(t - 1) * V;
        }
        const float * z = nullptr;
        for (; t < (int)seq.size(); ++t) z = net.decode(&seq[t], 1, t, &task);
        record_sites(0);
        return z;
    };
    while (true) {
        const float * z = logits_of_last();
        // the trace holds the routing of the position each new token was drawn from
        std::copy(z, z + V, row.begin());
        const int32_t next = sample(row.data(), V, o, rng, p, order);
        g.tokens.push_back(next);
        g.logits.insert(g.logits.end(), row.begin(), row.end());
        if (next == boundary && o.stop_at_boundary) {
            g.stopped = "boundary";
            break;
        }
        if (sink) sink->on_token(next);
        if ((int)g.tokens.size() >= o.max_tokens) break;
        if ((int)seq.size() >= T) {
            g.stopped = "context";
            break;
        }
        seq.push_back(next);
    }
    net.set_stats_enabled(true);
    return g;
}

RunGenerator load_generator(const std::string & run_path, int threads) {
    io::RunReader run(run_path);
    const RunSpec rs = read_run_spec(run, "generate"); // every tensor is in the run file
    const spec::Spec & sp = rs.spec;
    MOE_CHECK(sp.model.kind == "gpt", ErrorCode::spec,
              run_path + ": its model is '" + sp.model.kind + "'; generate needs a causal language model (gpt)");
    blas::blas_init(threads >= 0 ? threads : sp.exp.threads);
    RunGenerator g;
    for (const auto & d : sp.data.text.domains) g.domains.push_back(d.name);
    const int n_tasks = std::max<int>(1, (int)g.domains.size());
    g.tokenizer = data::open_tokenizer(sp.data.text, run_path + ":/spec data.text");
    g.net = build_network(sp, models::InputShape{sp.model.gpt.context, 0, 0, 0}, g.tokenizer->vocab(), n_tasks,
                          sp.exp.seed);
    run.load_params(g.net->store, {});
    g.net->set_step(rs.steps); // schedules route as training ended
    g.net->plan(1);
    return g;
}

} // namespace moe::train
