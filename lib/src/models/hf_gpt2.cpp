// hf_gpt2.cpp — GPT-2's Hugging Face names and config.json mapped onto the gpt family
// (moe/models/hf_gpt2.hpp). The names follow transformers' GPT2Model (wte, wpe, h.N.{ln_1, attn.
// c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj}, ln_f); Conv1D stores its weight (in, out)
// and computes x W + b, so those four weights are transposed into our (out, in) Linear, as
// karpathy/llm.c's train_gpt2.py does when it loads them.
#include "moe/models/hf_gpt2.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "moe/core/error.hpp"

namespace moe::models {

namespace {

[[noreturn]] void fail(const std::string & msg) { throw Error(ErrorCode::io, msg); }

std::string shape_str(const std::vector<int64_t> & s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
}

struct Target {
    std::string param;
    bool transpose = false;
};

// The parameter a (prefix-stripped) GPT-2 name fills; nullopt for a name GPT-2 does not have.
std::optional<Target> target_of(const std::string & n, bool tie_head) {
    static const std::map<std::string, std::string> top = {
        {"wte.weight", "tok_emb.weight"}, {"wpe.weight", "pos_emb.weight"},
        {"ln_f.weight", "norm.weight"},   {"ln_f.bias", "norm.bias"},
    };
    if (auto it = top.find(n); it != top.end()) return Target{it->second, false};
    if (n == "lm_head.weight" && !tie_head) return Target{"head.weight", false}; // nn.Linear: (out, in)
    if (n.rfind("h.", 0) != 0) return std::nullopt;
    const size_t dot = n.find('.', 2);
    if (dot == std::string::npos || dot == 2) return std::nullopt;
    const std::string num = n.substr(2, dot - 2);
    if (num.find_first_not_of("0123456789") != std::string::npos || (num.size() > 1 && num[0] == '0'))
        return std::nullopt;
    static const std::map<std::string, Target> block = {
        {"ln_1.weight", {"ln1.weight", false}},
        {"ln_1.bias", {"ln1.bias", false}},
        {"attn.c_attn.weight", {"attn.qkv.weight", true}},
        {"attn.c_attn.bias", {"attn.qkv.bias", false}},
        {"attn.c_proj.weight", {"attn.proj.weight", true}},
        {"attn.c_proj.bias", {"attn.proj.bias", false}},
        {"ln_2.weight", {"ln2.weight", false}},
        {"ln_2.bias", {"ln2.bias", false}},
        {"mlp.c_fc.weight", {"mlp.fc1.weight", true}},
        {"mlp.c_fc.bias", {"mlp.fc1.bias", false}},
        {"mlp.c_proj.weight", {"mlp.fc2.weight", true}},
        {"mlp.c_proj.bias", {"mlp.fc2.bias", false}},
    };
    auto it = block.find(n.substr(dot + 1));
    if (it == block.end()) return std::nullopt;
    return Target{"blocks." + num + "." + it->second.param, it->second.transpose};
}

// The GPT-2 name of a gpt parameter (for the message of a missing tensor).
std::string hf_name_of(const std::string & param) {
    static const std::map<std::string, std::string> top = {
        {"tok_emb.weight", "wte.weight"}, {"pos_emb.weight", "wpe.weight"}, {"norm.weight", "ln_f.weight"},
        {"norm.bias", "ln_f.bias"},       {"head.weight", "lm_head.weight"},
    };
    if (auto it = top.find(param); it != top.end()) return it->second;
    static const std::map<std::string, std::string> block = {
        {"ln1", "ln_1"},       {"ln2", "ln_2"},          {"attn.qkv", "attn.c_attn"},
        {"attn.proj", "attn.c_proj"}, {"mlp.fc1", "mlp.c_fc"}, {"mlp.fc2", "mlp.c_proj"},
    };
    if (param.rfind("blocks.", 0) == 0) {
        const size_t dot = param.find('.', 7), last = param.rfind('.');
        if (dot != std::string::npos && last > dot)
            if (auto it = block.find(param.substr(dot + 1, last - dot - 1)); it != block.end())
                return "h." + param.substr(7, dot - 7) + "." + it->second + param.substr(last);
    }
    return "";
}

bool is_buffer(const std::string & n, bool tie_head) {
    if (n == "lm_head.weight") return tie_head;
    auto ends = [&](const std::string & s) { return n.size() > s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0; };
    return n.rfind("h.", 0) == 0 && (ends(".attn.bias") || ends(".attn.masked_bias"));
}

int int_key(const nlohmann::json & c, const std::string & file, const char * key, int lo, bool required,
            int dflt = 0) {
    if (!c.contains(key)) {
        if (required) fail(file + ": no '" + key + "' (expected an integer >= " + std::to_string(lo) + ")");
        return dflt;
    }
    const auto & v = c[key];
    if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > (1 << 30))
        fail(file + ": '" + key + "' is " + v.dump() + ", expected an integer >= " + std::to_string(lo));
    return int(v.get<int64_t>());
}

} // namespace

GptConfig gpt2_config_from_hf(const nlohmann::json & c, const std::string & file, int & vocab) {
    if (!c.is_object()) fail(file + ": expected a JSON object (a Hugging Face config.json)");
    if (!c.contains("model_type") || c["model_type"] != "gpt2")
        fail(file + ": model_type is " + (c.contains("model_type") ? c["model_type"].dump() : std::string("missing")) +
             ", expected \"gpt2\"");
    GptConfig g;
    vocab = int_key(c, file, "vocab_size", 1, true);
    g.context = c.contains("n_positions") ? int_key(c, file, "n_positions", 1, true)
                                          : int_key(c, file, "n_ctx", 1, true);
    g.width = int_key(c, file, "n_embd", 1, true);
    g.depth = int_key(c, file, "n_layer", 1, true);
    g.heads = int_key(c, file, "n_head", 1, true);
    if (g.width % g.heads != 0)
        fail(file + ": n_embd " + std::to_string(g.width) + " is not a multiple of n_head " + std::to_string(g.heads));
    g.kv_heads = 0;
    g.mlp_dim = c.contains("n_inner") && !c["n_inner"].is_null() ? int_key(c, file, "n_inner", 1, true) : 0;
    g.norm = "layernorm";
    if (c.contains("layer_norm_epsilon")) {
        if (!c["layer_norm_epsilon"].is_number() || !(c["layer_norm_epsilon"].get<double>() > 0))
            fail(file + ": 'layer_norm_epsilon' is " + c["layer_norm_epsilon"].dump() + ", expected a number > 0");
        g.norm_eps = c["layer_norm_epsilon"].get<double>();
    }
    g.positions = "learned";
    const std::string act =
        c.contains("activation_function") && c["activation_function"].is_string() ? c["activation_function"].get<std::string>()
                                                                                   : std::string("gelu_new");
    if (act == "gelu_new" || act == "gelu_pytorch_tanh")
        g.mlp = "gelu_tanh";
    else if (act == "gelu")
        g.mlp = "gelu";
    else
        fail(file + ": activation_function '" + act + "' is not supported (expected gelu_new, gelu_pytorch_tanh or gelu)");
    g.bias = true;
    g.tie_head = true;
    if (c.contains("tie_word_embeddings")) {
        if (!c["tie_word_embeddings"].is_boolean())
            fail(file + ": 'tie_word_embeddings' is " + c["tie_word_embeddings"].dump() + ", expected true or false");
        g.tie_head = c["tie_word_embeddings"].get<bool>();
    }
    g.qkv = "fused";
    return g;
}

Gpt2Plan plan_gpt2_import(const std::vector<NamedShape> & tensors, const std::vector<NamedShape> & params,
                          bool tie_head, const std::string & file) {
    std::vector<std::string> problems;
    std::map<std::string, const NamedShape *> by_param; // param -> tensor
    std::map<std::string, bool> transposed;
    std::map<std::string, std::string> stripped_from; // stripped name -> stored name
    std::map<std::string, const NamedShape *> param_shape;
    for (const auto & p : params) param_shape[p.name] = &p;
    Gpt2Plan plan;
    for (const auto & t : tensors) {
        std::string n = t.name;
        if (n.rfind("transformer.", 0) == 0) n = n.substr(12);
        if (auto [it, fresh] = stripped_from.emplace(n, t.name); !fresh) {
            problems.push_back("'" + t.name + "' and '" + it->second + "' are the same tensor (with and without the "
                               "'transformer.' prefix)");
            continue;
        }
        if (is_buffer(n, tie_head)) {
            plan.skipped.push_back(t.name);
            continue;
        }
        const auto tg = target_of(n, tie_head);
        if (!tg) {
            problems.push_back("'" + t.name + "' is not a GPT-2 tensor this model has (no parameter to fill)");
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
                             [&](const std::string & s) { return s.find("'" + p.name + "'") != std::string::npos; }))
            {
                const std::string hf = hf_name_of(p.name);
                problems.push_back("parameter '" + p.name + "' " + shape_str(p.shape) + ": no tensor for it" +
                                   (hf.empty() ? std::string(" (GPT-2 has none)") : " (expected '" + hf + "')"));
            }
            continue;
        }
        plan.imports.push_back({it->second->name, p.name, transposed[p.name], it->second->shape});
    }
    if (!problems.empty()) {
        std::string m = file + ": cannot map the GPT-2 checkpoint onto the gpt model (" +
                        std::to_string(problems.size()) + (problems.size() == 1 ? " problem):" : " problems):");
        for (const auto & p : problems) m += "\n  " + p;
        fail(m);
    }
    std::sort(plan.skipped.begin(), plan.skipped.end());
    return plan;
}

} // namespace moe::models
