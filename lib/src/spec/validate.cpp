// spec: the checks across fields, after every field passed its own (see moe/spec/spec.hpp).
#include <cstdlib>
#include <filesystem>

#include "moe/data/dataset.hpp"
#include "moe/routing/registry.hpp"
#include "moe/spec/spec.hpp"

namespace moe::spec {

namespace fs = std::filesystem;

void validate(const Spec & s, std::vector<SpecProblem> & errs) {
    // a Hugging Face model directory as the base: the gpt model comes from its config.json, and
    //  its context from data.text.block_size (train/hf_base.cpp)
    std::error_code hf_ec;
    const bool hf_base = !s.base.empty() && fs::is_directory(s.base, hf_ec);
    if (s.data.source == "fashion-mnist") {
        std::string dir = data::fashion_mnist_dir(s.data.dir);
        std::error_code ec;
        const char * env = std::getenv("MOE_FASHION_MNIST_DIR");
        const std::string from = !s.data.dir.empty()           ? ""
                                 : env != nullptr && *env != 0 ? " (from $MOE_FASHION_MNIST_DIR; data.dir is not set)"
                                                               : " (the default; data.dir is not set)";
        if (!fs::is_directory(dir, ec))
            errs.push_back({"data.dir", "data directory '" + dir + "'" + from +
                                            " does not exist (install the Debian package dataset-fashion-mnist, or set "
                                            "data.dir or MOE_FASHION_MNIST_DIR)"});
    }
    if (s.data.source == "csv" || s.data.source == "hdf5") {
        std::error_code ec;
        if (s.data.train_path.empty())
            errs.push_back({"data.train_path", "required for source '" + s.data.source + "'"});
        else if (!fs::exists(s.data.train_path, ec))
            errs.push_back({"data.train_path", "file '" + s.data.train_path + "' does not exist"});
        if (!s.data.test_path.empty() && !fs::exists(s.data.test_path, ec))
            errs.push_back({"data.test_path", "file '" + s.data.test_path + "' does not exist"});
    }
    if (s.data.source == "text") {
        const auto & t = s.data.text;
        if (t.domains.empty()) errs.push_back({"data.text.domains", "source 'text' needs at least one domain"});
        for (size_t i = 0; i < t.domains.size(); ++i) {
            const std::string p = "data.text.domains[" + std::to_string(i) + "]";
            if (t.domains[i].name.empty()) errs.push_back({p + ".name", "a domain needs a name"});
            if (t.domains[i].paths.empty()) errs.push_back({p + ".paths", "a domain needs at least one path"});
        }
        if (s.model.kind != "gpt")
            errs.push_back({"model.kind", "source 'text' gives token sequences: it needs model.kind 'gpt', not '" +
                                              s.model.kind + "'"});
        else if (!hf_base && s.model.gpt.context != t.block_size)
            errs.push_back({"data.text.block_size", "must equal model.gpt.context (" +
                                                        std::to_string(s.model.gpt.context) + "), got " +
                                                        std::to_string(t.block_size)});
        if (t.eval_stride > t.block_size)
            errs.push_back({"data.text.eval_stride",
                            "must not exceed data.text.block_size (" + std::to_string(t.block_size) + ")"});
        if (t.test_percent + t.val_percent > 100)
            errs.push_back({"data.text.val_percent", "test_percent + val_percent is over 100"});
    } else if (s.model.kind == "gpt") {
        errs.push_back({"data.source", "model.kind 'gpt' is a language model: it needs data.source 'text', not '" +
                                           s.data.source + "'"});
    }
    if (s.model.base_storage == "bf16" && s.model.kind != "gpt")
        errs.push_back({"model.base_storage", "bf16 storage is for the gpt model's frozen Linear weights; model.kind is '" +
                                                  s.model.kind + "' (leave it \"f32\")"});
    if (s.model.kind == "gpt") {
        const auto & g = s.model.gpt;
        const int nkv = g.kv_heads > 0 ? g.kv_heads : g.heads;
        if (g.width % g.heads != 0)
            errs.push_back({"model.gpt.heads", "width " + std::to_string(g.width) + " is not divisible by heads " +
                                                   std::to_string(g.heads)});
        else if (g.positions == "rope" && (g.width / g.heads) % 2 != 0)
            errs.push_back({"model.gpt.positions", "rope needs an even head size (width / heads = " +
                                                       std::to_string(g.width / g.heads) + ")"});
        if (g.max_positions != 0 && g.max_positions < g.context)
            errs.push_back(
                {"model.gpt.max_positions",
                 std::to_string(g.max_positions) + " is below model.gpt.context (" + std::to_string(g.context) + ")"});
        if (g.heads % nkv != 0)
            errs.push_back({"model.gpt.kv_heads",
                            std::to_string(nkv) + " does not divide heads (" + std::to_string(g.heads) + ")"});
    }
    if (s.model.kind == "vit" && s.model.vit.heads > 0 && s.model.vit.width % s.model.vit.heads != 0)
        errs.push_back({"model.vit.heads", "width " + std::to_string(s.model.vit.width) +
                                               " is not divisible by heads " + std::to_string(s.model.vit.heads)});
    if (!s.base.empty()) {
        std::error_code ec;
        if (!fs::exists(s.base, ec))
            errs.push_back({"base", "run file '" + s.base + "' does not exist"});
        else if (hf_base && !fs::exists(fs::path(s.base) / "config.json", ec))
            errs.push_back({"base", "'" + s.base +
                                        "' is a directory without a config.json (expected a run file or a "
                                        "Hugging Face model directory)"});
        else if (hf_base && s.model.kind != "gpt")
            errs.push_back({"model.kind", "the base '" + s.base +
                                              "' is a Hugging Face model directory (a causal "
                                              "language model): it needs model.kind 'gpt', not '" +
                                              s.model.kind + "'"});
    }
    for (size_t i = 0; i < s.train.groups.size(); ++i)
        if (s.train.groups[i].pattern.empty())
            errs.push_back({"train.groups[" + std::to_string(i) + "].pattern", "must not be empty"});
    if (s.train.schedule == "cosine" && s.train.lr > 0 && s.train.min_lr > s.train.lr)
        errs.push_back({"train.min_lr", "must not exceed train.lr"});
    if (!s.adapters.sites.empty()) {
        const auto & r = s.routing;
        const routing::RouterEntry * re = routing::find_router(r.kind); // (an unknown name is already reported)
        const int P = s.adapters.experts + (r.kind == "null_experts" ? r.null_experts : 0);
        const bool uses_k = re && re->traits.fixed_k;
        if (uses_k && r.k > P)
            errs.push_back({"routing.k", "k = " + std::to_string(r.k) + " exceeds the " + std::to_string(P) +
                                             " experts of adapters.experts"});
        if (r.kind == "random_fixed" && r.k_start > r.k)
            errs.push_back({"routing.k_start", "must not exceed routing.k"});
        if (r.kind == "null_experts" && r.null_experts == 0)
            errs.push_back({"routing.null_experts", "router null_experts needs at least one null expert"});
        if (s.adapters.experts > 1 && r.kind == "none")
            errs.push_back(
                {"routing.router", "'none' sends every token to expert 0; use it only with adapters.experts = 1"});
    }
    if (s.train.batch_size % s.train.grad_accum != 0)
        errs.push_back({"train.grad_accum", "train.batch_size (" + std::to_string(s.train.batch_size) +
                                                ") must be divisible by grad_accum (" +
                                                std::to_string(s.train.grad_accum) + ")"});
    else if (s.train.batch_size % (s.train.grad_accum * s.train.shards) != 0)
        errs.push_back({"train.shards", "train.batch_size (" + std::to_string(s.train.batch_size) +
                                            ") must be divisible by shards x grad_accum (" +
                                            std::to_string(s.train.shards) + " x " +
                                            std::to_string(s.train.grad_accum) + ")"});
    // (imported adapters may be evaluated as they are: zero steps)
    if (s.train.epochs == 0 && s.train.max_steps == 0 && s.adapters.peft.empty())
        errs.push_back({"train.epochs", "train.epochs and train.max_steps are both 0: nothing would be trained"});
    if (!s.adapters.peft.empty()) {
        if (s.model.kind != "gpt")
            errs.push_back({"model.kind", "adapters.peft imports LoRA adapters of a causal language model: it needs "
                                          "model.kind 'gpt', not '" +
                                              s.model.kind + "'"});
        if (s.adapters.kind != "lora")
            errs.push_back({"adapters.kind", "adapters.peft imports LoRA experts, not '" + s.adapters.kind + "'"});
        for (size_t i = 0; i < s.adapters.peft.size(); ++i)
            if (s.adapters.peft[i].empty())
                errs.push_back({"adapters.peft[" + std::to_string(i) + "]", "an empty path"});
    }
}

} // namespace moe::spec
