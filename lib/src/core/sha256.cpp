// core: SHA-256 through OpenSSL's EVP interface (see moe/core/sha256.hpp).
#include "moe/core/sha256.hpp"

#include <openssl/evp.h>

#include "moe/core/error.hpp"

namespace moe {

struct Sha256::Impl {
    EVP_MD_CTX * ctx = nullptr;
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
    impl_->ctx = EVP_MD_CTX_new();
    MOE_CHECK(impl_->ctx && EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) == 1, ErrorCode::internal,
              "SHA-256: OpenSSL could not start a digest");
}

Sha256::~Sha256() { EVP_MD_CTX_free(impl_->ctx); }

void Sha256::update(const void * data, size_t n) {
    MOE_CHECK(EVP_DigestUpdate(impl_->ctx, data, n) == 1, ErrorCode::internal, "SHA-256: digest update failed");
}

void Sha256::digest(unsigned char out[32]) {
    unsigned int len = 0;
    MOE_CHECK(EVP_DigestFinal_ex(impl_->ctx, out, &len) == 1 && len == 32, ErrorCode::internal,
              "SHA-256: digest failed");
    MOE_CHECK(EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) == 1, ErrorCode::internal,
              "SHA-256: OpenSSL could not restart a digest");
}

std::string Sha256::hex() {
    unsigned char d[32];
    digest(d);
    static const char * k = "0123456789abcdef";
    std::string s(64, '0');
    for (int i = 0; i < 32; ++i) {
        s[2 * i] = k[d[i] >> 4];
        s[2 * i + 1] = k[d[i] & 15];
    }
    return s;
}

std::string sha256_hex(std::string_view data) {
    Sha256 h;
    h.update(data);
    return h.hex();
}

} // namespace moe
