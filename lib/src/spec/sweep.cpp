// spec: sweep files expanded into runs (moe/spec/sweep.hpp, docs/sweeps.md).
#include "moe/spec/sweep.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "moe/spec/spec.hpp"

namespace moe::spec {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json; // the grid expands in the order the file writes its keys

namespace {

// A value as it appears in a run name: strings as they are, a list of scalars joined by 'x'
// ([32, 32] -> 32x32), anything else as compact JSON.
std::string name_text(const ojson & v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_array() && !v.empty()) {
        std::string out;
        for (const auto & e : v) {
            if (e.is_structured()) return v.dump();
            out += (out.empty() ? "" : "x") + (e.is_string() ? e.get<std::string>() : e.dump());
        }
        return out;
    }
    return v.dump();
}

// Keeps [A-Za-z0-9._+=-]; anything else (a '/', a space, a quote) becomes '_'.
std::string safe_name(const std::string & s) {
    std::string out;
    for (char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '_' || c == '+' || c == '=' || c == '-';
        out += ok ? c : '_';
    }
    return out;
}

// The last component of a dotted key: "train.lr" -> "lr".
std::string leaf(const std::string & key) {
    const auto dot = key.rfind('.');
    return dot == std::string::npos ? key : key.substr(dot + 1);
}

struct Parsed {
    std::vector<SpecProblem> problems;
    void add(std::string path, std::string msg) { problems.push_back({std::move(path), std::move(msg)}); }
};

// "set" objects: key -> value, keys non-empty.
std::vector<std::pair<std::string, ojson>> read_set(const ojson & j, const std::string & where, Parsed & p) {
    std::vector<std::pair<std::string, ojson>> out;
    if (!j.is_object()) {
        p.add(where, "must be an object of spec key -> value, e.g. {\"train.lr\": 0.001}");
        return out;
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
        if (it.key().empty() || it.key().find('=') != std::string::npos)
            p.add(where + "." + it.key(), "a spec key must be non-empty and contain no '='");
        else
            out.emplace_back(it.key(), it.value());
    }
    return out;
}

struct Base { // one entry of runs[] (or the implicit single one)
    std::string name, spec, where;
    std::vector<std::pair<std::string, ojson>> set;
};

// Replaces {key} in the naming rule; unknown keys are problems.
std::string apply_rule(const std::string & rule, const std::map<std::string, std::string> & values, Parsed & p,
                       std::set<std::string> & reported, const std::string & where = "run_name") {
    std::string out;
    for (size_t i = 0; i < rule.size(); ++i) {
        if (rule[i] != '{') {
            out += rule[i];
            continue;
        }
        const auto end = rule.find('}', i);
        if (end == std::string::npos) {
            if (reported.insert(where + "{").second) p.add(where, "an unclosed '{' in '" + rule + "'");
            return out;
        }
        const std::string key = rule.substr(i + 1, end - i - 1);
        const auto it = values.find(key);
        if (it == values.end()) {
            if (reported.insert(where + key).second)
                p.add(where, "'{" + key + "}' names nothing a run has (name, seed, run, or a key of set or grid)");
        } else
            out += it->second;
        i = end;
    }
    return out;
}

} // namespace

Sweep parse_sweep(const std::string & text, const std::string & source, const std::string & out_dir) {
    // duplicate keys are errors (as in a spec), each with its path (object keys joined by '.')
    struct Frame {
        std::string key;
        std::set<std::string> keys;
    };
    std::vector<Frame> stack;
    Parsed p;
    const ojson::parser_callback_t cb = [&](int, ojson::parse_event_t ev, ojson & parsed) {
        if (ev == ojson::parse_event_t::object_start) stack.push_back({});
        if (ev == ojson::parse_event_t::object_end && !stack.empty()) stack.pop_back();
        if (ev == ojson::parse_event_t::key && !stack.empty()) {
            stack.back().key = parsed.get<std::string>();
            if (!stack.back().keys.insert(stack.back().key).second) {
                std::string where;
                for (const Frame & f : stack) where += (where.empty() ? "" : ".") + f.key;
                p.add(where, "duplicate key (it appears more than once in its object)");
            }
        }
        return true;
    };
    ojson j;
    try {
        j = ojson::parse(text, cb);
    } catch (const ojson::parse_error & e) {
        throw SpecError(source, {{"", std::string("not valid JSON: ") + e.what()}});
    }
    if (!p.problems.empty()) throw SpecError(source, p.problems);
    if (!j.is_object()) throw SpecError(source, {{"", "a sweep file is one JSON object (docs/sweeps.md)"}});

    static const std::set<std::string> known = {"version", "name",  "program",  "spec",    "out_dir", "set",
                                                "grid",    "runs",  "seeds",    "run_name", "exp_name"};
    for (auto it = j.begin(); it != j.end(); ++it)
        if (!known.count(it.key()))
            p.add(it.key(), "unknown key (a sweep file has: version, name, program, spec, out_dir, set, grid, runs, "
                            "seeds, run_name, exp_name)");
    auto str = [&](const char * key, std::string & dst) {
        if (!j.contains(key)) return;
        if (j[key].is_string())
            dst = j[key].get<std::string>();
        else
            p.add(key, "must be a string");
    };
    Sweep sw;
    sw.source = source;
    sw.name = fs::path(source).stem().string();
    std::string spec, rule, exp_rule = "{run}";
    str("name", sw.name);
    str("program", sw.program);
    str("spec", spec);
    str("out_dir", sw.out_dir);
    str("run_name", rule);
    str("exp_name", exp_rule);
    if (j.contains("version") && !(j["version"].is_number_integer() && j["version"].get<int>() == 1))
        p.add("version", "must be 1 (the only sweep format)");
    if (sw.program != "moe-train" && sw.program != "moe-expand")
        p.add("program", "'" + sw.program + "' is not one of: moe-train moe-expand");
    if (!out_dir.empty()) sw.out_dir = out_dir;
    if (sw.out_dir.empty()) p.add("out_dir", "required: the directory of the run files (e.g. \"runs/mole\")");
    if (sw.name.empty() || safe_name(sw.name) != sw.name)
        p.add("name", "'" + sw.name + "' must be non-empty and use only letters, digits and . _ + = -");

    std::vector<std::pair<std::string, ojson>> common;
    if (j.contains("set")) common = read_set(j["set"], "set", p);

    std::vector<std::pair<std::string, std::vector<ojson>>> grid;
    if (j.contains("grid")) {
        if (!j["grid"].is_object())
            p.add("grid", "must be an object of spec key -> list of values");
        else
            for (auto it = j["grid"].begin(); it != j["grid"].end(); ++it) {
                const std::string where = "grid." + it.key();
                if (it.key().empty() || it.key().find('=') != std::string::npos)
                    p.add(where, "a spec key must be non-empty and contain no '='");
                else if (!it.value().is_array() || it.value().empty())
                    p.add(where, "must be a non-empty list of values");
                else
                    grid.emplace_back(it.key(), std::vector<ojson>(it.value().begin(), it.value().end()));
            }
    }

    std::vector<ojson> seeds;
    if (j.contains("seeds")) {
        const ojson & s = j["seeds"];
        if (!s.is_array() || s.empty())
            p.add("seeds", "must be a non-empty list of non-negative integers");
        else
            for (size_t i = 0; i < s.size(); ++i) {
                if (!s[i].is_number_unsigned())
                    p.add("seeds[" + std::to_string(i) + "]", "must be a non-negative integer");
                else
                    seeds.push_back(s[i]);
            }
    }

    std::vector<Base> bases;
    if (j.contains("runs")) {
        const ojson & r = j["runs"];
        if (!r.is_array() || r.empty())
            p.add("runs", "must be a non-empty list of {\"name\", \"spec\", \"set\"} objects");
        else
            for (size_t i = 0; i < r.size(); ++i) {
                const std::string where = "runs[" + std::to_string(i) + "]";
                Base b{"", spec, where, {}};
                if (!r[i].is_object()) {
                    p.add(where, "must be an object with name, spec and/or set");
                    continue;
                }
                for (auto it = r[i].begin(); it != r[i].end(); ++it) {
                    if (it.key() == "name" && it.value().is_string())
                        b.name = it.value().get<std::string>();
                    else if (it.key() == "spec" && it.value().is_string())
                        b.spec = it.value().get<std::string>();
                    else if (it.key() == "set")
                        b.set = read_set(it.value(), where + ".set", p);
                    else if (it.key() == "name" || it.key() == "spec")
                        p.add(where + "." + it.key(), "must be a string");
                    else
                        p.add(where + "." + it.key(), "unknown key (a run has: name, spec, set)");
                }
                if (b.spec.empty()) p.add(where + ".spec", "no spec: give one here or at the top level");
                bases.push_back(std::move(b));
            }
    } else {
        if (spec.empty()) p.add("spec", "required (or a spec in every entry of runs)");
        bases.push_back({"", spec, "", {}});
    }

    // one source per key: set, runs[i].set, grid, seeds (exp.seed)
    auto clash = [&](const std::string & key, const std::string & where) {
        for (const auto & kv : common)
            if (kv.first == key) p.add(where, "'" + key + "' is also in set: give each key in one place");
    };
    for (const auto & g : grid) {
        clash(g.first, "grid." + g.first);
        for (const Base & b : bases)
            for (const auto & kv : b.set)
                if (kv.first == g.first)
                    p.add(b.where + ".set." + kv.first, "'" + kv.first + "' is also a grid key: give each key in one place");
        if (g.first == "exp.seed" && !seeds.empty()) p.add("grid.exp.seed", "exp.seed is swept by seeds");
    }
    for (const Base & b : bases)
        for (const auto & kv : b.set) clash(kv.first, b.where + ".set." + kv.first);
    if (!seeds.empty()) {
        for (const auto & kv : common)
            if (kv.first == "exp.seed") p.add("set.exp.seed", "exp.seed is swept by seeds");
        for (const Base & b : bases)
            for (const auto & kv : b.set)
                if (kv.first == "exp.seed") p.add(b.where + ".set.exp.seed", "exp.seed is swept by seeds");
    }
    if (!p.problems.empty()) throw SpecError(source, p.problems);

    // expand: runs[] outer, then the grid (first key slowest), then the seeds
    size_t combos = 1;
    for (const auto & g : grid) combos *= g.second.size();
    std::map<std::string, std::string> name_owner, set_owner;
    std::set<std::string> reported;
    for (const Base & b : bases) {
        for (size_t c = 0; c < combos; ++c) {
            std::vector<std::pair<std::string, ojson>> pick;
            size_t rest = c;
            for (size_t g = grid.size(); g-- > 0;) {
                pick.emplace_back(grid[g].first, grid[g].second[rest % grid[g].second.size()]);
                rest /= grid[g].second.size();
            }
            std::reverse(pick.begin(), pick.end());
            const size_t n_seeds = seeds.empty() ? 1 : seeds.size();
            for (size_t s = 0; s < n_seeds; ++s) {
                SweepRun run;
                run.spec = b.spec;
                std::map<std::string, std::string> values;
                std::vector<std::string> parts;
                if (!b.name.empty()) parts.push_back(b.name);
                values["name"] = b.name;
                bool named_exp = false;
                auto add = [&](const std::string & key, const ojson & v) {
                    run.overrides.push_back(key + "=" + v.dump());
                    values[key] = name_text(v);
                    if (key == "exp.name") named_exp = true;
                };
                for (const auto & kv : common) add(kv.first, kv.second);
                for (const auto & kv : b.set) add(kv.first, kv.second);
                for (const auto & kv : pick) {
                    add(kv.first, kv.second);
                    parts.push_back(leaf(kv.first) + name_text(kv.second));
                }
                if (!seeds.empty()) {
                    add("exp.seed", seeds[s]);
                    values["seed"] = seeds[s].dump();
                    parts.push_back("s" + seeds[s].dump());
                }
                std::string name;
                if (!rule.empty())
                    name = apply_rule(rule, values, p, reported);
                else
                    for (const auto & part : parts) name += (name.empty() ? "" : "_") + part;
                if (name.empty()) name = sw.name;
                name = safe_name(name);
                const std::string where = b.where.empty() ? "run " + name : b.where + " (run " + name + ")";
                if (name == "." || name == "..") p.add(where, "the run name '" + name + "' is not a file name");
                std::string key = run.spec;
                for (const auto & o : run.overrides) key += "\n" + o;
                if (!set_owner.emplace(key, name).second)
                    p.add(where, "the same spec and overrides as run " + set_owner[key] + ": a duplicate run");
                else if (!name_owner.emplace(name, where).second)
                    p.add(where, "the run name '" + name + "' is also the name of " + name_owner[name] +
                                     " (run_name must tell the runs apart)");
                if (!named_exp && !exp_rule.empty()) {
                    values["run"] = name;
                    run.overrides.push_back("exp.name=" + ojson(apply_rule(exp_rule, values, p, reported, "exp_name")).dump());
                }
                run.name = name;
                run.out = (fs::path(sw.out_dir) / (name + ".h5")).string();
                sw.runs.push_back(std::move(run));
            }
        }
    }
    if (!p.problems.empty()) throw SpecError(source, p.problems);
    return sw;
}

Sweep load_sweep(const std::string & path, const std::string & out_dir) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) throw SpecError(path, {{"", "cannot read sweep file '" + path + "': a directory"}});
    std::ifstream in(path, std::ios::binary);
    if (!in) throw SpecError(path, {{"", "cannot read sweep file '" + path + "'"}});
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return parse_sweep(text, path, out_dir);
}

void check_sweep(const Sweep & sweep) {
    std::vector<SpecProblem> problems;
    for (const SweepRun & r : sweep.runs) {
        try {
            (void)load_spec(r.spec, r.overrides);
        } catch (const SpecError & e) {
            for (const auto & pr : e.problems())
                problems.push_back({"run " + r.name + (pr.path.empty() ? "" : ": " + pr.path),
                                    (e.source() == r.spec ? "" : e.source() + ": ") + pr.message});
        } catch (const Error & e) {
            problems.push_back({"run " + r.name, e.what()});
        }
    }
    if (!problems.empty()) throw SpecError(sweep.source, problems);
}

} // namespace moe::spec
