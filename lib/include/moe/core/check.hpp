// moe/core/check.hpp — the range or choice a spec field must satisfy. Every config header
// describes its fields once, in a visit() function over a visitor with
//   v.field(key, value, doc, check = {})   v.object(key, sub_struct, doc)   v.list(key, vector, doc)
// and the spec module's visitors (JSON reader, writer, documenter) walk those descriptions.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace moe {

struct Check {
    std::optional<double> min, max;
    bool min_exclusive = false;
    std::vector<std::string> choices;
};
inline Check at_least(double v) {
    Check c;
    c.min = v;
    return c;
}
inline Check positive() {
    Check c;
    c.min = 0;
    c.min_exclusive = true;
    return c;
}
inline Check range(double lo, double hi) {
    Check c;
    c.min = lo;
    c.max = hi;
    return c;
}
inline Check one_of(std::vector<std::string> v) {
    Check c;
    c.choices = std::move(v);
    return c;
}

} // namespace moe
