// check.cpp — check_finite (moe/data/dataset.hpp): every source's features must be finite; the
// first NaN or infinity is reported by sample, feature and value.
#include <cmath>
#include <cstddef>
#include <string>

#include "internal.hpp"
#include "moe/data/dataset.hpp"

namespace moe::data {

using namespace detail;

void check_finite(const Dataset & ds, const std::string & what) {
    const size_t d = size_t(ds.d);
    for (size_t i = 0; i < ds.x.size(); ++i) {
        if (!std::isfinite(ds.x[i])) {
            const size_t s = d ? i / d : 0;
            fail_io(what + ": non-finite feature in sample " + std::to_string(s) + " (feature " +
                    std::to_string(d ? i % d : i) + ", value " + std::to_string(ds.x[i]) + ")");
        }
    }
}

} // namespace moe::data
