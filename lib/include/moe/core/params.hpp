// moe/core/params.hpp — the parameter arena (llm.c's malloc_and_point, generalised).
//
// Modules declare named tensors (name, shape, trainable, init). allocate() then places every
// trainable tensor in one contiguous block (so optimizers run one flat loop over it), every
// frozen tensor in a second block, and a gradient block with the same layout as the trainable
// one. Frozen tensors have NO gradient buffer: grad(id) == nullptr.
// Initial values depend only on (seed, name) — see core/rng.hpp.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "moe/core/huge_alloc.hpp"
#include <string>
#include <unordered_map>
#include <vector>

#include "moe/core/error.hpp"

namespace moe {

struct Init {
    enum Kind { zeros, ones, constant, uniform, normal } kind = zeros;
    double a = 0.0; // uniform: U(-a, a); normal: std a; constant: value a
    static Init Zeros() { return {zeros, 0.0}; }
    static Init Ones() { return {ones, 1.0}; }
    static Init Constant(double v) { return {constant, v}; }
    static Init Uniform(double bound) { return {uniform, bound}; }
    static Init Normal(double std) { return {normal, std}; }
    // PyTorch nn.Linear default (kaiming_uniform a=sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    static Init KaimingUniform(int64_t fan_in);
};

struct ParamInfo {
    std::string name;           // hierarchical, e.g. "blocks.0.attn.qkv.weight"
    std::vector<int64_t> shape; // row-major
    bool trainable = true;
    Init init;
    size_t size = 0;   // number of elements
    size_t offset = 0; // into the trainable or frozen block
};

template <typename T>
class ParamStore {
  public:
    // Declare a tensor; returns its id. Names must be unique. Only before allocate().
    int declare(const std::string & name, std::vector<int64_t> shape, bool trainable, Init init);
    // Allocate the blocks and initialise every tensor from (seed, name). Only once.
    void allocate(uint64_t seed);
    bool allocated() const { return allocated_; }

    T * value(int id);
    const T * value(int id) const;
    T * grad(int id); // nullptr for frozen tensors
    const ParamInfo & info(int id) const { return infos_.at(id); }
    const std::vector<ParamInfo> & infos() const { return infos_; }
    int find(const std::string & name) const; // -1 if absent
    int size() const { return static_cast<int>(infos_.size()); }

    std::span<T> trainable_values() { return {trainable_.data(), trainable_.size()}; }
    std::span<T> trainable_grads() { return {grads_.data(), grads_.size()}; }
    std::span<const T> trainable_values() const { return {trainable_.data(), trainable_.size()}; }
    std::span<const T> trainable_grads() const { return {grads_.data(), grads_.size()}; }
    size_t n_trainable() const { return trainable_.size(); }
    size_t n_frozen() const { return frozen_.size(); }
    void zero_grad();

  private:
    std::vector<ParamInfo> infos_;
    std::unordered_map<std::string, int> by_name_;
    HugeVector<T> trainable_, frozen_, grads_; // streamed every step: on huge pages
    bool allocated_ = false;
};

extern template class ParamStore<float>;
extern template class ParamStore<double>;

} // namespace moe
