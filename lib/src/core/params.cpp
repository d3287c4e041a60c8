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

template <typename T>
void ParamStore<T>::allocate(uint64_t seed) {
    MOE_ASSERT(!allocated_);
    size_t nt = 0, nf = 0;
    for (auto & pi : infos_) {
        // keep every tensor 16-element aligned inside its block (64 bytes in float)
        size_t & n = pi.trainable ? nt : nf;
        pi.offset = n;
        n += (pi.size + 15) / 16 * 16;
    }
    trainable_.assign(nt, T(0));
    frozen_.assign(nf, T(0));
    grads_.assign(nt, T(0));
    allocated_ = true;
    for (int id = 0; id < size(); ++id) {
        const auto & pi = infos_[id];
        T * v = value(id);
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
    }
}

template <typename T>
T * ParamStore<T>::value(int id) {
    MOE_ASSERT(allocated_ && id >= 0 && id < size());
    const auto & pi = infos_[id];
    return (pi.trainable ? trainable_.data() : frozen_.data()) + pi.offset;
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
