// glob.cpp — name patterns (moe/core/glob.hpp): '*' matches any run of characters, '?' one
// character, everything else itself.
#include "moe/core/glob.hpp"

namespace moe {

// Matches s against pattern p in one pass, without recursion: on a mismatch after a '*' it
// backtracks to that last '*' and lets it swallow one more character of s (greedy, linear
// memory, O(|p| * |s|) at worst).
static bool match_backtracking_to_last_star(std::string_view p, std::string_view s) {
    size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
    while (si < s.size()) {
        if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) {
            ++pi;
            ++si;
        } else if (pi < p.size() && p[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (star != std::string_view::npos) {
            pi = star + 1;
            si = ++mark;
        } else
            return false;
    }
    while (pi < p.size() && p[pi] == '*') ++pi;
    return pi == p.size();
}

bool glob_match(std::string_view pattern, std::string_view name) {
    return match_backtracking_to_last_star(pattern, name);
}

bool glob_any(const std::vector<std::string> & patterns, std::string_view name) {
    for (const auto & p : patterns)
        if (glob_match(p, name)) return true;
    return false;
}

} // namespace moe
