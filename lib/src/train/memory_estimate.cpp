// train: the memory guard (see moe/train/memory_estimate.hpp).
//
// Activations: the network is declared without allocating its tensors, then planned for one and
// for two samples; the heap grows by a + b per sample (every planned buffer is a fixed size plus a
// size per sample), which mallinfo2(3) measures, and the estimate is a + b * B for the run's B.
#include "moe/train/memory_estimate.hpp"

#include "moe/train/hf_base.hpp"
#include "moe/train/peft_import.hpp"

#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "moe/core/error.hpp"
#include "moe/data/source_size.hpp"
#include "moe/train/hf_base.hpp"
#include "moe/train/network.hpp"
#include "moe/train/step.hpp"

namespace moe::train {

namespace {

// Resident memory of the binaries, their libraries, HDF5's caches and OpenBLAS's first buffers,
// measured as the peak RSS of the tiny bad-input runs (tests/cli/test_memory.sh prints both).
constexpr uint64_t kOverhead = uint64_t(24) << 20;
constexpr uint64_t kExpandOverhead = uint64_t(28) << 20;
// Address space that RLIMIT_AS counts beyond the resident estimate: the main thread's OpenBLAS
// GEMM buffer (BUFFER_SIZE, common_x86_64.h) and glibc's heaps; measured as the lowest ulimit -v
// under which the tiny bad-input run finishes less its address space at this point (136 MiB).
// Each further thread of the pool adds its stack, its malloc arena (mallopt(3), M_ARENA_MAX)
// and its own OpenBLAS buffer.
constexpr uint64_t kAddressSpaceBase = uint64_t(136) << 20;
constexpr uint64_t kAddressSpacePerThread = uint64_t(104) << 20;

uint64_t heap_in_use() {
    const struct mallinfo2 m = mallinfo2();
    return uint64_t(m.uordblks) + uint64_t(m.hblkhd);
}

std::vector<std::string> model_keys(const spec::Spec & spec) {
    std::vector<std::string> k;
    const std::string & kind = spec.model.kind;
    if (kind == "mlp")
        k = {"model.mlp.hidden"};
    else
        k = {"model." + kind + ".width", "model." + kind + ".depth", "model." + kind + ".mlp_dim"};
    if (!spec.adapters.sites.empty()) {
        k.push_back("adapters.experts");
        k.push_back("adapters.rank");
    }
    return k;
}

std::vector<std::string> data_keys(const data::DataConfig & d) {
    if (d.source == "synthetic") return {"data.synthetic.n_tasks", "data.synthetic.n_train", "data.synthetic.n_test"};
    if (d.source == "text") return {"data.text.domains[].train_bytes", "data.text.domains[].test_bytes"};
    return {"data.train_limit", "data.test_limit"};
}

} // namespace

uint64_t MemoryEstimate::total() const {
    uint64_t t = 0;
    for (const auto & p : parts) t += p.bytes;
    return t;
}

MemoryEstimate combine(const MemoryCounts & c) {
    MemoryEstimate e;
    const uint64_t f = sizeof(float);
    uint64_t states = 0;
    if (c.optimizer == "adamw")
        states = 2;
    else if (c.momentum > 0)
        states = 1;
    const uint64_t optim = states * c.n_trainable * f * (c.checkpoint_copy ? 2 : 1);
    e.parts = {{"data", c.data_bytes, {}},
               {"parameters",
                (c.n_trainable + c.n_frozen - c.n_frozen_bf16) * f + c.n_frozen_bf16 * sizeof(uint16_t) +
                    c.bf16_scratch * f,
                {}},
               {"gradients", c.n_trainable * f * (c.shards > 1 ? 1 + (uint64_t)c.shards : 1), {}},
               {"optimizer", optim, {}},
               {"activations", c.activation_bytes, {}},
               {"overhead", c.overhead, {}}};
    return e;
}

MemoryEstimate estimate_run_memory(const spec::Spec & given, const std::string & tool) {
    const spec::Spec spec = with_peft_adapters(with_hf_base(given)); // a Hugging Face base gives the model
    const data::SourceSize src = data::source_size(spec.data);
    MemoryCounts c;
    c.data_bytes = src.bytes;
    // moe-expand's stream copies each task's rows out of the splits while they are alive
    if (tool == "moe-expand") c.data_bytes += src.sample_bytes;
    c.optimizer = spec.train.optimizer;
    c.momentum = spec.train.momentum;
    c.checkpoint_copy = tool == "moe-train";
    if (tool == "moe-train" || tool == "moe-expand") c.shards = spec.train.shards; // (one process's shard buffers)
    // moe-expand: its per-task checkpoints and evaluations over every task seen hold more,
    // measured on the tiny stream (tests/cli/test_memory.sh)
    c.overhead = kOverhead + (tool == "moe-expand" ? kExpandOverhead : 0);

    // the network, declared only: its tensors counted, its buffers planned for 1 and 2 samples
    models::InputShape in{src.d, src.channels, src.height, src.width};
    const bool text = spec.data.source == "text";
    if (text) in = {spec.data.text.block_size, 0, 0, 0};
    if (in.d <= 0) in.d = 1; // an undescribed source: its loader fails first
    const int V = std::max(2, src.n_classes > 0 ? src.n_classes : 10);
    const int n_tasks = std::max<int>(1, int(spec.data.tasks.size()));
    std::unique_ptr<Network> net;
    try {
        net = build_network(spec, in, V, n_tasks, spec.exp.seed, /*allocate=*/false);
    } catch (const Error &) { // the run reports it in its own words, after the data
    }
    if (net) {
        for (const auto & pi : net->store.infos()) {
            (pi.trainable ? c.n_trainable : c.n_frozen) += pi.size;
            if (net->store.frozen_bf16() && pi.allow_bf16 && !pi.trainable) c.n_frozen_bf16 += pi.size;
        }
        c.bf16_scratch = net->store.bf16_scratch_size();
        const int accum = std::max(1, spec.train.grad_accum);
        const int B = std::max(spec.train.batch_size / accum, spec.eval.batch_size);
        const AvailableMemory avail = available_memory();
        // activations only once the tensors fit: planning a model of absurd widths for even one
        // sample may be more than the machine has
        if (!avail.min() || combine(c).total() < avail.min()->bytes) {
            const int rows = net->model->rows_per_sample();
            StepBuffers sb;
            const uint64_t base = heap_in_use();
            auto planned = [&](int b) {
                net->plan(b);
                sb.plan(b * rows, V);
                const uint64_t now = heap_in_use();
                return now > base ? now - base : 0;
            };
            try {
                const uint64_t a1 = planned(1), a2 = planned(2);
                const uint64_t per = a2 > a1 ? a2 - a1 : 0;
                c.activation_bytes = a1 + per * uint64_t(B - 1);
            } catch (const std::bad_alloc &) {
                c.activation_bytes = 0;
            }
        }
    }
    MemoryEstimate e = combine(c);
    const std::vector<std::string> mk = model_keys(spec);
    std::vector<std::string> gk = mk;
    gk.push_back("train.freeze");
    std::vector<std::string> ak = {"train.batch_size", "eval.batch_size"};
    if (spec.model.kind == "gpt") ak.push_back("model.gpt.context");
    e.parts[0].keys = data_keys(spec.data);
    e.parts[1].keys = mk;
    if (spec.model.kind == "gpt") e.parts[1].keys.push_back("model.base_storage");
    e.parts[2].keys = gk;
    e.parts[3].keys = gk;
    e.parts[3].keys.push_back("train.optimizer");
    e.parts[4].keys = ak;
    if (src.known && !text)
        e.data_note = std::to_string(src.train_rows) + " training + " + std::to_string(src.test_rows) +
                      " test samples of " + std::to_string(src.d) + " features" +
                      (src.declared_rows > src.train_rows
                           ? " (of " + std::to_string(src.declared_rows) + " the training source declares)"
                           : "");
    else if (src.known)
        e.data_note = std::to_string(src.train_rows) + " bytes of text";
    const int threads = spec.exp.threads > 0 ? spec.exp.threads : int(std::max(1u, std::thread::hardware_concurrency()));
    e.address_space_extra = kAddressSpaceBase + kAddressSpacePerThread * uint64_t(threads - 1);
    return e;
}

void check_memory(const MemoryEstimate & e, const AvailableMemory & avail) {
    if (const char * g = std::getenv("MOE_MEMORY_GUARD"); g && std::string(g) == "0") return;
    // the bound that refuses the run, the one with the largest shortfall; a bound on address space
    // also counts what is mapped but never touched
    const uint64_t need = e.total();
    const MemoryBound * b = nullptr;
    double worst = 0;
    for (const auto & x : avail.bounds) {
        const double short_by = double(need + (x.address_space ? e.address_space_extra : 0)) - double(x.bytes);
        if (short_by > worst) worst = short_by, b = &x;
    }
    if (!b) return;
    const uint64_t need_b = need + (b->address_space ? e.address_space_extra : 0);
    std::vector<MemoryPart> parts = e.parts;
    std::stable_sort(parts.begin(), parts.end(), [](const MemoryPart & x, const MemoryPart & y) { return x.bytes > y.bytes; });
    std::string msg = "memory: the run needs about " + format_bytes(need_b) + " but " + format_bytes(b->bytes) +
                      " is available (" + b->source + (b->limit != b->bytes ? ": limit " + format_bytes(b->limit) : "") +
                      ")";
    std::string sizes, keys;
    for (const auto & p : parts) {
        if (p.bytes == 0) continue;
        sizes += (sizes.empty() ? "" : ", ") + p.name + " " + format_bytes(p.bytes);
    }
    msg += "; by part: " + sizes;
    if (b->address_space) msg += ", plus " + format_bytes(e.address_space_extra) + " of address space mapped but not touched (thread buffers)";
    if (!e.data_note.empty()) msg += "; data: " + e.data_note;
    std::vector<std::string> hints;
    for (const auto & p : parts) {
        if (p.keys.empty() || p.bytes == 0) continue;
        std::string k;
        for (const auto & s : p.keys) k += (k.empty() ? "" : ", ") + s;
        hints.push_back(p.name + " (" + format_bytes(p.bytes) + "): set " + k);
    }
    if (b->address_space)
        hints.push_back("or raise the limit: ulimit -v " + std::to_string((need_b + (uint64_t(64) << 20)) / 1024) +
                        " (KiB) or more, or ulimit -v unlimited");
    hints.push_back("moe-train --estimate-memory prints the estimate without training (docs/memory.md)");
    throw Error(ErrorCode::spec, msg, hints);
}

std::string memory_report(const MemoryEstimate & e, const AvailableMemory & avail) {
    std::string out = "memory estimate:\n";
    char line[256];
    for (const auto & p : e.parts) {
        std::string k;
        for (const auto & s : p.keys) k += (k.empty() ? "" : ", ") + s;
        std::snprintf(line, sizeof line, "  %-12s %12s  (%llu bytes)%s%s\n", p.name.c_str(), format_bytes(p.bytes).c_str(),
                      (unsigned long long)p.bytes, k.empty() ? "" : "  sized by ", k.c_str());
        out += line;
    }
    std::snprintf(line, sizeof line, "  %-12s %12s  (%llu bytes)\n", "total", format_bytes(e.total()).c_str(),
                  (unsigned long long)e.total());
    out += line;
    if (!e.data_note.empty()) out += "  data: " + e.data_note + "\n";
    out += "available memory:\n";
    for (size_t i = 0; i < avail.bounds.size(); ++i) {
        const auto & b = avail.bounds[i];
        std::snprintf(line, sizeof line, "  %12s  %s%s%s\n", format_bytes(b.bytes).c_str(), b.source.c_str(),
                      b.limit != b.bytes ? (", limit " + format_bytes(b.limit)).c_str() : "",
                      int(i) == avail.smallest ? "  <- the smallest" : "");
        out += line;
    }
    if (avail.bounds.empty()) out += "  (no bound found)\n";
    const bool as = avail.min() && avail.min()->address_space;
    const uint64_t need = e.total() + (as ? e.address_space_extra : 0);
    out += std::string("fits: ") + (!avail.min() || need <= avail.min()->bytes ? "yes" : "no") + "\n";
    return out;
}

} // namespace moe::train
