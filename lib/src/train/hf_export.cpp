// train: a run's model as a Hugging Face checkpoint directory (see moe/train/hf_export.hpp).
#include "moe/train/hf_export.hpp"

#include <cmath>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "moe/blas/gemm.hpp"
#include "moe/core/error.hpp"
#include "moe/io/outputs.hpp"
#include "moe/io/run_file.hpp"
#include "moe/io/safetensors.hpp"
#include "moe/models/hf_checkpoint.hpp"
#include "moe/routing/registry.hpp"
#include "moe/train/network.hpp"
#include "moe/train/run_spec.hpp"

namespace fs = std::filesystem;

namespace moe::train {

namespace {

[[noreturn]] void refuse(const std::string & msg) { throw Error(ErrorCode::spec, msg); }

std::vector<std::string> write_model(const std::string & run_path, const fs::path & tmp) {
    io::RunReader run(run_path);
    const RunSpec rs = read_run_spec(run, "export");
    const spec::Spec & sp = rs.spec;
    if (sp.model.kind != "gpt")
        refuse(run_path + ": its model is '" + sp.model.kind + "'; --format hf writes causal language models (gpt)");
    std::string why;
    const std::string family = models::hf_family_of(sp.model.gpt, &why);
    if (family.empty())
        refuse(run_path + ": its gpt model has neither GPT-2's nor LLaMA's layout (" + why +
               "), so transformers has no class for it");
    const bool adapted = !sp.adapters.sites.empty();
    if (adapted && sp.adapters.experts > 1)
        refuse(run_path + ": a mixture of " + std::to_string(sp.adapters.experts) +
               " experts cannot be merged into one model; export its experts with --format peft");
    if (adapted && sp.adapters.kind != "lora")
        refuse(run_path + ": its adapters are '" + sp.adapters.kind + "'; only a LoRA merges into its weight");
    if (adapted && sp.routing.kind != "none" && routing::router_entry(sp.routing.kind).traits.weights)
        refuse(run_path + ": its expert has a router ('" + sp.routing.kind +
               "'), whose gate a merge would lose; export it with --format peft");
    const int V = (int)run.shape("params/tok_emb.weight").at(0);
    const int n_tasks = std::max<int>(1, (int)sp.data.text.domains.size());
    auto net = build_network(sp, models::InputShape{sp.model.gpt.context, 0, 0, 0}, V, n_tasks, sp.exp.seed);
    run.load_params(net->store, {});
    auto & store = net->store;
    // merge each site's LoRA: W (OC, C) += scaling B (OC, R) A (R, C)
    const double scaling = sp.adapters.rslora ? sp.adapters.alpha / std::sqrt((double)sp.adapters.rank)
                                              : sp.adapters.alpha / sp.adapters.rank;
    for (const auto & s : net->sites) {
        const int iw = store.find(s->name() + ".weight"), ia = store.find(s->name() + ".experts.lora_a"),
                  ib = store.find(s->name() + ".experts.lora_b");
        MOE_CHECK(iw >= 0 && ia >= 0 && ib >= 0, ErrorCode::internal, "export: site " + s->name() + " has no LoRA");
        const auto & sw = store.info(iw).shape;
        const int OC = (int)sw[0], C = (int)sw[1], R = (int)store.info(ia).shape[1];
        blas::gemm<float>(false, false, OC, C, R, (float)scaling, store.value(ib), R, store.value(ia), C, 1.f,
                          store.value(iw), C);
    }
    // the tensors by their checkpoint names (Conv1D weights transposed back to (in, out))
    std::map<std::string, std::vector<float>> transposed;
    std::vector<io::StTensorOut> out;
    int positions = sp.model.gpt.context, mlp_dim = 0;
    for (int id = 0; id < store.size(); ++id) {
        const auto & info = store.info(id);
        if (is_adapter_param(info.name)) continue;
        bool tr = false;
        const std::string name = models::hf_name_of_param(family, info.name, &tr);
        MOE_CHECK(!name.empty(), ErrorCode::internal, "export: parameter " + info.name + " has no checkpoint name");
        if (info.name == "pos_emb.weight") positions = (int)info.shape[0];
        if (info.name == "blocks.0.mlp.fc1.weight" || info.name == "blocks.0.mlp.gate.weight")
            mlp_dim = (int)info.shape[0];
        if (!tr) {
            out.push_back({name, info.shape, store.value(id)});
            continue;
        }
        const int64_t rows = info.shape[0], cols = info.shape[1];
        auto & t = transposed[name];
        t.resize((size_t)rows * cols);
        const float * v = store.value(id);
        for (int64_t i = 0; i < rows; ++i)
            for (int64_t j = 0; j < cols; ++j) t[(size_t)j * rows + i] = v[(size_t)i * cols + j];
        out.push_back({name, {cols, rows}, t.data()});
    }
    std::vector<std::string> files;
    io::write_safetensors((tmp / "model.safetensors").string(), out, {{"format", "pt"}, {"moe_lab_run", run_path}});
    files.push_back("model.safetensors");
    const nlohmann::json cfg = models::hf_config_of(family, sp.model.gpt, V, positions, mlp_dim);
    io::write_text_atomic((tmp / "config.json").string(), cfg.dump(2) + "\n");
    files.push_back("config.json");
    // the run's tokenizer files, so the directory is a whole checkpoint
    const auto & tx = sp.data.text;
    if ((tx.tokenizer == "gpt2" || tx.tokenizer == "sentencepiece") && !tx.tokenizer_path.empty()) {
        std::error_code ec;
        const fs::path src = tx.tokenizer_path;
        const bool dir = fs::is_directory(src, ec);
        for (const char * f : {"vocab.json", "merges.txt", "tokenizer.json", "tokenizer.model", "tokenizer_config.json",
                               "special_tokens_map.json"}) {
            const fs::path p = dir ? src / f : (src.filename() == f ? src : fs::path());
            if (p.empty() || !fs::is_regular_file(p, ec)) continue;
            fs::copy_file(p, tmp / f);
            files.push_back(f);
        }
    }
    return files;
}

} // namespace

std::vector<std::string> export_hf_model(const std::string & run_path, const std::string & dir, bool force) {
    std::vector<std::string> files;
    io::write_directory_atomic(dir, force, [&](const std::string & tmp) { files = write_model(run_path, tmp); });
    return files;
}

} // namespace moe::train
