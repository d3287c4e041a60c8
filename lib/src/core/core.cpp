// core: errors, logging hook, rng, glob, parameter arena.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>

#include "moe/core/error.hpp"
#include "moe/core/parallel.hpp"
#include "moe/core/glob.hpp"
#include "moe/core/log.hpp"
#include "moe/core/params.hpp"
#include "moe/core/rng.hpp"

namespace moe {

// ---------------------------------------------------------------------------- errors
static std::string spec_error_message(const std::string & source, const std::vector<SpecProblem> & ps) {
    std::string m = source.empty() ? std::string("invalid spec") : "invalid spec " + source;
    m += ": " + std::to_string(ps.size()) + (ps.size() == 1 ? " problem" : " problems");
    for (const auto & p : ps) m += "\n  " + (p.path.empty() ? std::string("(root)") : p.path) + ": " + p.message;
    return m;
}

SpecError::SpecError(std::string source, std::vector<SpecProblem> problems)
    : Error(ErrorCode::spec, spec_error_message(source, problems)), source_(std::move(source)),
      problems_(std::move(problems)) {}

void throw_internal(const char * file, int line, const std::string & what) {
    throw Error(ErrorCode::internal, std::string("internal error: ") + what + " (" + file + ":" + std::to_string(line) + ")");
}

// ---------------------------------------------------------------------------- logging
static std::mutex g_log_mu;
static LogCallback g_log_cb;

void set_log_callback(LogCallback cb) {
    std::lock_guard<std::mutex> lk(g_log_mu);
    g_log_cb = std::move(cb);
}

void log_message(LogLevel level, std::string_view msg) {
    std::lock_guard<std::mutex> lk(g_log_mu);
    if (g_log_cb) g_log_cb(level, msg);
}

// ---------------------------------------------------------------------------- rng
uint64_t hash_name(std::string_view name) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : name) { h ^= c; h *= 1099511628211ull; }
    return h;
}

static uint64_t splitmix64(uint64_t & x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t seed_for(uint64_t seed, std::string_view name) {
    uint64_t x = seed ^ hash_name(name);
    return splitmix64(x);
}

void Rng::reseed(uint64_t seed) {
    uint64_t x = seed;
    for (auto & s : st_.s) s = splitmix64(x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t Rng::next_u64() {
    auto & s = st_.s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double Rng::normal() {
    double u1 = uniform();
    double u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

uint64_t Rng::below(uint64_t n) {
    MOE_ASSERT(n > 0);
    // Lemire's nearly-divisionless method (rejection keeps it unbiased)
    __uint128_t m = static_cast<__uint128_t>(next_u64()) * n;
    uint64_t l = static_cast<uint64_t>(m);
    if (l < n) {
        uint64_t t = (0 - n) % n;
        while (l < t) {
            m = static_cast<__uint128_t>(next_u64()) * n;
            l = static_cast<uint64_t>(m);
        }
    }
    return static_cast<uint64_t>(m >> 64);
}

// ---------------------------------------------------------------------------- glob
static bool glob_rec(std::string_view p, std::string_view s) {
    size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
    while (si < s.size()) {
        if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) { ++pi; ++si; }
        else if (pi < p.size() && p[pi] == '*') { star = pi++; mark = si; }
        else if (star != std::string_view::npos) { pi = star + 1; si = ++mark; }
        else return false;
    }
    while (pi < p.size() && p[pi] == '*') ++pi;
    return pi == p.size();
}

bool glob_match(std::string_view pattern, std::string_view name) { return glob_rec(pattern, name); }

bool glob_any(const std::vector<std::string> & patterns, std::string_view name) {
    for (const auto & p : patterns)
        if (glob_match(p, name)) return true;
    return false;
}

// ---------------------------------------------------------------------------- params
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
    for (auto d : pi.shape) { MOE_ASSERT(d > 0); pi.size *= static_cast<size_t>(d); }
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
    par::parallel_for((int64_t)grads_.size(), 1 << 15, [&](int64_t i0, int64_t i1) {
        std::fill(grads_.begin() + i0, grads_.begin() + i1, T(0));
    }, 16);
}

template class ParamStore<float>;
template class ParamStore<double>;

} // namespace moe
