// hf_checkpoint.cpp — config.json to a gpt model by model_type, and the checkpoint-to-parameter
// plan both families share (moe/models/hf_checkpoint.hpp); the families' names are in
// hf_gpt2.cpp and hf_llama.cpp.
#include "moe/models/hf_checkpoint.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "hf_internal.hpp"
#include "moe/core/error.hpp"

namespace moe::models {

namespace hf {

void fail(const std::string & msg) { throw Error(ErrorCode::io, msg); }

std::string shape_str(const std::vector<int64_t> & s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
}

bool split_block(const std::string & n, const std::string & prefix, std::string & num, std::string & rest) {
    if (n.rfind(prefix, 0) != 0) return false;
    const size_t b = prefix.size(), dot = n.find('.', b);
    if (dot == std::string::npos || dot == b) return false;
    num = n.substr(b, dot - b);
    if (num.find_first_not_of("0123456789") != std::string::npos || (num.size() > 1 && num[0] == '0')) return false;
    rest = n.substr(dot + 1);
    return true;
}

int int_key(const nlohmann::json & c, const std::string & file, const char * key, int lo, bool required, int dflt,
            bool null_ok) {
    if (!c.contains(key) || (null_ok && c[key].is_null())) {
        if (required) fail(file + ": no '" + key + "' (expected an integer >= " + std::to_string(lo) + ")");
        return dflt;
    }
    const auto & v = c[key];
    if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > (1 << 30))
        fail(file + ": '" + key + "' is " + v.dump() + ", expected an integer >= " + std::to_string(lo));
    return int(v.get<int64_t>());
}

double positive_key(const nlohmann::json & c, const std::string & file, const char * key, double dflt) {
    if (!c.contains(key)) return dflt;
    const auto & v = c[key];
    if (!v.is_number() || !(v.get<double>() > 0) || !std::isfinite(v.get<double>()))
        fail(file + ": '" + key + "' is " + v.dump() + ", expected a number > 0");
    return v.get<double>();
}

bool bool_key(const nlohmann::json & c, const std::string & file, const char * key, bool dflt) {
    if (!c.contains(key)) return dflt;
    if (!c[key].is_boolean()) fail(file + ": '" + key + "' is " + c[key].dump() + ", expected true or false");
    return c[key].get<bool>();
}

std::string string_key(const nlohmann::json & c, const std::string & file, const char * key, const std::string & dflt) {
    if (!c.contains(key)) return dflt;
    if (!c[key].is_string()) fail(file + ": '" + key + "' is " + c[key].dump() + ", expected a string");
    return c[key].get<std::string>();
}

} // namespace hf

namespace {

// The parameter a (prefix-stripped) checkpoint name fills; nullopt for a name the family lacks.
std::optional<hf::Target> target_of(const hf::Naming & nm, const std::string & s, bool tie_head) {
    if (auto it = nm.top.find(s); it != nm.top.end()) return hf::Target{it->second, false};
    if (s == "lm_head.weight" && !tie_head) return hf::Target{"head.weight", false}; // nn.Linear: (out, in)
    std::string num, rest;
    if (!hf::split_block(s, nm.block_prefix, num, rest)) return std::nullopt;
    auto it = nm.blocks.find(rest);
    if (it == nm.blocks.end()) return std::nullopt;
    return hf::Target{"blocks." + num + "." + it->second.param, it->second.transpose};
}

// The checkpoint name of a parameter (for the message of a missing tensor); "" when none.
std::string name_of(const hf::Naming & nm, const std::string & p) {
    if (p == "head.weight") return "lm_head.weight";
    for (const auto & [k, v] : nm.top)
        if (v == p) return k;
    std::string num, rest;
    if (hf::split_block(p, "blocks.", num, rest))
        for (const auto & [k, v] : nm.blocks)
            if (v.param == rest) return nm.block_prefix + num + "." + k;
    return "";
}

bool is_buffer(const hf::Naming & nm, const std::string & s, bool tie_head) {
    if (s == "lm_head.weight") return tie_head;
    if (nm.top_buffers.count(s)) return true;
    std::string num, rest;
    return hf::split_block(s, nm.block_prefix, num, rest) && nm.block_buffers.count(rest) > 0;
}

} // namespace

HfModel hf_model_from_config(const nlohmann::json & c, const std::string & file) {
    if (!c.is_object()) hf::fail(file + ": expected a JSON object (a Hugging Face config.json)");
    const std::string type =
        c.contains("model_type") && c["model_type"].is_string() ? c["model_type"].get<std::string>() : std::string();
    if (type == "gpt2") return hf::gpt2_model(c, file);
    if (type == "llama") return hf::llama_model(c, file);
    hf::fail(file + ": model_type is " + (c.contains("model_type") ? c["model_type"].dump() : std::string("missing")) +
             ", expected \"gpt2\" (GPT2LMHeadModel) or \"llama\" (LlamaForCausalLM)");
}

HfPlan plan_hf_import(const HfModel & model, const std::vector<NamedShape> & tensors,
                      const std::vector<NamedShape> & params, const std::string & file,
                      const std::string & config) {
    using hf::shape_str;
    const hf::Naming & nm = model.family == "gpt2" ? hf::gpt2_naming() : hf::llama_naming();
    const bool tie = model.cfg.tie_head;
    std::vector<std::string> problems;
    std::map<std::string, const NamedShape *> by_param; // param -> tensor
    std::map<std::string, bool> transposed;
    std::map<std::string, std::string> stripped_from; // stripped name -> stored name
    std::map<std::string, const NamedShape *> param_shape;
    for (const auto & p : params) param_shape[p.name] = &p;
    HfPlan plan;
    for (const auto & t : tensors) {
        std::string n = t.name;
        if (!nm.strip.empty() && n.rfind(nm.strip, 0) == 0) n = n.substr(nm.strip.size());
        if (auto [it, fresh] = stripped_from.emplace(n, t.name); !fresh) {
            problems.push_back("'" + t.name + "' and '" + it->second + "' are the same tensor (with and without the '" +
                               nm.strip + "' prefix)");
            continue;
        }
        if (is_buffer(nm, n, tie)) {
            plan.skipped.push_back(t.name);
            continue;
        }
        const auto tg = target_of(nm, n, tie);
        if (!tg) {
            problems.push_back("'" + t.name + "' is not a " + nm.title +
                               " tensor this model has (no parameter to fill)");
            continue;
        }
        auto ps = param_shape.find(tg->param);
        if (ps == param_shape.end()) {
            problems.push_back("'" + t.name + "' would fill '" + tg->param + "', which the model does not have");
            continue;
        }
        std::vector<int64_t> want = ps->second->shape;
        if (tg->transpose) std::reverse(want.begin(), want.end());
        if (t.shape != want) {
            problems.push_back("'" + t.name + "' has shape " + shape_str(t.shape) + ", but '" + tg->param + "' " +
                               shape_str(ps->second->shape) + " needs " + shape_str(want) +
                               (tg->transpose ? " (a Conv1D weight, stored (in, out))" : ""));
            continue;
        }
        by_param[tg->param] = &t;
        transposed[tg->param] = tg->transpose;
    }
    for (const auto & p : params) {
        auto it = by_param.find(p.name);
        if (it == by_param.end()) {
            if (std::none_of(problems.begin(), problems.end(),
                             [&](const std::string & s) { return s.find("'" + p.name + "'") != std::string::npos; })) {
                const std::string name = name_of(nm, p.name);
                problems.push_back("parameter '" + p.name + "' " + shape_str(p.shape) + ": no tensor for it" +
                                   (name.empty() ? " (" + nm.title + " has none)" : " (expected '" + name + "')"));
            }
            continue;
        }
        plan.imports.push_back({it->second->name, p.name, transposed[p.name], it->second->shape});
    }
    if (!problems.empty()) {
        std::string m = file + ": cannot map the " + nm.title + " checkpoint onto the gpt model" +
                        (config.empty() ? std::string() : " that " + config + " describes") + " (" +
                        std::to_string(problems.size()) + (problems.size() == 1 ? " problem):" : " problems):");
        for (const auto & p : problems) m += "\n  " + p;
        hf::fail(m);
    }
    std::sort(plan.skipped.begin(), plan.skipped.end());
    return plan;
}

std::string hf_family_of(const GptConfig & g, std::string * why) {
    struct Want {
        const char * key;
        std::string gpt2, llama, got;
    };
    const Want keys[] = {{"norm", "layernorm", "rmsnorm", g.norm},
                         {"positions", "learned", "rope", g.positions},
                         {"qkv", "fused", "split", g.qkv},
                         {"mlp", "gelu_tanh|gelu", "swiglu", g.mlp},
                         {"bias", "true", "false", g.bias ? "true" : "false"}};
    auto fits = [&](bool gpt2) {
        for (const auto & k : keys) {
            const std::string & w = gpt2 ? k.gpt2 : k.llama;
            if (("|" + w + "|").find("|" + k.got + "|") == std::string::npos) {
                if (why)
                    *why = std::string("model.gpt.") + k.key + " is '" + k.got + "' (GPT-2 has '" + k.gpt2 +
                           "', LLaMA '" + k.llama + "')";
                return false;
            }
        }
        return true;
    };
    std::string first;
    if (fits(true)) return "gpt2";
    if (why) first = *why;
    if (fits(false)) return "llama";
    if (why && g.norm == "layernorm") *why = first; // closer to GPT-2: name its difference
    return "";
}

std::string hf_module_of_site(const std::string & family, const std::string & site, bool * conv1d) {
    if (conv1d) *conv1d = false;
    if (family != "gpt2" && family != "llama") return "";
    if (site == "head") return "lm_head";
    const hf::Naming & nm = family == "gpt2" ? hf::gpt2_naming() : hf::llama_naming();
    std::string num, rest;
    // (the Linear sites of a block are its attn.* and mlp.* weights; norms have weights too)
    if (!hf::split_block(site, "blocks.", num, rest) || (rest.rfind("attn.", 0) != 0 && rest.rfind("mlp.", 0) != 0))
        return "";
    for (const auto & [k, v] : nm.blocks)
        if (v.param == rest + ".weight" && k.size() > 7 && k.compare(k.size() - 7, 7, ".weight") == 0) {
            if (conv1d) *conv1d = v.transpose;
            return nm.strip + nm.block_prefix + num + "." + k.substr(0, k.size() - 7);
        }
    return "";
}

std::string site_of_hf_module(const std::string & family, const std::string & module) {
    if (family != "gpt2" && family != "llama") return "";
    if (module == "lm_head") return "head";
    const hf::Naming & nm = family == "gpt2" ? hf::gpt2_naming() : hf::llama_naming();
    std::string m = module;
    if (!nm.strip.empty() && m.rfind(nm.strip, 0) == 0) m = m.substr(nm.strip.size());
    std::string num, rest;
    if (!hf::split_block(m, nm.block_prefix, num, rest)) return "";
    auto it = nm.blocks.find(rest + ".weight");
    if (it == nm.blocks.end() || it->second.param.size() <= 7) return "";
    const std::string & p = it->second.param;
    if (p.compare(p.size() - 7, 7, ".weight") != 0) return "";
    const std::string site = "blocks." + num + "." + p.substr(0, p.size() - 7);
    return hf_module_of_site(family, site) == module ? site : "";
}

std::string hf_name_of_param(const std::string & family, const std::string & param, bool * transpose) {
    if (transpose) *transpose = false;
    if (family != "gpt2" && family != "llama") return "";
    const hf::Naming & nm = family == "gpt2" ? hf::gpt2_naming() : hf::llama_naming();
    std::string num, rest;
    if (transpose && hf::split_block(param, "blocks.", num, rest))
        for (const auto & [k, v] : nm.blocks)
            if (v.param == rest) *transpose = v.transpose;
    return name_of(nm, param);
}

nlohmann::json hf_config_of(const std::string & family, const GptConfig & g, int vocab, int positions, int mlp_dim) {
    nlohmann::json c;
    if (family == "gpt2") {
        c["architectures"] = {"GPT2LMHeadModel"};
        c["model_type"] = "gpt2";
        c["vocab_size"] = vocab;
        c["n_positions"] = positions;
        c["n_ctx"] = positions;
        c["n_embd"] = g.width;
        c["n_layer"] = g.depth;
        c["n_head"] = g.heads;
        c["n_inner"] = mlp_dim;
        c["activation_function"] = g.mlp == "gelu" ? "gelu" : "gelu_new";
        c["layer_norm_epsilon"] = g.norm_eps;
        c["initializer_range"] = g.init_std;
        c["tie_word_embeddings"] = g.tie_head;
        return c;
    }
    MOE_CHECK(family == "llama", ErrorCode::internal, "hf_config_of: family '" + family + "'");
    c["architectures"] = {"LlamaForCausalLM"};
    c["model_type"] = "llama";
    c["vocab_size"] = vocab;
    c["hidden_size"] = g.width;
    c["intermediate_size"] = mlp_dim;
    c["num_hidden_layers"] = g.depth;
    c["num_attention_heads"] = g.heads;
    c["num_key_value_heads"] = g.kv_heads > 0 ? g.kv_heads : g.heads;
    c["head_dim"] = g.width / g.heads;
    c["max_position_embeddings"] = positions;
    c["rms_norm_eps"] = g.norm_eps;
    c["rope_theta"] = g.rope_theta;
    c["rope_scaling"] = nullptr;
    c["hidden_act"] = "silu";
    c["attention_bias"] = false;
    c["mlp_bias"] = false;
    c["initializer_range"] = g.init_std;
    c["tie_word_embeddings"] = g.tie_head;
    return c;
}

} // namespace moe::models
