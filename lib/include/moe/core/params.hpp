// moe/core/params.hpp — the parameter arena (llm.c's malloc_and_point, generalised).
//
// Modules declare named tensors (name, shape, trainable, init). allocate() then places every
// trainable tensor in one contiguous block (so optimizers run one flat loop over it), every
// frozen tensor in a second block, and a gradient block with the same layout as the trainable
// one. Frozen tensors have NO gradient buffer: grad(id) == nullptr.
// Initial values depend only on (seed, name) — see core/rng.hpp.
//
// bfloat16 storage (model.base_storage = "bf16"): set_frozen_bf16(true) before allocate() keeps
// every frozen tensor that its module marked allow_bf16 (the gpt model's Linear weights) in a
// third block of bfloat16 bits (round-to-nearest-even from T) instead of the frozen block.
// value(id) is then nullptr for it: bf16(id) holds its bits, assign() and read_value() convert.
// A module widens such a weight into bf16_scratch() (one tensor's worth, allocated with the
// blocks) before each use, so nothing allocates in a step.
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
    bool allow_bf16 = false; // a frozen copy may be kept in bfloat16 (set_frozen_bf16)
    bool bf16 = false;       // kept in bfloat16: value() is nullptr, bf16() holds it
    Init init;
    size_t size = 0;   // number of elements
    size_t offset = 0; // into the trainable, frozen or bfloat16 block
};

template <typename T>
class ParamStore {
  public:
    // Declare a tensor; returns its id. Names must be unique. Only before allocate().
    int declare(const std::string & name, std::vector<int64_t> shape, bool trainable, Init init);
    // Allocate the blocks and initialise every tensor from (seed, name). Only once.
    void allocate(uint64_t seed);
    bool allocated() const { return allocated_; }
    // Marks a tensor as one whose frozen copy may be kept in bfloat16. Only before allocate().
    void allow_bf16(int id);
    // Keep the frozen allow_bf16 tensors in bfloat16. Only before allocate().
    void set_frozen_bf16(bool on);
    bool frozen_bf16() const { return frozen_bf16_; }

    T * value(int id); // nullptr for a tensor kept in bfloat16
    const T * value(int id) const;
    const uint16_t * bf16(int id) const; // its bfloat16 bits, nullptr unless kept in bfloat16
    // value := src[0, size) (rounded to bfloat16, nearest even, when kept in bfloat16)
    void assign(int id, const T * src);
    // out[0, size) := value (widened exactly from bfloat16 when kept in bfloat16)
    void read_value(int id, T * out) const;
    // (elements of the largest bfloat16 tensor) scratch for widening one of them; nullptr if none
    T * bf16_scratch() { return bf16_scratch_.empty() ? nullptr : bf16_scratch_.data(); }
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
    size_t n_frozen() const { return frozen_.size() + bf16_.size(); } // elements, either storage
    // Elements kept in bfloat16 and the scratch they need (both known once declared).
    size_t n_frozen_bf16() const;
    size_t bf16_scratch_size() const;
    void zero_grad();

  private:
    std::vector<ParamInfo> infos_;
    std::unordered_map<std::string, int> by_name_;
    HugeVector<T> trainable_, frozen_, grads_; // streamed every step: on huge pages
    HugeVector<uint16_t> bf16_;                // frozen tensors kept in bfloat16
    HugeVector<T> bf16_scratch_;               // one bfloat16 tensor widened
    bool allocated_ = false, frozen_bf16_ = false;
    bool kept_bf16(const ParamInfo & pi) const { return frozen_bf16_ && pi.allow_bf16 && !pi.trainable; }
};

// bfloat16 bits of x, round to nearest even (NaN stays a quiet NaN); widening is exact.
uint16_t float_to_bf16(float x);
inline float bf16_to_float(uint16_t b) {
    const uint32_t u = uint32_t(b) << 16;
    float f;
    __builtin_memcpy(&f, &u, sizeof f);
    return f;
}
// out[0, n) := widened in[0, n) (over the thread pool for large n)
template <typename T>
void bf16_widen(T * out, const uint16_t * in, int64_t n);

extern template class ParamStore<float>;
extern template class ParamStore<double>;

} // namespace moe
