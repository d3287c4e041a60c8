// data: training sequences drawn from a text corpus, and the evaluation windows that score every
// target of a split once (see moe/data/text.hpp).
#include <algorithm>

#include "moe/core/error.hpp"
#include "moe/core/rng.hpp"
#include "moe/data/text.hpp"

namespace moe::data {

TextSampler::TextSampler(const TextCorpus & c, const TextConfig & cfg, uint64_t seed)
    : c_(c), T_(cfg.block_size), one_domain_(cfg.batch_domains == "one"),
      seq_seed_(seed_for(seed, "data.text.sequence")), batch_seed_(seed_for(seed, "data.text.batch")) {
    double total = 0;
    for (int d = 0; d < c.n_domains(); ++d)
        if (c.length(d, TextSplit::train) >= T_ + 1) {
            usable_.push_back(d);
            total += c.domains()[d].weight;
        }
    MOE_CHECK(!usable_.empty() && total > 0, ErrorCode::spec,
              "data.text: no domain has a train split of one block (block_size + 1 tokens)");
    double acc = 0;
    for (int d : usable_) {
        acc += c.domains()[d].weight / total;
        cum_.push_back(acc);
    }
    cum_.back() = 1.0;
}

int TextSampler::draw_domain(uint64_t u) const {
    const double x = (u >> 11) * 0x1.0p-53;
    const size_t i = std::upper_bound(cum_.begin(), cum_.end(), x) - cum_.begin();
    return usable_[std::min(i, usable_.size() - 1)];
}

void TextSampler::fill(int64_t micro, int B, int32_t * tokens, int32_t * targets, int32_t * task) const {
    // each sequence from its own generator, seeded by (run seed, micro-batch, sequence)
    const int domain_of_batch = draw_domain(Rng(batch_seed_ + (uint64_t)micro).next_u64());
    for (int j = 0; j < B; ++j) {
        Rng r(seq_seed_ + (uint64_t)micro * 1000003ULL + (uint64_t)j);
        const uint64_t u = r.next_u64();
        const int d = one_domain_ ? domain_of_batch : draw_domain(u);
        const int64_t L = c_.length(d, TextSplit::train);
        const int64_t start = (int64_t)r.below((uint64_t)(L - T_)); // start + T < L
        const uint16_t * s = c_.tokens(d, TextSplit::train) + start;
        for (int t = 0; t < T_; ++t) {
            tokens[(int64_t)j * T_ + t] = s[t];
            targets[(int64_t)j * T_ + t] = s[t + 1];
        }
        task[j] = d;
    }
}

int64_t TextSampler::epoch_tokens() const {
    int64_t n = 0;
    for (int d : usable_) n += c_.length(d, TextSplit::train);
    return n;
}

std::vector<TextWindow> text_windows(const TextCorpus & c, TextSplit s, int T, int stride, int64_t max_targets) {
    MOE_CHECK(T > 0 && stride > 0 && stride <= T, ErrorCode::spec, "data.text.eval_stride must be in [1, block_size]");
    std::vector<TextWindow> out;
    for (int d = 0; d < c.n_domains(); ++d) {
        const int64_t L = c.length(d, s); // targets are tokens 1 .. L-1
        int64_t scored = 0;               // targets scored so far: tokens 1 .. scored
        for (int64_t start = 0; scored < L - 1; start += stride) {
            TextWindow w;
            w.domain = d;
            w.start = start;
            w.len = (int)std::min<int64_t>(T, L - 1 - start); // inputs start .. start+len-1
            w.score_from = (int)(scored - start);             // the first target not scored yet
            if (max_targets > 0 && scored + (w.len - w.score_from) > max_targets)
                w.len = (int)(max_targets - scored + w.score_from);
            if (w.len <= w.score_from) break;
            scored = start + w.len;
            out.push_back(w);
            if (max_targets > 0 && scored >= max_targets) break;
        }
    }
    return out;
}

void fill_windows(const TextCorpus & c, TextSplit s, const TextWindow * w, int B, int T, int32_t * tokens,
                  int32_t * targets, uint8_t * mask, int32_t * task) {
    const int32_t boundary = c.boundary();
    for (int j = 0; j < B; ++j) {
        const uint16_t * src = c.tokens(w[j].domain, s) + w[j].start;
        for (int t = 0; t < T; ++t) {
            const int64_t i = (int64_t)j * T + t;
            const bool in = t < w[j].len;
            tokens[i] = in ? src[t] : 0;
            targets[i] = in ? src[t + 1] : 0;
            // a boundary target has no bytes: neither its nats nor its bytes count
            mask[i] = in && t >= w[j].score_from && src[t + 1] != boundary;
        }
        task[j] = w[j].domain;
    }
}

} // namespace moe::data
