// train: summaries of many run files (moe-eval summarize).
#include "moe/train/summary.hpp"

#include <cmath>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "moe/core/error.hpp"
#include "moe/io/run_file.hpp"

namespace moe::train {

namespace {

void flatten(const nlohmann::json & j, const std::string & prefix, std::map<std::string, std::string> & out) {
    if (j.is_object()) {
        for (auto it = j.begin(); it != j.end(); ++it)
            flatten(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), out);
    } else {
        out[prefix] = j.is_string() ? j.get<std::string>() : j.dump();
    }
}

std::string fmt(double v, int prec = 4) {
    if (!std::isfinite(v)) return "";
    char b[64];
    std::snprintf(b, sizeof b, "%.*f", prec, v);
    return b;
}

double last(const io::RunReader & r, const std::string & path) {
    if (!r.has(path)) return NAN;
    auto v = r.read_doubles(path);
    return v.empty() ? NAN : v.back();
}

// Coefficient of variation of the last expert-load record, averaged over adapted sites.
double load_cv(const io::RunReader & r) {
    double sum = 0;
    int n = 0;
    for (const auto & site : r.list("routing")) {
        const std::string p = "routing/" + site + "/load";
        if (!r.has(p)) continue;
        auto shape = r.shape(p);
        auto v = r.read_floats(p);
        if (shape.size() != 2 || shape[0] == 0) continue;
        const int64_t E = shape[1];
        const float * row = v.data() + (shape[0] - 1) * E;
        double m = 0, s2 = 0;
        for (int64_t e = 0; e < E; ++e) m += row[e];
        m /= E;
        for (int64_t e = 0; e < E; ++e) s2 += (row[e] - m) * (row[e] - m);
        if (m > 0) {
            sum += std::sqrt(s2 / E) / m;
            ++n;
        }
    }
    return n ? sum / n : NAN;
}

} // namespace

std::string Table::markdown() const {
    std::string s = "|";
    for (auto & c : columns) s += " " + c + " |";
    s += "\n|";
    for (size_t i = 0; i < columns.size(); ++i) s += "---|";
    s += "\n";
    for (auto & r : rows) {
        s += "|";
        for (auto & c : r) s += " " + c + " |";
        s += "\n";
    }
    return s;
}

std::string Table::csv() const {
    auto q = [](const std::string & v) {
        if (v.find_first_of(",\"\n") == std::string::npos) return v;
        std::string o = "\"";
        for (char c : v) {
            if (c == '"') o += '"';
            o += c;
        }
        return o + "\"";
    };
    std::string s;
    for (size_t i = 0; i < columns.size(); ++i) s += (i ? "," : "") + q(columns[i]);
    s += "\n";
    for (auto & r : rows) {
        for (size_t i = 0; i < r.size(); ++i) s += (i ? "," : "") + q(r[i]);
        s += "\n";
    }
    return s;
}

SummaryResult summarize_runs(const std::vector<std::string> & runs, const std::vector<std::string> & by) {
    MOE_CHECK(!runs.empty(), ErrorCode::spec, "summarize: no run files given");
    // moe-train's metrics, then (when a moe-expand run is among the runs) the stream's
    std::vector<std::string> metric_names = {"test acc", "test loss", "val acc", "load CV", "steps", "seconds"};
    const std::vector<std::string> stream_metrics = {"A_N", "A_bar", "forgetting", "bwt"};
    std::vector<std::map<std::string, std::string>> specs;
    std::vector<std::vector<double>> metrics;
    std::vector<std::string> strategies; // moe-expand: /stream's strategy attribute
    for (const auto & path : runs) {
        io::RunReader r(path);
        std::string strategy;
        if (r.has("stream")) {
            try {
                strategy = r.attr_string("stream", "strategy");
            } catch (const Error &) {}
        }
        strategies.push_back(strategy);
        std::map<std::string, std::string> flat;
        try {
            flatten(nlohmann::json::parse(r.spec_json()), "", flat);
        } catch (const nlohmann::json::exception & e) { // invalid, or a number beyond double
            throw Error(ErrorCode::io, path + ": /spec is not valid JSON (" + std::string(e.what()) + ")");
        }
        specs.push_back(std::move(flat));
        // a stream's counts are /stream's attributes, and its test accuracy is A_N: the final
        // model's accuracy over every task's test set (weighted by their sizes)
        const char * counts = strategy.empty() ? "metrics" : "stream";
        double steps = NAN, secs = NAN;
        try {
            steps = std::stod(r.attr_string(counts, "steps"));
        } catch (const std::exception &) {}
        try {
            secs = std::stod(r.attr_string(counts, "seconds"));
        } catch (const std::exception &) {}
        const double test_acc = strategy.empty() ? last(r, "metrics/eval/test/accuracy") : last(r, "stream/A_N");
        metrics.push_back({test_acc, last(r, "metrics/eval/test/loss"), last(r, "metrics/eval/val/accuracy"),
                           load_cv(r), steps, secs});
        for (const auto & m : stream_metrics) metrics.back().push_back(last(r, "stream/" + m));
    }
    bool streams = false;
    for (const auto & s : strategies) streams |= !s.empty();
    const size_t n_train_metrics = metric_names.size();
    if (streams)
        metric_names.insert(metric_names.end(), stream_metrics.begin(), stream_metrics.end());
    else
        for (auto & m : metrics) m.resize(n_train_metrics);
    // digits: steps is a count, seconds one decimal, the rest four
    auto prec = [](size_t m) { return m == 4 ? 0 : m == 5 ? 1 : 4; };
    // spec keys whose values differ between runs
    std::set<std::string> keys;
    for (auto & s : specs)
        for (auto & [k, v] : s) keys.insert(k);
    std::vector<std::string> differ;
    for (const auto & k : keys) {
        std::set<std::string> vals;
        for (auto & s : specs) vals.insert(s.count(k) ? s.at(k) : "");
        if (vals.size() > 1) differ.push_back(k);
    }
    for (const auto & b : by)
        MOE_CHECK(keys.count(b), ErrorCode::spec, "summarize --by: '" + b + "' is not a spec key of these runs");
    SummaryResult out;
    out.runs.columns = {"run"};
    for (auto & k : differ) out.runs.columns.push_back(k);
    for (size_t m = 0; m < metric_names.size(); ++m) {
        if (streams && m == n_train_metrics) out.runs.columns.push_back("strategy");
        out.runs.columns.push_back(metric_names[m]);
    }
    for (size_t i = 0; i < runs.size(); ++i) {
        std::vector<std::string> row{runs[i]};
        for (auto & k : differ) row.push_back(specs[i].count(k) ? specs[i].at(k) : "");
        for (size_t m = 0; m < metric_names.size(); ++m) {
            if (streams && m == n_train_metrics) row.push_back(strategies[i]);
            row.push_back(fmt(metrics[i][m], prec(m)));
        }
        out.runs.rows.push_back(std::move(row));
    }
    if (!by.empty()) {
        std::map<std::vector<std::string>, std::vector<size_t>> groups;
        for (size_t i = 0; i < runs.size(); ++i) {
            std::vector<std::string> key;
            for (auto & b : by) key.push_back(specs[i].count(b) ? specs[i].at(b) : "");
            groups[key].push_back(i);
        }
        out.groups.columns = by;
        out.groups.columns.push_back("runs");
        for (auto & m : metric_names) {
            out.groups.columns.push_back(m + " mean");
            out.groups.columns.push_back(m + " std");
        }
        for (auto & [key, idx] : groups) {
            std::vector<std::string> row = key;
            row.push_back(std::to_string(idx.size()));
            for (size_t m = 0; m < metric_names.size(); ++m) {
                double s = 0, s2 = 0;
                int n = 0;
                for (size_t i : idx)
                    if (std::isfinite(metrics[i][m])) {
                        s += metrics[i][m];
                        s2 += metrics[i][m] * metrics[i][m];
                        ++n;
                    }
                const double mean = n ? s / n : NAN;
                const double sd = n > 1 ? std::sqrt(std::max(0.0, (s2 - n * mean * mean) / (n - 1))) : (n ? 0.0 : NAN);
                row.push_back(fmt(mean, m == 4 || m == 5 ? 1 : 4));
                row.push_back(fmt(sd, m == 4 || m == 5 ? 1 : 4));
            }
            out.groups.rows.push_back(std::move(row));
        }
    }
    return out;
}

} // namespace moe::train
