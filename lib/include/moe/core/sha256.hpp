// moe/core/sha256.hpp — SHA-256 (OpenSSL's libcrypto) as lowercase hex, whole or incremental.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace moe {

class Sha256 {
  public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256 &) = delete;
    Sha256 & operator=(const Sha256 &) = delete;
    void update(const void * data, size_t n);
    void update(std::string_view s) { update(s.data(), s.size()); }
    std::string hex(); // finishes the digest; the object is then reset for reuse
    void digest(unsigned char out[32]);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

std::string sha256_hex(std::string_view data);

} // namespace moe
