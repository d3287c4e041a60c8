// train: PEFT LoRA adapters imported as the experts of a run (see moe/train/peft_import.hpp).
// The files are PEFT's (huggingface/peft@5d602fd src/peft/utils/save_and_load.py): the config's
// peft_type, r, lora_alpha, use_rslora; tensors "base_model.model.<module>.lora_A.weight" (r, in)
// and ".lora_B.weight" (out, r) in adapter_model.safetensors.
#include "moe/train/peft_import.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "moe/core/error.hpp"
#include "moe/io/safetensors.hpp"
#include "moe/models/hf_checkpoint.hpp"
#include "moe/train/peft_layout.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace moe::train {

namespace {

[[noreturn]] void bad(const std::string & msg) { throw Error(ErrorCode::io, msg); }

json read_json(const fs::path & p) {
    std::ifstream f(p);
    if (!f) bad(p.string() + ": cannot be read");
    std::stringstream ss;
    ss << f.rdbuf();
    try {
        return json::parse(ss.str());
    } catch (const json::exception & e) { bad(p.string() + ": malformed JSON (" + std::string(e.what()) + ")"); }
}

struct Lora {
    std::string a, b; // tensor names
    std::vector<int64_t> sa, sb;
};

// One PEFT LoRA adapter directory, checked.
struct Adapter {
    fs::path dir, weights;
    int r = 0;
    double alpha = 8;
    bool rslora = false;
    std::map<std::string, Lora> sites; // site -> its tensors
    double scale() const { return rslora ? alpha / std::sqrt((double)r) : alpha / r; }
};

Adapter read_adapter(const fs::path & dir, const std::string & family) {
    Adapter ad;
    ad.dir = dir;
    const fs::path cf = dir / peft::kConfig;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) bad(dir.string() + ": not a directory (expected a PEFT adapter directory)");
    if (!fs::exists(cf, ec))
        bad(dir.string() + ": no " + peft::kConfig + " (not a PEFT adapter directory, nor one moe-eval export wrote)");
    const json c = read_json(cf);
    const std::string f = cf.string();
    if (!c.is_object()) bad(f + ": expected a JSON object");
    if (!c.contains("peft_type") || c["peft_type"] != "LORA")
        bad(f + ": peft_type is " + (c.contains("peft_type") ? c["peft_type"].dump() : std::string("missing")) +
            ", expected \"LORA\"");
    if (!c.contains("r") || !c["r"].is_number_integer() || c["r"].get<int64_t>() < 1 || c["r"].get<int64_t>() > 65536)
        bad(f + ": r must be an integer in [1, 65536], got " + (c.contains("r") ? c["r"].dump() : std::string("none")));
    ad.r = (int)c["r"].get<int64_t>();
    if (c.contains("lora_alpha") && !c["lora_alpha"].is_null()) {
        if (!c["lora_alpha"].is_number() || !(c["lora_alpha"].get<double>() > 0))
            bad(f + ": lora_alpha must be a number > 0, got " + c["lora_alpha"].dump());
        ad.alpha = c["lora_alpha"].get<double>();
    }
    if (c.contains("use_rslora") && !c["use_rslora"].is_null()) {
        if (!c["use_rslora"].is_boolean()) bad(f + ": use_rslora must be true or false");
        ad.rslora = c["use_rslora"].get<bool>();
    }
    auto refuse_key = [&](const char * key, const std::string & why) {
        if (c.contains(key) && !c[key].is_null() && c[key] != false && c[key] != json::object() && c[key] != "none")
            bad(f + ": " + key + " is " + c[key].dump() + "; " + why);
    };
    refuse_key("use_dora", "DoRA adapters are not LoRA experts moe-lab can hold");
    refuse_key("bias", "adapters that train biases are not supported (bias \"none\" only)");
    refuse_key("rank_pattern", "per-module ranks are not supported");
    refuse_key("alpha_pattern", "per-module alphas are not supported");
    ad.weights = dir / peft::kWeights;
    if (!fs::exists(ad.weights, ec)) {
        if (fs::exists(dir / "adapter_model.bin", ec))
            bad(dir.string() + ": only adapter_model.bin (a torch pickle) is there; moe-lab reads " + peft::kWeights +
                " (python: safetensors.torch.save_file(torch.load(\"adapter_model.bin\"), \"" + peft::kWeights +
                "\", metadata={\"format\": \"pt\"}))");
        bad(dir.string() + ": no " + peft::kWeights);
    }
    const io::SafetensorsFile st = io::SafetensorsFile::open(ad.weights.string());
    const std::string wf = ad.weights.string();
    const std::string pre = peft::kPrefix;
    std::map<std::string, std::string> site_module;
    for (const auto & t : st.tensors()) {
        std::string n = t.name;
        if (n.rfind(pre, 0) == 0) n = n.substr(pre.size());
        bool is_a = false;
        const std::string ea = ".lora_A.weight", eb = ".lora_B.weight";
        if (n.size() > ea.size() && n.compare(n.size() - ea.size(), ea.size(), ea) == 0)
            is_a = true;
        else if (!(n.size() > eb.size() && n.compare(n.size() - eb.size(), eb.size(), eb) == 0))
            bad(wf + ": tensor '" + t.name + "' is not a LoRA factor (<module>.lora_A.weight or .lora_B.weight)");
        const std::string module = n.substr(0, n.size() - ea.size());
        const std::string site = models::site_of_hf_module(family, module);
        if (site.empty())
            bad(wf + ": tensor '" + t.name + "': '" + module + "' is not a Linear module of the " +
                (family == "gpt2" ? std::string("GPT-2") : std::string("LLaMA")) + " model");
        if (t.shape.size() != 2) bad(wf + ": tensor '" + t.name + "' is not a matrix");
        Lora & l = ad.sites[site];
        if (is_a) {
            l.a = t.name;
            l.sa = t.shape;
            if (t.shape[0] != ad.r)
                bad(wf + ": tensor '" + t.name + "' has " + std::to_string(t.shape[0]) + " rows, but r is " +
                    std::to_string(ad.r) + " in " + f);
        } else {
            l.b = t.name;
            l.sb = t.shape;
            if (t.shape[1] != ad.r)
                bad(wf + ": tensor '" + t.name + "' has " + std::to_string(t.shape[1]) + " columns, but r is " +
                    std::to_string(ad.r) + " in " + f);
        }
    }
    if (ad.sites.empty()) bad(wf + ": no LoRA tensors");
    for (const auto & [site, l] : ad.sites)
        if (l.a.empty() || l.b.empty())
            bad(wf + ": site '" + site + "' (module " + models::hf_module_of_site(family, site) + ") has only its " +
                (l.a.empty() ? "lora_B" : "lora_A") + " tensor");
    return ad;
}

struct Import {
    std::vector<Adapter> adapters;
    json mixture; // moe_lab_mixture.json of an exported mixture (null: plain adapters)
    fs::path mixture_dir;
    std::set<std::string> sites;
    bool uniform = true; // one r, alpha and rslora: copied as they are
};

Import read_import(const spec::Spec & s) {
    std::string why;
    const std::string family = models::hf_family_of(s.model.gpt, &why);
    if (family.empty())
        throw SpecError("", {{"adapters.peft", "PEFT adapters name Hugging Face modules, but this gpt model has "
                                               "neither GPT-2's nor LLaMA's layout (" +
                                                   why + ")"}});
    Import im;
    std::error_code ec;
    for (size_t i = 0; i < s.adapters.peft.size(); ++i) {
        const fs::path d = s.adapters.peft[i];
        if (fs::exists(d / peft::kMixture, ec)) {
            if (s.adapters.peft.size() != 1)
                throw SpecError("", {{"adapters.peft[" + std::to_string(i) + "]",
                                      "'" + d.string() + "' is a mixture moe-eval export wrote; import it alone"}});
            im.mixture = read_json(d / peft::kMixture);
            im.mixture_dir = d;
            const std::string mf = (d / peft::kMixture).string();
            const json & m = im.mixture;
            if (!m.is_object() || m.value("version", 0) != peft::kMixtureVersion)
                bad(mf + ": expected version " + std::to_string(peft::kMixtureVersion) + " of moe-lab's mixture file");
            if (m.value("family", std::string()) != family)
                bad(mf + ": the mixture was exported from a " + m.value("family", std::string("?")) +
                    " model, this run's model is " + family);
            if (!m.contains("expert_dirs") || !m["expert_dirs"].is_array() || m["expert_dirs"].empty())
                bad(mf + ": expert_dirs must be a non-empty list");
            for (const auto & e : m["expert_dirs"]) {
                if (!e.is_string() || e.get<std::string>().find("..") != std::string::npos)
                    bad(mf + ": expert_dirs holds " + e.dump() + ", expected a directory name inside " + d.string());
                im.adapters.push_back(read_adapter(d / e.get<std::string>(), family));
            }
            if (!m.contains("routing") || !m["routing"].is_object()) bad(mf + ": no routing object");
        } else {
            im.adapters.push_back(read_adapter(d, family));
        }
    }
    for (const auto & a : im.adapters) {
        for (const auto & [site, l] : a.sites) im.sites.insert(site);
        const Adapter & f = im.adapters.front();
        im.uniform &= a.r == f.r && a.alpha == f.alpha && a.rslora == f.rslora;
    }
    return im;
}

} // namespace

spec::Spec with_peft_adapters(const spec::Spec & s) {
    if (s.adapters.peft.empty()) return s;
    // (checked here, not by the spec's validation: a run file's spec, read back without its base, keeps the list)
    if (s.base.empty())
        throw SpecError("", {{"adapters.peft", "imported adapters need their base: set \"base\" to the Hugging Face "
                                               "model directory (or a moe-train run of the same gpt model)"}});
    const Import im = read_import(s);
    json j = spec::to_json(s);
    const json dflt = spec::to_json(spec::Spec{});
    std::vector<SpecProblem> problems;
    auto set = [&](const std::string & sec, const std::string & key, const json & v, const std::string & from) {
        const json & given = j[sec][key];
        if (given != dflt[sec][key] && given != v)
            problems.push_back({sec + "." + key, given.dump() + ", but " + from + " " + v.dump() +
                                                     " (leave it out: it comes from the adapters)"});
        j[sec][key] = v;
    };
    const std::string from =
        im.mixture.is_null() ? std::string("the adapters of adapters.peft give") : im.mixture_dir.string() + " gives";
    int R = 0;
    for (const auto & a : im.adapters) R = std::max(R, a.r);
    set("adapters", "sites", std::vector<std::string>(im.sites.begin(), im.sites.end()), from);
    set("adapters", "experts", (int)im.adapters.size(), from);
    set("adapters", "kind", "lora", from);
    set("adapters", "rank", R, from);
    const Adapter & f = im.adapters.front();
    set("adapters", "alpha", im.uniform ? f.alpha : (double)R, from);
    set("adapters", "rslora", im.uniform ? f.rslora : false, from);
    // one plain adapter: a single expert, which no router chooses (unless the spec names one)
    if (im.mixture.is_null() && im.adapters.size() == 1 && j["routing"]["router"] == dflt["routing"]["router"])
        j["routing"]["router"] = "none";
    if (!im.mixture.is_null())
        for (const auto & [key, v] : im.mixture["routing"].items()) {
            if (!j["routing"].contains(key))
                bad((im.mixture_dir / peft::kMixture).string() + ": unknown routing key '" + key + "'");
            set("routing", key, v, from);
        }
    if (!problems.empty()) throw SpecError("", problems);
    return spec::parse_spec(j, "the spec with the adapters of adapters.peft");
}

void load_peft_adapters(ParamStore<float> & store, const spec::Spec & s) {
    if (s.adapters.peft.empty()) return;
    const Import im = read_import(s);
    const int E = (int)im.adapters.size(), R = s.adapters.rank;
    const double run_scale = s.adapters.rslora ? s.adapters.alpha / std::sqrt((double)R) : s.adapters.alpha / R;
    for (const auto & site : im.sites) {
        const int ia = store.find(site + ".experts.lora_a"), ib = store.find(site + ".experts.lora_b");
        if (ia < 0 || ib < 0) bad("adapters.peft: the model has no LoRA experts at site '" + site + "'");
        const auto & sa = store.info(ia).shape; // (E, R, C)
        const auto & sb = store.info(ib).shape; // (E, OC, R)
        MOE_ASSERT(sa.size() == 3 && sb.size() == 3 && sa[0] == E && sa[1] == R && sb[2] == R);
        const int64_t C = sa[2], OC = sb[1];
        float * A = store.value(ia);
        float * B = store.value(ib);
        std::fill(A, A + store.info(ia).size, 0.f);
        std::fill(B, B + store.info(ib).size, 0.f);
        for (int e = 0; e < E; ++e) {
            const Adapter & ad = im.adapters[e];
            const auto it = ad.sites.find(site);
            if (it == ad.sites.end()) continue; // a zero expert: this adapter leaves the site alone
            const Lora & l = it->second;
            const std::string wf = ad.weights.string();
            if (l.sa[1] != C)
                bad(wf + ": tensor '" + l.a + "' has " + std::to_string(l.sa[1]) + " columns, but site '" + site +
                    "' takes " + std::to_string(C) + " inputs");
            if (l.sb[0] != OC)
                bad(wf + ": tensor '" + l.b + "' has " + std::to_string(l.sb[0]) + " rows, but site '" + site +
                    "' has " + std::to_string(OC) + " outputs");
            const io::SafetensorsFile st = io::SafetensorsFile::open(wf);
            const std::vector<float> a = st.read_f32(l.a), b = st.read_f32(l.b);
            for (float v : a)
                if (!std::isfinite(v)) bad(wf + ": tensor '" + l.a + "' holds a non-finite value");
            for (float v : b)
                if (!std::isfinite(v)) bad(wf + ": tensor '" + l.b + "' holds a non-finite value");
            const int r = ad.r;
            // the adapter's own scale in its B when the adapters differ (the run's scale is then 1)
            const float fold = im.uniform ? 1.f : (float)(ad.scale() / run_scale);
            std::copy(a.begin(), a.end(), A + (size_t)e * R * C); // rows r.. stay zero
            for (int64_t o = 0; o < OC; ++o)
                for (int q = 0; q < r; ++q) B[((size_t)e * OC + o) * R + q] = b[(size_t)o * r + q] * fold;
        }
    }
    if (im.mixture.is_null()) return;
    // an exported mixture's routers
    const fs::path rf = im.mixture_dir / peft::kRouters;
    const json & m = im.mixture;
    if (!m.contains("sites") || !m["sites"].is_array())
        bad((im.mixture_dir / peft::kMixture).string() + ": no sites list");
    std::error_code ec;
    if (m.value("router_tensors", json(nullptr)).is_null()) return;
    if (!fs::exists(rf, ec)) bad(im.mixture_dir.string() + ": no " + peft::kRouters);
    const io::SafetensorsFile st = io::SafetensorsFile::open(rf.string());
    for (const auto & js : m["sites"]) {
        const std::string site = js.value("site", std::string());
        if (!js.contains("router") || !js["router"].is_object()) continue;
        for (const auto & [name, key] : js["router"].items()) {
            const int id = store.find(site + ".router." + name);
            if (id < 0) bad(rf.string() + ": the model has no router tensor '" + site + ".router." + name + "'");
            if (!key.is_string())
                bad((im.mixture_dir / peft::kMixture).string() + ": a router tensor name is not a string");
            const io::StTensorInfo * t = st.find(key.get<std::string>());
            if (!t) bad(rf.string() + ": no tensor '" + key.get<std::string>() + "'");
            if (t->shape != store.info(id).shape)
                bad(rf.string() + ": tensor '" + t->name + "' does not have the shape of " + site + ".router." + name);
            st.read_f32(*t, store.value(id));
        }
    }
}

} // namespace moe::train
