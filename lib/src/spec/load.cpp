// spec: reading a spec file (JSON syntax errors with line and column, duplicate keys, bounded
// nesting) and `--set a.b.c=value` overrides (see moe/spec/spec.hpp).
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "moe/spec/effect.hpp"
#include "moe/spec/spec.hpp"
#include "visitors.hpp"

namespace moe::spec {

namespace fs = std::filesystem;

namespace {

// The byte offset of the first '[' or '{' (outside strings) that opens a container deeper than
// kMaxDepth; the text's size when there is none.
size_t deep_offset(const std::string & text) {
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_string = false;
        } else if (c == '"')
            in_string = true;
        else if (c == '[' || c == '{') {
            if (++depth > kMaxDepth) return i;
        } else if (c == ']' || c == '}')
            --depth;
    }
    return text.size();
}

std::string too_deep_message(const std::string & where) {
    return "arrays and objects nested deeper than " + std::to_string(kMaxDepth) + " levels at " + where +
           " (the limit of a spec; the deepest key, data.tasks[i].transforms[j].kind, is 6 levels down)";
}

} // namespace

void apply_override(json & j, const std::string & assignment) {
    auto eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0)
        throw SpecError("--set", {{assignment, "expected key=value, e.g. train.lr=0.001"}});
    std::string key = assignment.substr(0, eq), value = assignment.substr(eq + 1);
    try { // a JSON string must be UTF-8 (dumping the resolved spec would fail much later)
        (void)json(assignment).dump();
    } catch (const json::type_error &) {
        throw SpecError("--set", {{json(key).dump(-1, ' ', false, json::error_handler_t::replace),
                                   "the assignment is not valid UTF-8"}});
    }
    { // a[1].b and a[1][2] as a.1.b and a.1.2
        std::string k;
        for (char c : key)
            if (c == '[')
                k += '.';
            else if (c != ']')
                k += c;
        key = k;
    }
    std::vector<std::string> parts;
    std::stringstream ss(key);
    for (std::string p; std::getline(ss, p, '.');) parts.push_back(p);
    if (key.back() == '.') parts.push_back("");
    for (const auto & p : parts)
        if (p.empty())
            throw SpecError("--set", {{key, "an empty part in the key (expected names joined by '.', e.g. train.lr)"}});
    if (parts.size() > static_cast<size_t>(kMaxDepth))
        throw SpecError("--set", {{key.substr(0, 40) + "...", "a key of " + std::to_string(parts.size()) +
                                                                  " parts; a spec nests at most " +
                                                                  std::to_string(kMaxDepth) + " levels"}});
    if (!j.is_object()) throw SpecError("--set", {{"", "the spec is not a JSON object, got " + type_name(j)}});
    json * cur = &j;
    std::string path;
    for (size_t i = 0; i < parts.size(); ++i) {
        const std::string & p = parts[i];
        const bool last = i + 1 == parts.size();
        path += (path.empty() ? "" : ".") + p;
        if (cur->is_array()) {
            bool digits = !p.empty() && p.size() < 19 &&
                          std::all_of(p.begin(), p.end(), [](unsigned char c) { return std::isdigit(c); });
            if (!digits || std::stoul(p) >= cur->size())
                throw SpecError("--set", {{path, "index '" + p + "' is not an element of the array (size " +
                                                     std::to_string(cur->size()) + ")"}});
            cur = &(*cur)[std::stoul(p)];
        } else {
            if (cur->is_null()) { // a key the spec does not have: an object is made, never an array
                if (std::all_of(p.begin(), p.end(), [](unsigned char c) { return std::isdigit(c); }))
                    throw SpecError("--set",
                                    {{path, "index " + p + " into " + path.substr(0, path.size() - p.size() - 1) +
                                                ", which the spec does not have; set the whole array instead, "
                                                "e.g. --set 'data.tasks=[{...}]'"}});
                *cur = json::object();
            }
            if (!cur->is_object()) throw SpecError("--set", {{path, "cannot descend into a non-object value"}});
            cur = &(*cur)[p];
        }
        if (last) {
            json v;
            struct TooDeep {};
            const int room = kMaxDepth - static_cast<int>(parts.size()); // the value's own levels
            const json::parser_callback_t bound = [room](int depth, json::parse_event_t ev, json &) {
                if ((ev == json::parse_event_t::object_start || ev == json::parse_event_t::array_start) &&
                    depth >= room)
                    throw TooDeep{};
                return true;
            };
            try {
                v = json::parse(value, bound);
            } catch (const TooDeep &) {
                throw SpecError("--set", {{path, "the value nests arrays and objects deeper than a spec may (" +
                                                     std::to_string(kMaxDepth) + " levels, the key's included)"}});
            } catch (const json::parse_error &) {
                v = value;                         // not JSON: a plain string
            } catch (const json::out_of_range &) { // a number beyond double, e.g. 1e999
                throw SpecError("--set", {{path, "value " + value + " is out of range of a number"}});
            }
            *cur = std::move(v);
        }
    }
}

Spec load_spec(const std::string & path, const std::vector<std::string> & overrides) {
    std::error_code ec;
    if (fs::is_directory(path, ec))
        throw SpecError(path, {{"", "cannot read spec file '" + path + "': it is a directory"}});
    { // a regular file or a pipe (<(...), /dev/stdin); a device or socket would read forever
        const auto st = fs::status(path, ec).type();
        if (st == fs::file_type::character || st == fs::file_type::block || st == fs::file_type::socket)
            throw SpecError(path,
                            {{"", "cannot read spec file '" + path + "': a device or socket, not a file or pipe"}});
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) throw SpecError(path, {{"", "cannot read spec file '" + path + "'"}});
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw SpecError(path, {{"", "cannot read spec file '" + path + "'"}});
    json j;
    // Duplicate keys: JSON parsers keep one of them silently; here each is an error with its
    // path. One frame per open object or array: its current key or index and (objects) the keys
    // seen so far; a path is built only for a duplicate, so the bookkeeping is linear in the
    // input. The nesting is bounded (kMaxDepth) before a container is opened: nothing grows with
    // the depth of a hostile spec.
    struct Frame {
        bool obj;
        std::string key;
        size_t index = 0;
        std::set<std::string> keys;
    };
    std::vector<Frame> stack;
    std::vector<SpecProblem> dups;
    auto path_here = [&]() { // the path of the value at the top frame's current key or index
        std::string p;
        for (const Frame & f : stack) {
            if (f.obj) {
                if (!p.empty()) p += '.';
                p += f.key;
            } else {
                p += '[';
                p += std::to_string(f.index);
                p += ']';
            }
        }
        return p;
    };
    auto done_value = [&]() {
        if (!stack.empty() && !stack.back().obj) ++stack.back().index;
    };
    struct TooDeep {};
    const json::parser_callback_t cb = [&](int, json::parse_event_t ev, json & parsed) {
        switch (ev) {
        case json::parse_event_t::object_start:
        case json::parse_event_t::array_start:
            if (stack.size() >= static_cast<size_t>(kMaxDepth)) throw TooDeep{};
            stack.push_back({ev == json::parse_event_t::object_start, "", 0, {}});
            break;
        case json::parse_event_t::key: {
            Frame & f = stack.back();
            f.key = parsed.get<std::string>();
            if (!f.keys.insert(f.key).second)
                dups.push_back({path_here(), "duplicate key (it appears more than once in its object)"});
            break;
        }
        case json::parse_event_t::object_end:
        case json::parse_event_t::array_end:
            stack.pop_back();
            done_value();
            break;
        case json::parse_event_t::value: done_value(); break;
        }
        return true;
    };
    auto line_col = [&](size_t off) {
        size_t line = 1, col = 1;
        for (size_t i = 0; i < off && i < text.size(); ++i) {
            if (text[i] == '\n') {
                ++line;
                col = 1;
            } else
                ++col;
        }
        return "line " + std::to_string(line) + ", column " + std::to_string(col);
    };
    try {
        j = json::parse(text, cb);
    } catch (const json::parse_error & e) {
        // line/column from the byte offset
        const size_t off = std::min<size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
        // nlohmann's message repeats a position of its own ("parse error at line 3, column 0: ..."):
        // keep only what went wrong
        std::string what = e.what();
        auto pos = what.find("parse error");
        if (pos != std::string::npos) what = what.substr(pos);
        if (what.rfind("parse error at line", 0) == 0) {
            auto colon = what.find(": ");
            if (colon != std::string::npos) what = "parse error: " + what.substr(colon + 2);
        }
        throw SpecError(path, {{"", "invalid JSON at " + line_col(off) + ": " + what}});
    } catch (const TooDeep &) {
        throw SpecError(path, {{"", too_deep_message(line_col(deep_offset(text)))}});
    } catch (const json::out_of_range & e) { // a number beyond double, e.g. 1e400
        std::string what = e.what();
        const auto pos = what.find("number overflow");
        throw SpecError(path, {{"", "invalid JSON: " + (pos == std::string::npos ? what : what.substr(pos)) +
                                        " (beyond the range of a double)"}});
    }
    if (!dups.empty()) throw SpecError(path, dups);
    if (!j.is_object()) throw SpecError(path, {{"", "the spec must be a JSON object, got " + type_name(j)}});
    for (const auto & o : overrides) apply_override(j, o);
    Spec s = parse_spec(j, path);
    bool router_from_set = false;
    for (const auto & o : overrides) router_from_set = router_from_set || o.rfind("routing.router=", 0) == 0;
    std::vector<SpecProblem> errs;
    check_effect(s, j, router_from_set, errs, s.warnings);
    if (!errs.empty()) throw SpecError(path, errs);
    return s;
}

} // namespace moe::spec
