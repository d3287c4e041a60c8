// params.cpp — the parameter arena (moe/core/params.hpp): declaring tensors, placing them in
// the trainable, frozen and gradient blocks, initialising them from (seed, name), and zeroing
// the gradients over the thread pool. Instantiated for float and double.
#include "moe/core/params.hpp"

#include <algorithm>
#include <cmath>

#include "moe/core/error.hpp"
#include "moe/core/parallel.hpp"
#include "moe/core/rng.hpp"

namespace moe {

Init Init::KaimingUniform(int64_t fan_in) { return Uniform(1.0 / std::sqrt(static_cast<double>(fan_in))); }

template <typename T>
int ParamStore<T>::declare(const std::string & name, std::vector<int64_t> shape, bool trainable, Init init) {
    MOE_ASSERT(!allocated_);
    if (by_name_.count(name)) throw_internal(__FILE__, __LINE__, "parameter declared twice: " + name);
    ParamInfo pi;
    pi.name = name;
    pi.shape = std::move(shape);
    pi.trainable = trainable;
    pi.init = init;
    pi.size = 1;
    for (auto d : pi.shape) {
        MOE_ASSERT(d > 0);
        pi.size *= static_cast<size_t>(d);
    }
    int id = static_cast<int>(infos_.size());
    by_name_[name] = id;
    infos_.push_back(std::move(pi));
    return id;
}

uint16_t float_to_bf16(float x) {
    uint32_t u;
    __builtin_memcpy(&u, &x, sizeof u);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return uint16_t((u >> 16) | 0x0040u); // NaN: quiet, sign kept
    return uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

template <typename T>
void bf16_widen(T * out, const uint16_t * in, int64_t n) {
    par::parallel_for(n, 1 << 16, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) out[i] = T(bf16_to_float(in[i]));
    });
}
template void bf16_widen<float>(float *, const uint16_t *, int64_t);
template void bf16_widen<double>(double *, const uint16_t *, int64_t);

template <typename T>
void ParamStore<T>::allow_bf16(int id) {
    MOE_ASSERT(!allocated_ && id >= 0 && id < size());
    infos_[id].allow_bf16 = true;
}

template <typename T>
void ParamStore<T>::set_frozen_bf16(bool on) {
    MOE_ASSERT(!allocated_);
    frozen_bf16_ = on;
}

template <typename T>
size_t ParamStore<T>::n_frozen_bf16() const {
    size_t n = 0;
    for (const auto & pi : infos_)
        if (kept_bf16(pi)) n += (pi.size + 15) / 16 * 16;
    return n;
}

template <typename T>
size_t ParamStore<T>::bf16_scratch_size() const {
    size_t n = 0;
    for (const auto & pi : infos_)
        if (kept_bf16(pi)) n = std::max(n, pi.size);
    return n;
}

template <typename T>
void ParamStore<T>::allocate(uint64_t seed) {
    MOE_ASSERT(!allocated_);
    size_t nt = 0, nf = 0, nh = 0;
    for (auto & pi : infos_) {
        // keep every tensor 16-element aligned inside its block (64 bytes in float)
        pi.bf16 = kept_bf16(pi);
        size_t & n = pi.bf16 ? nh : pi.trainable ? nt : nf;
        pi.offset = n;
        n += (pi.size + 15) / 16 * 16;
    }
    trainable_.assign(nt, T(0));
    frozen_.assign(nf, T(0));
    grads_.assign(nt, T(0));
    bf16_.assign(nh, uint16_t(0));
    bf16_scratch_.assign(bf16_scratch_size(), T(0));
    allocated_ = true;
    std::vector<T> tmp; // a bfloat16 tensor's initial values, rounded by assign()
    for (int id = 0; id < size(); ++id) {
        const auto & pi = infos_[id];
        if (pi.bf16) tmp.assign(pi.size, T(0));
        T * v = pi.bf16 ? tmp.data() : value(id);
        Rng rng(seed, pi.name);
        switch (pi.init.kind) {
        case Init::zeros: break;
        case Init::ones: std::fill(v, v + pi.size, T(1)); break;
        case Init::constant: std::fill(v, v + pi.size, static_cast<T>(pi.init.a)); break;
        case Init::uniform:
            for (size_t i = 0; i < pi.size; ++i) v[i] = static_cast<T>(rng.uniform(-pi.init.a, pi.init.a));
            break;
        case Init::normal:
            for (size_t i = 0; i < pi.size; ++i) v[i] = static_cast<T>(pi.init.a * rng.normal());
            break;
        }
        if (pi.bf16) assign(id, v);
    }
}

template <typename T>
T * ParamStore<T>::value(int id) {
    MOE_ASSERT(allocated_ && id >= 0 && id < size());
    const auto & pi = infos_[id];
    if (pi.bf16) return nullptr;
    return (pi.trainable ? trainable_.data() : frozen_.data()) + pi.offset;
}

template <typename T>
const uint16_t * ParamStore<T>::bf16(int id) const {
    MOE_ASSERT(allocated_ && id >= 0 && id < size());
    const auto & pi = infos_[id];
    return pi.bf16 ? bf16_.data() + pi.offset : nullptr;
}

template <typename T>
void ParamStore<T>::assign(int id, const T * src) {
    const auto & pi = infos_.at(id);
    if (!pi.bf16) {
        std::copy(src, src + pi.size, value(id));
        return;
    }
    uint16_t * d = bf16_.data() + pi.offset;
    for (size_t i = 0; i < pi.size; ++i) d[i] = float_to_bf16(static_cast<float>(src[i]));
}

template <typename T>
void ParamStore<T>::read_value(int id, T * out) const {
    const auto & pi = infos_.at(id);
    if (const uint16_t * h = bf16(id))
        bf16_widen(out, h, int64_t(pi.size));
    else
        std::copy(value(id), value(id) + pi.size, out);
}

template <typename T>
const T * ParamStore<T>::value(int id) const {
    return const_cast<ParamStore<T> *>(this)->value(id);
}

template <typename T>
T * ParamStore<T>::grad(int id) {
    MOE_ASSERT(allocated_ && id >= 0 && id < size());
    const auto & pi = infos_[id];
    return pi.trainable ? grads_.data() + pi.offset : nullptr;
}

template <typename T>
int ParamStore<T>::find(const std::string & name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? -1 : it->second;
}

template <typename T>
void ParamStore<T>::zero_grad() {
    par::parallel_for((int64_t)grads_.size(), 1 << 15,
                      [&](int64_t i0, int64_t i1) { std::fill(grads_.begin() + i0, grads_.begin() + i1, T(0)); }, 16);
}

template class ParamStore<float>;
template class ParamStore<double>;

} // namespace moe
