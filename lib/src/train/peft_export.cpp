// train: a run's LoRA experts as PEFT / MoE-PEFT adapter files (see moe/train/peft_export.hpp).
#include "moe/train/peft_export.hpp"

#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "moe/core/error.hpp"
#include "moe/io/outputs.hpp"
#include "moe/io/run_file.hpp"
#include "moe/io/safetensors.hpp"
#include "moe/models/hf_checkpoint.hpp"
#include "moe/routing/registry.hpp"
#include "moe/train/network.hpp"
#include "moe/train/peft_layout.hpp"
#include "moe/train/run_spec.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace moe::train {

namespace {

[[noreturn]] void refuse(const std::string & msg) { throw Error(ErrorCode::spec, msg); }

// A number as JSON: an integer when it is one (lora_alpha 16, not 16.0: MoE-PEFT asserts an int).
json number(double v) {
    if (std::floor(v) == v && std::fabs(v) < 1e15) return json((int64_t)v);
    return json(v);
}

// One adapted site of the run, its module in the Hugging Face model and its tensors.
struct SiteOut {
    std::string site, module;
    bool conv1d = false;
    int R = 0, C = 0, OC = 0;
    std::vector<float> a, b;                          // (E,R,C), (E,OC,R)
    std::map<std::string, std::vector<float>> router; // name after "<site>.router." -> values
    std::map<std::string, std::vector<int64_t>> rshape;
};

struct RunOut {
    spec::Spec spec;
    std::string family;
    int E = 0;
    int64_t steps = 0;
    std::vector<SiteOut> sites;
};

RunOut read_run(const std::string & run_path) {
    io::RunReader run(run_path);
    RunSpec rs = read_run_spec(run, "export");
    RunOut r;
    r.spec = std::move(rs.spec);
    r.spec.base = rs.base;
    r.steps = rs.steps;
    const spec::Spec & sp = r.spec;
    if (sp.model.kind != "gpt")
        refuse(run_path + ": its model is '" + sp.model.kind +
               "'; PEFT adapters belong to a causal language model (model.kind gpt) of GPT-2 or LLaMA layout");
    std::string why;
    r.family = models::hf_family_of(sp.model.gpt, &why);
    if (r.family.empty())
        refuse(run_path + ": its gpt model has neither GPT-2's nor LLaMA's layout (" + why +
               "), so its sites have no Hugging Face module names");
    if (sp.adapters.sites.empty()) refuse(run_path + ": the run has no adapters (adapters.sites is empty)");
    if (sp.adapters.kind != "lora")
        refuse(run_path + ": its experts are '" + sp.adapters.kind +
               "'; PEFT's adapter format holds LoRA experts only");
    if (routing::router_entry(sp.routing.kind).traits.per_task)
        refuse(run_path + ": router '" + sp.routing.kind +
               "' (Poly / MHR) combines a shared LoRA inventory per task, "
               "which PEFT's LoRA format cannot hold");
    if (!run.has("params/tok_emb.weight")) throw Error(ErrorCode::io, run_path + ": params/tok_emb.weight is missing");
    const int V = (int)run.shape("params/tok_emb.weight").at(0);
    const int n_tasks = std::max<int>(1, (int)sp.data.text.domains.size());
    auto net = build_network(sp, models::InputShape{sp.model.gpt.context, 0, 0, 0}, V, n_tasks, sp.exp.seed, false);
    // a run that trained base parameters too: PEFT's adapter would silently lose them
    std::vector<std::string> trained;
    for (const auto & info : net->store.infos())
        if (info.trainable && !is_adapter_param(info.name)) trained.push_back(info.name);
    if (!trained.empty() && !sp.base.empty()) {
        std::string list;
        for (size_t i = 0; i < trained.size() && i < 4; ++i) list += (i ? ", " : "") + trained[i];
        if (trained.size() > 4) list += ", ... (" + std::to_string(trained.size()) + " in all)";
        refuse(run_path + ": the run also trained base parameters (" + list +
               ", from train.unfreeze); a LoRA adapter file would not carry them");
    }
    if (sp.base.empty())
        refuse(run_path + ": the run has no base (it trained the whole model); export writes the adapters of a run "
                          "on a frozen base");
    r.E = sp.adapters.experts;
    std::set<std::string> names;
    for (const auto & info : net->store.infos()) names.insert(info.name);
    for (const auto & s : net->sites) {
        SiteOut o;
        o.site = s->name();
        o.module = models::hf_module_of_site(r.family, o.site, &o.conv1d);
        if (o.module.empty()) refuse(run_path + ": site '" + o.site + "' has no module in the Hugging Face model");
        const std::string pa = "params/" + o.site + ".experts.lora_a", pb = "params/" + o.site + ".experts.lora_b";
        const auto sa = run.shape(pa), sb = run.shape(pb);
        if (sa.size() != 3 || sb.size() != 3 || sa[0] != r.E || sb[0] != r.E || sb[2] != sa[1])
            throw Error(ErrorCode::io,
                        run_path + ": " + pa + " and " + pb + " do not have the shapes (E,R,C), (E,OC,R)");
        o.R = (int)sa[1];
        o.C = (int)sa[2];
        o.OC = (int)sb[1];
        o.a = run.read_floats(pa);
        o.b = run.read_floats(pb);
        const std::string rp = o.site + ".router.";
        for (auto it = names.lower_bound(rp); it != names.end() && it->rfind(rp, 0) == 0; ++it) {
            const std::string rest = it->substr(rp.size());
            o.router[rest] = run.read_floats("params/" + *it);
            o.rshape[rest] = run.shape("params/" + *it);
        }
        r.sites.push_back(std::move(o));
    }
    if (r.sites.empty()) refuse(run_path + ": no site of the model has adapters");
    return r;
}

double scaling(const adapters::AdapterConfig & a) {
    return a.rslora ? a.alpha / std::sqrt((double)a.rank) : a.alpha / a.rank;
}

void write_json(const fs::path & p, const json & j) { io::write_text_atomic(p.string(), j.dump(2) + "\n"); }

// PEFT's adapter_config.json: every key PEFT's minimal file has, in sorted order (json's map);
// target_modules are the full module paths (an exact name matches only that module).
json peft_config(const RunOut & r, const std::vector<std::string> & modules) {
    const auto & a = r.spec.adapters;
    bool conv1d = false;
    for (const auto & s : r.sites) conv1d |= s.conv1d;
    json c;
    c["base_model_name_or_path"] = r.spec.base;
    c["bias"] = "none";
    // GPT-2's Conv1D stores (in, out); PEFT forces this true for it (only merging reads it)
    c["fan_in_fan_out"] = conv1d;
    c["inference_mode"] = true;
    c["init_lora_weights"] = true;
    c["lora_alpha"] = number(a.alpha);
    c["lora_dropout"] = a.dropout;
    c["peft_type"] = "LORA";
    c["r"] = a.rank;
    c["target_modules"] = modules;
    c["task_type"] = "CAUSAL_LM";
    c["use_rslora"] = a.rslora;
    return c;
}

std::vector<std::string> write_peft(const RunOut & r, const fs::path & tmp) {
    std::vector<std::string> files, modules;
    for (const auto & s : r.sites) modules.push_back(s.module);
    const json cfg = peft_config(r, modules);
    for (int e = 0; e < r.E; ++e) {
        const std::string sub = r.E == 1 ? std::string() : peft::expert_dir(e);
        const fs::path d = sub.empty() ? tmp : tmp / sub;
        if (!sub.empty()) fs::create_directory(d);
        std::vector<io::StTensorOut> t;
        for (const auto & s : r.sites) {
            t.push_back({peft::lora_a(s.module), {s.R, s.C}, s.a.data() + (size_t)e * s.R * s.C});
            t.push_back({peft::lora_b(s.module), {s.OC, s.R}, s.b.data() + (size_t)e * s.OC * s.R});
        }
        io::write_safetensors((d / peft::kWeights).string(), t);
        write_json(d / peft::kConfig, cfg);
        const std::string rel = sub.empty() ? "" : sub + "/";
        files.push_back(rel + peft::kConfig);
        files.push_back(rel + peft::kWeights);
    }
    // the routers and how to combine the experts (a single adapter without router needs neither)
    bool routers = false;
    for (const auto & s : r.sites) routers |= !s.router.empty();
    if (r.E == 1 && !routers) return files;
    std::vector<io::StTensorOut> rt;
    json sites = json::array();
    for (const auto & s : r.sites) {
        json js{
            {"site", s.site}, {"module", s.module}, {"conv1d", s.conv1d}, {"in_features", s.C}, {"out_features", s.OC}};
        json jr = json::object();
        for (const auto & [name, v] : s.router) {
            const std::string key = peft::router(s.module, name);
            rt.push_back({key, s.rshape.at(name), v.data()});
            jr[name] = key;
        }
        js["router"] = jr;
        sites.push_back(js);
    }
    if (!rt.empty()) {
        io::write_safetensors((tmp / peft::kRouters).string(), rt, {{"moe_lab", "routers"}});
        files.push_back(peft::kRouters);
    }
    json m;
    m["format"] = "moe-lab LoRA mixture";
    m["version"] = peft::kMixtureVersion;
    m["family"] = r.family;
    m["base_model_name_or_path"] = r.spec.base;
    m["experts"] = r.E;
    json dirs = json::array();
    for (int e = 0; e < r.E; ++e) dirs.push_back(r.E == 1 ? std::string(".") : peft::expert_dir(e));
    m["expert_dirs"] = dirs;
    m["lora"] = {{"r", r.spec.adapters.rank},
                 {"lora_alpha", number(r.spec.adapters.alpha)},
                 {"use_rslora", r.spec.adapters.rslora},
                 {"scaling", scaling(r.spec.adapters)}};
    m["routing"] = spec::to_json(r.spec)["routing"];
    m["step"] = r.steps;
    m["router_tensors"] = rt.empty() ? json(nullptr) : json(peft::kRouters);
    m["sites"] = sites;
    m["combine"] = "y = W x + b + sum over the experts e the router selects of gate_e(x) * scaling * "
                   "lora_B_e(lora_A_e(x)); the router of each site is routing.router with these settings "
                   "(moe-lab's docs/peft.md and docs/methods/<router>.md)";
    write_json(tmp / peft::kMixture, m);
    files.push_back(peft::kMixture);
    return files;
}

// MoE-PEFT (LLaMA only): "<method>.layers.N.<self_attn|mlp>.<proj>.{moe_gate.weight,
// experts.e.lora_{A,B}.weight}", one num_experts for every layer and the same modules in each.
std::vector<std::string> write_moe_peft(const RunOut & r, const fs::path & tmp) {
    const auto & sp = r.spec;
    if (r.family != "llama")
        refuse("--format moe-peft: MoE-PEFT has no GPT-2 models (its bases are LLaMA-family); use --format peft");
    std::string method;
    if (sp.routing.kind == "topk" && sp.routing.renormalize)
        method = "mola"; // softmax, top-k, renormalised
    else if (sp.routing.kind == "soft")
        method = "loramoe"; // a dense softmax over every expert
    else
        refuse("--format moe-peft: router '" + sp.routing.kind +
               (sp.routing.kind == "topk" ? "' without renormalize" : "'") +
               " has no MoE-PEFT counterpart (topk with renormalize is MoLA, soft is LoRAMoE); use --format peft");
    if (r.E < 2)
        refuse("--format moe-peft: a mixture needs at least 2 experts; a single LoRA exports as --format peft");
    if (std::floor(sp.adapters.alpha) != sp.adapters.alpha)
        refuse("--format moe-peft: MoE-PEFT needs an integer lora_alpha, the run has adapters.alpha " +
               std::to_string(sp.adapters.alpha));
    std::map<int, std::set<std::string>> per_layer;
    std::set<std::string> projs;
    std::vector<io::StTensorOut> t;
    for (const auto & s : r.sites) {
        // "model.layers.N.self_attn.q_proj" -> "layers.N.self_attn.q_proj"
        if (s.module.rfind("model.layers.", 0) != 0)
            refuse("--format moe-peft: site '" + s.site + "' (" + s.module +
                   ") is outside the decoder layers; MoE-PEFT "
                   "adapts only their projections");
        const std::string rest = s.module.substr(6);
        const size_t dot = rest.find('.', 7);
        const int layer = std::stoi(rest.substr(7, dot - 7));
        const std::string proj = rest.substr(rest.rfind('.') + 1);
        per_layer[layer].insert(proj);
        projs.insert(proj);
        const auto it = s.router.find("weight");
        if (it == s.router.end() || s.router.size() != 1)
            refuse("--format moe-peft: site '" + s.site + "' does not have exactly one router weight");
        const std::string p = method + "." + rest + ".";
        t.push_back({p + "moe_gate.weight", s.rshape.at("weight"), it->second.data()});
        for (int e = 0; e < r.E; ++e) {
            const std::string ex = p + "experts." + std::to_string(e) + ".";
            t.push_back({ex + "lora_A.weight", {s.R, s.C}, s.a.data() + (size_t)e * s.R * s.C});
            t.push_back({ex + "lora_B.weight", {s.OC, s.R}, s.b.data() + (size_t)e * s.OC * s.R});
        }
    }
    for (int l = 0; l < sp.model.gpt.depth; ++l)
        if (per_layer[l] != projs)
            refuse("--format moe-peft: MoE-PEFT adapts the same projections in every layer; layer " +
                   std::to_string(l) +
                   " has a different set (set adapters.sites to the same modules in each block, or use --format peft)");
    io::write_safetensors((tmp / peft::kWeights).string(), t);
    json c;
    c["base_model_name_or_path"] = sp.base;
    c["task_type"] = "CAUSAL_LM";
    c["bias"] = "none";
    c["peft_type"] = method == "mola" ? "MOLA" : "LORAMOE";
    c["routing_strategy"] = method;
    c["num_experts"] = r.E;
    if (method == "mola") c["top_k"] = sp.routing.k;
    c["r"] = sp.adapters.rank;
    c["lora_alpha"] = (int64_t)sp.adapters.alpha;
    // MoE-PEFT's Lora layer asserts a dropout > 0; dropout does not act at inference
    c["lora_dropout"] = sp.adapters.dropout > 0 ? sp.adapters.dropout : 0.05;
    c["use_rslora"] = sp.adapters.rslora;
    c["target_modules"] = std::vector<std::string>(projs.begin(), projs.end());
    io::write_text_atomic((tmp / peft::kConfig).string(), c.dump(4) + "\n");
    io::write_text_atomic((tmp / "to_moe_peft.py").string(),
                          "# MoE-PEFT reads adapter_model.bin (torch.save), not safetensors: this writes it.\n"
                          "import os, torch\n"
                          "from safetensors.torch import load_file\n"
                          "d = os.path.dirname(os.path.abspath(__file__))\n"
                          "torch.save(load_file(os.path.join(d, \"adapter_model.safetensors\")), "
                          "os.path.join(d, \"adapter_model.bin\"))\n");
    return {peft::kConfig, peft::kWeights, "to_moe_peft.py"};
}

} // namespace

std::vector<std::string> export_peft(const std::string & run_path, const std::string & dir,
                                     const PeftExportOptions & opt) {
    if (opt.format != "peft" && opt.format != "moe-peft")
        refuse("--format: '" + opt.format + "'; expected peft or moe-peft");
    std::vector<std::string> files;
    io::write_directory_atomic(dir, opt.force, [&](const std::string & tmp) {
        const RunOut r = read_run(run_path);
        files = opt.format == "peft" ? write_peft(r, tmp) : write_moe_peft(r, tmp);
    });
    return files;
}

} // namespace moe::train
