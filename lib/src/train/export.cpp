// train: a run's series as CSV files (see moe/train/export.hpp).
#include "moe/train/export.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <utility>

#include "moe/core/error.hpp"
#include "moe/io/run_file.hpp"
#include "moe/train/summary.hpp"

namespace fs = std::filesystem;

namespace moe::train {

namespace {

bool is_dataset(const io::RunReader & r, const std::string & path) {
    try {
        (void)r.shape(path);
        return true;
    } catch (const Error &) { return false; }
}

// Shortest text that reads back to the same value (integers without a decimal point).
template <typename V>
std::string num(V v) {
    if (std::isnan(v)) return "nan";
    char b[64];
    const auto res = std::to_chars(b, b + sizeof b, v);
    return std::string(b, res.ptr);
}

struct Column {
    std::string name;
    std::vector<std::string> cells;
};

// Every 1-D series (a column) and 2-D series (one column per element of a row: name_0, ...) in
// group and its subgroups, named by their path below group.
void collect(const io::RunReader & r, const std::string & group, const std::string & prefix,
             std::vector<Column> & out) {
    for (const auto & m : r.list(group)) {
        const std::string path = group + "/" + m, name = prefix.empty() ? m : prefix + "/" + m;
        if (!is_dataset(r, path)) {
            collect(r, path, name, out);
            continue;
        }
        const auto shape = r.shape(path);
        if (shape.size() == 1) {
            Column c{name, {}};
            for (double v : r.read_doubles(path)) c.cells.push_back(num(v));
            out.push_back(std::move(c));
        } else if (shape.size() == 2) {
            const auto x = r.read_floats(path);
            for (int64_t j = 0; j < shape[1]; ++j) {
                Column c{name + "_" + std::to_string(j), {}};
                for (int64_t i = 0; i < shape[0]; ++i) c.cells.push_back(num(x[(size_t)(i * shape[1] + j)]));
                out.push_back(std::move(c));
            }
        }
    }
}

// One table from a group: step first, epoch second, the rest in name order.
Table group_table(const io::RunReader & r, const std::string & group) {
    std::vector<Column> cols;
    collect(r, group, "", cols);
    auto rank = [](const std::string & n) { return n == "step" ? 0 : n == "epoch" ? 1 : 2; };
    std::stable_sort(cols.begin(), cols.end(),
                     [&](const Column & a, const Column & b) { return rank(a.name) < rank(b.name); });
    Table t;
    if (cols.empty()) return t;
    const size_t n = cols.front().cells.size();
    for (const auto & c : cols)
        if (c.cells.size() != n)
            throw Error(ErrorCode::io, r.path() + ": the series of /" + group + " have different lengths (/" + group +
                                           "/" + cols.front().name + ": " + std::to_string(n) + ", /" + group + "/" +
                                           c.name + ": " + std::to_string(c.cells.size()) + ")");
    for (const auto & c : cols) t.columns.push_back(c.name);
    t.rows.assign(n, {});
    for (size_t i = 0; i < n; ++i)
        for (const auto & c : cols) t.rows[i].push_back(c.cells[i]);
    return t;
}

} // namespace

std::vector<std::string> export_metrics_csv(const std::string & run_path, const std::string & dir) {
    MOE_CHECK(!dir.empty(), ErrorCode::spec, "export-metrics --csv: an empty directory path");
    io::RunReader r(run_path);
    std::vector<std::pair<std::string, Table>> files; // path below dir, table
    auto add = [&](const std::string & rel, Table t) {
        if (!t.columns.empty()) files.push_back({rel, std::move(t)});
    };
    if (r.has("metrics/train")) add("metrics/train.csv", group_table(r, "metrics/train"));
    for (const auto & split : r.list("metrics/eval"))
        add("metrics/eval/" + split + ".csv", group_table(r, "metrics/eval/" + split));
    for (const auto & site : r.list("routing")) add("routing/" + site + ".csv", group_table(r, "routing/" + site));
    if (r.has("stream/accuracy_matrix") && r.has("stream/task_names")) {
        const auto shape = r.shape("stream/accuracy_matrix");
        const auto R = r.read_doubles("stream/accuracy_matrix");
        std::vector<std::string> names;
        const std::string s = r.read_string("stream/task_names");
        for (size_t i = 0; i <= s.size();) {
            const size_t j = std::min(s.find(',', i), s.size());
            names.push_back(s.substr(i, j - i));
            i = j + 1;
        }
        if (shape.size() != 2 || (int64_t)names.size() != shape[1])
            throw Error(ErrorCode::io, run_path + ": /stream/accuracy_matrix " +
                                           "does not have one column per task of "
                                           "/stream/task_names");
        Table t;
        t.columns = {"after_task"};
        t.columns.insert(t.columns.end(), names.begin(), names.end());
        for (int64_t i = 0; i < shape[0]; ++i) {
            std::vector<std::string> row{names[(size_t)i]};
            for (int64_t j = 0; j < shape[1]; ++j) row.push_back(num(R[(size_t)(i * shape[1] + j)]));
            t.rows.push_back(std::move(row));
        }
        add("stream/accuracy_matrix.csv", std::move(t));
    }
    if (files.empty())
        throw Error(ErrorCode::io,
                    run_path + ": no metric series to export (expected /metrics, /routing or /stream/accuracy_matrix)",
                    {"export-metrics reads moe-train and moe-expand run files (and checkpoints)"});
    std::error_code ec;
    const fs::path root(dir);
    if (!fs::is_directory(root, ec)) {
        if (fs::exists(root, ec)) throw Error(ErrorCode::io, "export-metrics --csv " + dir + ": not a directory");
        const fs::path parent = root.has_parent_path() ? root.parent_path() : fs::path(".");
        if (!fs::is_directory(parent, ec))
            throw Error(ErrorCode::io, "export-metrics --csv " + dir + ": its parent directory " + parent.string() +
                                           " does not exist");
    }
    // all or nothing: on a failure (a full disk) the files and directories made so far go again
    std::vector<std::string> written;
    std::vector<fs::path> made_files, made_dirs;
    try {
        for (const auto & [rel, t] : files) {
            const fs::path p = root / rel;
            io::check_output_not_input(p.string(), {{"the run file", run_path}}, "--csv");
            std::vector<fs::path> missing; // the directories above p that do not exist yet, innermost first
            for (fs::path d = p.parent_path(); !d.empty() && !fs::exists(d, ec); d = d.parent_path())
                missing.push_back(d);
            for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
                if (!fs::create_directory(*it, ec) && ec)
                    throw Error(ErrorCode::io,
                                "export-metrics --csv: cannot create directory " + it->string() + ": " + ec.message());
                made_dirs.push_back(*it);
            }
            const bool existed = fs::exists(p, ec);
            io::write_text_atomic(p.string(), t.csv());
            if (!existed) made_files.push_back(p);
            written.push_back(p.string());
        }
    } catch (...) {
        for (const auto & f : made_files) fs::remove(f, ec);
        for (auto it = made_dirs.rbegin(); it != made_dirs.rend(); ++it) fs::remove(*it, ec); // empty ones only
        throw;
    }
    return written;
}

} // namespace moe::train
