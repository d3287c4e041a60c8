// csv.cpp — the CSV source (moe/data/dataset.hpp): numeric cells, features then label (and an
// optional task column) in any positions, an optional header row, gzip or plain; every bad
// cell is reported as path:line:column.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "internal.hpp"
#include "moe/data/dataset.hpp"

namespace moe::data {

using namespace detail;

namespace {

std::string_view trim(std::string_view s) {
    size_t a = 0, b = s.size();
    while (a < b && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r')) ++a;
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r')) --b;
    return s.substr(a, b - a);
}

// Locale-independent full-cell number parse: "" when the cell is a number, else why it is not.
std::string parse_number(std::string_view s, double & v) {
    const std::string_view cell = s;
    if (!s.empty() && s[0] == '+') s.remove_prefix(1);
    if (s.empty()) return "expected a number, got an empty cell";
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ptr != s.data() + s.size() || (r.ec != std::errc() && r.ec != std::errc::result_out_of_range))
        return "expected a number, got '" + std::string(cell) + "'";
    if (r.ec == std::errc::result_out_of_range) return "number '" + std::string(cell) + "' is out of range";
    return "";
}

std::string where(const std::string & path, int64_t line, int64_t col) {
    return path + ":" + std::to_string(line) + ":" + std::to_string(col) + ": ";
}

} // namespace

// limit > 0: reading stops after `limit` data rows (the header and blank lines are not rows).
Dataset load_csv(const std::string & path, int label_column, int task_column, bool header, int64_t limit) {
    if (task_column < -2)
        fail_spec("data.task_column: must be -2 (none), -1 (last) or a column index, got " +
                  std::to_string(task_column));
    if (label_column < -1)
        fail_spec("data.label_column: must be -1 (last) or a column index, got " + std::to_string(label_column));
    const std::vector<unsigned char> raw = limit > 0 ? read_lines(path, limit + (header ? 1 : 0)) : read_all(path);
    std::string_view text(reinterpret_cast<const char *>(raw.data()), raw.size());
    // A UTF-8 byte-order mark (spreadsheet exports write one) is not part of the first cell.
    // UTF-16 would fail at its first cell with an unreadable message: say what it is.
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
    if (text.substr(0, 2) == "\xFF\xFE" || text.substr(0, 2) == "\xFE\xFF")
        fail_io(path + ": the file is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8 or ASCII");

    int ncols = -1; // columns per row, fixed by the first row (header or data)
    int lcol = -1, tcol = -1;
    bool header_pending = header;
    std::vector<double> row;
    std::vector<std::string_view> cells;
    Dataset ds;
    int max_label = -1;

    int64_t line_no = 0;
    size_t pos = 0;
    while (pos < text.size() && !(limit > 0 && ds.n >= limit)) {
        size_t eol = text.find('\n', pos);
        if (eol == std::string_view::npos) eol = text.size();
        const std::string_view line = text.substr(pos, eol - pos);
        pos = eol + 1;
        ++line_no;
        if (trim(line).empty()) continue;

        // split into cells, remembering each cell's 1-based column
        row.clear();
        cells.clear();
        int count = 0;
        size_t cpos = 0;
        for (;;) {
            size_t comma = line.find(',', cpos);
            if (comma == std::string_view::npos) comma = line.size();
            const std::string_view cell = trim(line.substr(cpos, comma - cpos));
            ++count;
            if (!header_pending) {
                double v = 0.0;
                if (std::string why = parse_number(cell, v); !why.empty()) {
                    const bool first_row = ncols < 0 && !header;
                    fail_io(where(path, line_no, count) + why +
                            (first_row ? " (if the first row is a header, set data.header to true)" : ""));
                }
                if (!std::isfinite(v)) {
                    fail_io(where(path, line_no, count) + "non-finite value '" + std::string(cell) + "'");
                }
                if (std::fabs(v) > double(std::numeric_limits<float>::max())) {
                    fail_io(where(path, line_no, count) + "value '" + std::string(cell) +
                            "' does not fit a 32-bit float (largest magnitude 3.4e38)");
                }
                row.push_back(v);
                cells.push_back(cell);
            }
            if (comma == line.size()) break;
            cpos = comma + 1;
        }

        if (ncols < 0) {
            ncols = count;
            const int extra = task_column == -2 ? 1 : 2;
            if (ncols < extra + 1) {
                fail_io(where(path, line_no, 1) + "need at least " + std::to_string(extra + 1) +
                        " columns (features, label" + (extra == 2 ? ", task" : "") + "), got " + std::to_string(ncols));
            }
            tcol = task_column == -2 ? -1 : (task_column == -1 ? ncols - 1 : task_column);
            if (label_column == -1)
                lcol = (tcol == ncols - 1) ? ncols - 2 : ncols - 1;
            else
                lcol = label_column;
            if (lcol >= ncols)
                fail_spec("data.label_column: column " + std::to_string(lcol) + " is out of range: " + path + " has " +
                          std::to_string(ncols) + " columns (0.." + std::to_string(ncols - 1) + ")");
            if (tcol >= ncols)
                fail_spec("data.task_column: column " + std::to_string(tcol) + " is out of range: " + path + " has " +
                          std::to_string(ncols) + " columns (0.." + std::to_string(ncols - 1) + ")");
            if (tcol == lcol)
                fail_spec("data.label_column, data.task_column: both name column " + std::to_string(lcol) + " of " +
                          path);
            ds.d = ncols - (tcol >= 0 ? 2 : 1);
        } else if (count != ncols) {
            fail_io(where(path, line_no, std::min(count, ncols) + 1) + "row has " + std::to_string(count) +
                    " columns, expected " + std::to_string(ncols));
        }
        if (header_pending) {
            header_pending = false;
            continue;
        }

        for (int c = 0; c < ncols; ++c) {
            const double v = row[c];
            if (c == lcol || c == tcol) {
                const double most = double(c == lcol ? kMaxLabel : kMaxTaskId);
                if (v < 0.0 || v != std::floor(v) || v > most) {
                    fail_io(where(path, line_no, c + 1) + (c == lcol ? "label" : "task id") +
                            " must be an integer in 0.." + std::to_string((int64_t)most) + ", got '" +
                            std::string(cells[size_t(c)]) + "'");
                }
                if (c == lcol) {
                    ds.y.push_back(int32_t(v));
                    max_label = std::max(max_label, int(v));
                } else {
                    ds.task.push_back(int32_t(v));
                }
            } else {
                ds.x.push_back(float(v));
            }
        }
        if (tcol < 0) ds.task.push_back(0);
        ++ds.n;
    }
    if (ds.n == 0) fail_io(path + ": no data rows");
    ds.n_classes = max_label + 1;
    return ds;
}

} // namespace moe::data
