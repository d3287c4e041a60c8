// nn: the tables through which the kernels compiled once per SIMD target are called
// (kernels.cpp, attention_kernels.cpp, lm_kernels.cpp). A file lists its kernels as
// MOE_KERNELS_OF_FILE(X) and declares its table of slots with MOE_KERNEL_SLOT; every target's
// pass of foreach_target fills one FloatDouble of them (MOE_KERNEL_FLOAT, MOE_KERNEL_DOUBLE), and
// the public kernels call pick<T>() of the target chosen at run time. Private to lib/src/nn.
#pragma once
#include <type_traits>

namespace moe::nn::detail {

// a file's kernels in float and in double, one target's
template <template <typename> class Table>
struct FloatDouble {
    Table<float> f;
    Table<double> d;
};

template <typename T, template <typename> class Table>
const Table<T> & pick(const FloatDouble<Table> & t) {
    if constexpr (std::is_same_v<T, float>)
        return t.f;
    else
        return t.d;
}

} // namespace moe::nn::detail

// a slot of Table<T>: a pointer to the public kernel's type
#define MOE_KERNEL_SLOT(name) decltype(&nn::name<T>) name;
// the slots' values in one target's namespace
#define MOE_KERNEL_FLOAT(name) &name<float>,
#define MOE_KERNEL_DOUBLE(name) &name<double>,
