// spec: the three visitors every field description is walked by: Reader (JSON -> structs,
// collecting every problem with its path), Writer (structs -> JSON, the resolved spec) and
// Documenter (docs/spec.md). Private to the spec module.
#pragma once
#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/core/check.hpp"
#include "moe/core/closest.hpp"
#include "moe/core/error.hpp"
#include "moe/spec/spec.hpp"

namespace moe::spec {

using nlohmann::json;

inline std::string fmt_num(double v) {
    if (std::fabs(v) < 1e15 && v == static_cast<double>(static_cast<int64_t>(v)))
        return std::to_string(static_cast<int64_t>(v));
    std::ostringstream o;
    o << v;
    return o.str();
}

inline std::string type_name(const json & j) {
    switch (j.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    default: return "a value";
    }
}

// ---------------------------------------------------------------------------------------- Reader
class Reader {
  public:
    Reader(const json * obj, std::string path, std::vector<SpecProblem> * errs)
        : obj_(obj), path_(std::move(path)), errs_(errs) {}

    template <typename F>
    void field(const char * key, F & ref, const char * /*doc*/, const Check & c = {}) {
        seen_.push_back(key);
        if (!obj_ || !obj_->contains(key)) return;
        read(obj_->at(key), sub(key), ref, c);
    }
    template <typename S>
    void object(const char * key, S & s, const char * /*doc*/) {
        seen_.push_back(key);
        if (!obj_ || !obj_->contains(key)) return;
        const json & j = obj_->at(key);
        if (!j.is_object()) {
            err(sub(key), "expected an object, got " + type_name(j));
            return;
        }
        Reader r(&j, sub(key), errs_);
        visit(r, s);
        r.finish();
    }
    template <typename S>
    void list(const char * key, std::vector<S> & v, const char * /*doc*/) {
        seen_.push_back(key);
        if (!obj_ || !obj_->contains(key)) return;
        const json & j = obj_->at(key);
        if (!j.is_array()) {
            err(sub(key), "expected an array of objects, got " + type_name(j));
            return;
        }
        v.clear();
        for (size_t i = 0; i < j.size(); ++i) {
            std::string p = sub(key) + "[" + std::to_string(i) + "]";
            if (!j[i].is_object()) {
                err(p, "expected an object, got " + type_name(j[i]));
                continue;
            }
            S s{};
            Reader r(&j[i], p, errs_);
            visit(r, s);
            r.finish();
            v.push_back(std::move(s));
        }
    }
    void finish() {
        if (!obj_) return;
        for (auto it = obj_->begin(); it != obj_->end(); ++it) {
            if (std::find(seen_.begin(), seen_.end(), it.key()) != seen_.end()) continue;
            std::string msg = "unknown key";
            size_t best = 3;
            std::string hint;
            for (const auto & k : seen_) {
                size_t d = edit_distance(it.key(), k);
                if (d < best) {
                    best = d;
                    hint = k;
                }
            }
            if (!hint.empty())
                msg += " (did you mean '" + hint + "'?)";
            else {
                msg += "; expected one of:";
                for (const auto & k : seen_) msg += " " + k;
            }
            err(sub(it.key()), msg);
        }
    }

  private:
    std::string sub(const std::string & key) const { return path_.empty() ? key : path_ + "." + key; }
    void err(const std::string & p, const std::string & m) { errs_->push_back({p, m}); }

    // false (and the problem recorded) when v is outside the check; the caller then keeps the
    // default, so validate() only ever sees values inside their ranges (a grad_accum of 0 once
    // reached `batch_size % grad_accum`; found by tests/fuzz/fuzz_spec).
    bool check_num(const std::string & p, double v, const Check & c) {
        if (c.min && (c.min_exclusive ? !(v > *c.min) : !(v >= *c.min))) {
            err(p, "value " + fmt_num(v) + " out of range: must be " + (c.min_exclusive ? "> " : ">= ") +
                       fmt_num(*c.min) + (c.max ? " and <= " + fmt_num(*c.max) : ""));
            return false;
        }
        if (c.max && !(v <= *c.max)) {
            err(p, "value " + fmt_num(v) + " out of range: must be <= " + fmt_num(*c.max) +
                       (c.min ? std::string(c.min_exclusive ? " and > " : " and >= ") + fmt_num(*c.min) : ""));
            return false;
        }
        return true;
    }
    void read(const json & j, const std::string & p, std::string & out, const Check & c) {
        if (!j.is_string()) {
            err(p, "expected a string, got " + type_name(j));
            return;
        }
        out = j.get<std::string>();
        if (!c.choices.empty() && std::find(c.choices.begin(), c.choices.end(), out) == c.choices.end()) {
            std::string m = "'" + out + "' is not one of:";
            for (auto & s : c.choices) m += " " + s;
            err(p, m);
        }
    }
    void read(const json & j, const std::string & p, bool & out, const Check &) {
        if (!j.is_boolean()) {
            err(p, "expected a boolean (true/false), got " + type_name(j));
            return;
        }
        out = j.get<bool>();
    }
    // I is int64_t or uint64_t. Values outside I are reported, never converted (a float-to-integer
    // conversion out of range is undefined behaviour; found by tests/fuzz/fuzz_spec).
    template <typename I>
    bool read_integer(const json & j, const std::string & p, I & out, const Check & c) {
        const char * what = std::is_unsigned_v<I> ? "an unsigned 64-bit integer" : "a 64-bit integer";
        if (j.is_number_float()) {
            double d = j.get<double>();
            if (std::trunc(d) != d) {
                err(p, "expected an integer, got " + fmt_num(d));
                return false;
            }
            // [min, max + 1) of I, exact in double: [-2^63, 2^63) or [0, 2^64)
            if (!(d >= static_cast<double>(std::numeric_limits<I>::min()) &&
                  d < static_cast<double>(std::numeric_limits<I>::max()))) {
                err(p, "value " + fmt_num(d) + " out of range for " + what);
                return false;
            }
            if (!check_num(p, d, c)) return false;
            out = static_cast<I>(d);
            return true;
        }
        // (is_number_integer() is true for signed and unsigned JSON integers)
        if (!j.is_number_integer()) {
            err(p, "expected an integer, got " + type_name(j));
            return false;
        }
        if (j.is_number_unsigned()) {
            if (j.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<I>::max())) {
                err(p, "value " + std::to_string(j.get<uint64_t>()) + " out of range for " + what);
                return false;
            }
        } else if (std::is_unsigned_v<I> && j.get<int64_t>() < 0) {
            err(p, "value " + std::to_string(j.get<int64_t>()) + " out of range: must be >= 0");
            return false;
        }
        const I v = j.get<I>();
        if (!check_num(p, static_cast<double>(v), c)) return false;
        out = v;
        return true;
    }
    void read(const json & j, const std::string & p, int & out, const Check & c) {
        int64_t v = out;
        if (read_integer(j, p, v, c)) {
            if (v > INT32_MAX || v < INT32_MIN)
                err(p, "value out of range for a 32-bit integer");
            else
                out = static_cast<int>(v);
        }
    }
    void read(const json & j, const std::string & p, int64_t & out, const Check & c) { read_integer(j, p, out, c); }
    void read(const json & j, const std::string & p, uint64_t & out, const Check & c) { read_integer(j, p, out, c); }
    void read(const json & j, const std::string & p, double & out, const Check & c) {
        if (!j.is_number()) {
            err(p, "expected a number, got " + type_name(j));
            return;
        }
        const double v = j.get<double>();
        if (check_num(p, v, c)) out = v;
    }
    void read(const json & j, const std::string & p, std::vector<int> & out, const Check & c) {
        if (!j.is_array()) {
            err(p, "expected an array of integers, got " + type_name(j));
            return;
        }
        out.clear();
        for (size_t i = 0; i < j.size(); ++i) {
            int v = 0;
            read(j[i], p + "[" + std::to_string(i) + "]", v, c);
            out.push_back(v);
        }
    }
    void read(const json & j, const std::string & p, std::vector<std::string> & out, const Check & c) {
        if (!j.is_array()) {
            err(p, "expected an array of strings, got " + type_name(j));
            return;
        }
        out.clear();
        for (size_t i = 0; i < j.size(); ++i) {
            std::string v;
            read(j[i], p + "[" + std::to_string(i) + "]", v, c);
            out.push_back(v);
        }
    }

    const json * obj_;
    std::string path_;
    std::vector<SpecProblem> * errs_;
    std::vector<std::string> seen_;
};

// ---------------------------------------------------------------------------------------- Writer
class Writer {
  public:
    json out = json::object();
    template <typename F>
    void field(const char * key, F & ref, const char *, const Check & = {}) {
        out[key] = ref;
    }
    template <typename S>
    void object(const char * key, S & s, const char *) {
        Writer w;
        visit(w, s);
        out[key] = std::move(w.out);
    }
    template <typename S>
    void list(const char * key, std::vector<S> & v, const char *) {
        json a = json::array();
        for (auto & s : v) {
            Writer w;
            visit(w, s);
            a.push_back(std::move(w.out));
        }
        out[key] = std::move(a);
    }
};

// ---------------------------------------------------------------------------------------- Documenter
class Documenter {
  public:
    explicit Documenter(std::string path, std::vector<FieldDoc> * rows) : path_(std::move(path)), rows_(rows) {}
    template <typename F>
    void field(const char * key, F & ref, const char * doc, const Check & c = {}) {
        std::string d = doc;
        if (!c.choices.empty()) {
            d += " One of:";
            for (auto & s : c.choices) d += " `" + s + "`";
            d += ".";
        }
        rows_->push_back({sub(key), type_of(ref), json(ref).dump(), d});
    }
    template <typename S>
    void object(const char * key, S & s, const char * doc) {
        rows_->push_back({sub(key), "object", "", doc});
        Documenter d(sub(key), rows_);
        visit(d, s);
    }
    template <typename S>
    void list(const char * key, std::vector<S> &, const char * doc) {
        rows_->push_back({sub(key), "array of objects", "[]", doc});
        S s{};
        Documenter d(sub(key) + "[]", rows_);
        visit(d, s);
    }

  private:
    std::string sub(const std::string & k) const { return path_.empty() ? k : path_ + "." + k; }
    static std::string type_of(const std::string &) { return "string"; }
    static std::string type_of(const bool &) { return "bool"; }
    static std::string type_of(const int &) { return "integer"; }
    static std::string type_of(const int64_t &) { return "integer"; }
    static std::string type_of(const uint64_t &) { return "integer"; }
    static std::string type_of(const double &) { return "number"; }
    static std::string type_of(const std::vector<int> &) { return "array of integers"; }
    static std::string type_of(const std::vector<std::string> &) { return "array of strings"; }
    std::string path_;
    std::vector<FieldDoc> * rows_;
};

} // namespace moe::spec
