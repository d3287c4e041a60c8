// data: the token cache of a text corpus — written once, in one streaming pass over the
// documents, to a temporary renamed into place; read by memory-mapping and checking it (layout in
// text_internal.hpp).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "moe/core/error.hpp"
#include "moe/core/sha256.hpp"
#include "text_internal.hpp"

namespace moe::data::text {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr char kMagic[9] = "MOETXT01";
constexpr size_t kTrailer = 16 + 32; // header offset, header length, sha256

// A buffered writer that hashes what it writes.
class HashedFile {
  public:
    explicit HashedFile(const std::string & path) : path_(path) {
        f_ = std::fopen(path.c_str(), "wbx"); // never over an existing file
        if (!f_) throw Error(ErrorCode::io, "cannot create the token cache " + path + ": " + std::strerror(errno));
    }
    ~HashedFile() {
        if (f_) std::fclose(f_);
    }
    void write(const void * p, size_t n) {
        sha_.update(p, n);
        if (std::fwrite(p, 1, n, f_) != n)
            throw Error(ErrorCode::io, "cannot write the token cache " + path_ + ": " + std::strerror(errno));
        size_ += n;
    }
    void write_raw(const void * p, size_t n) { // not hashed (the checksum itself)
        if (std::fwrite(p, 1, n, f_) != n)
            throw Error(ErrorCode::io, "cannot write the token cache " + path_ + ": " + std::strerror(errno));
    }
    void finish() {
        unsigned char d[32];
        sha_.digest(d);
        write_raw(d, 32);
        if (std::fflush(f_) != 0 || ::fsync(fileno(f_)) != 0 || std::fclose(f_) != 0) {
            f_ = nullptr;
            throw Error(ErrorCode::io, "cannot write the token cache " + path_ + ": " + std::strerror(errno));
        }
        f_ = nullptr;
    }
    uint64_t size() const { return size_; }

  private:
    std::string path_;
    std::FILE * f_ = nullptr;
    Sha256 sha_;
    uint64_t size_ = 0;
};

void put_u64(unsigned char * p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = (unsigned char)(v >> (8 * i));
}
uint64_t get_u64(const unsigned char * p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

std::string read_file(const fs::path & p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw Error(ErrorCode::io, "cannot read the document " + p.string() + ": " + std::strerror(errno));
    std::string s((std::istreambuf_iterator<char>(in)), {});
    if (in.bad()) throw Error(ErrorCode::io, "cannot read the document " + p.string());
    return s;
}

class MappedCorpus final : public TextCorpus {
  public:
    MappedCorpus(void * base, size_t size, std::vector<TextDomainInfo> d, std::vector<std::array<int64_t, 3>> off,
                 std::string path, std::string fp)
        : base_(base), size_(size), off_(std::move(off)) {
        domains_ = std::move(d);
        cache_path_ = std::move(path);
        fingerprint_ = std::move(fp);
    }
    ~MappedCorpus() override { ::munmap(base_, size_); }
    const uint16_t * tokens(int domain, TextSplit s) const override {
        return reinterpret_cast<const uint16_t *>(static_cast<const char *>(base_) + 8) + off_[domain][(int)s];
    }

  private:
    void * base_;
    size_t size_;
    std::vector<std::array<int64_t, 3>> off_;
};

} // namespace

void build_cache(const Plan & plan, const std::string & path, Tokenizer & tokenizer) {
    const bool bytes_are_tokens = tokenizer.kind() == "byte";
    std::vector<int32_t> ids;
    std::random_device rd;
    const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
    try {
        HashedFile f(tmp);
        f.write(kMagic, 8);
        json header;
        header["format"] = "moe-lab text cache";
        header["version"] = 1;
        header["fingerprint"] = plan.fingerprint;
        header["tokenizer"] = tokenizer.kind();
        if (!bytes_are_tokens) header["tokenizer_sha256"] = tokenizer.fingerprint();
        header["vocab"] = tokenizer.vocab();
        json doms = json::array();
        int64_t offset = 0;
        std::vector<uint16_t> buf;
        for (size_t di = 0; di < plan.domains.size(); ++di) {
            const auto & info = plan.domains[di];
            const auto & docs = plan.docs[di];
            Sha256 dom; // key \0 hex(sha256(content)) \n over every document in key order
            std::vector<std::string> content_hash(docs.size());
            json jd;
            jd["name"] = info.name;
            std::array<int64_t, 3> offs{}, jt{};
            for (int s = 0; s < 3; ++s) {
                offs[s] = offset;
                const int64_t cap = plan.caps[s][di];
                int64_t bytes = 0, tokens = 0;
                for (size_t k = 0; k < docs.size(); ++k) {
                    const Doc & d = docs[k];
                    if (d.split != s) continue;
                    const std::string text = read_file(d.path);
                    if ((int64_t)text.size() != d.size)
                        throw Error(ErrorCode::io, "the document " + d.path.string() + " changed while it was read");
                    content_hash[k] = sha256_hex(text);
                    const int64_t room = cap > 0 ? cap - bytes : (int64_t)text.size();
                    if (room <= 0) continue;
                    const int64_t n = std::min<int64_t>(room, (int64_t)text.size());
                    buf.clear();
                    if (tokens > 0) buf.push_back((uint16_t)tokenizer.boundary());
                    if (bytes_are_tokens) {
                        for (int64_t i = 0; i < n; ++i) buf.push_back((uint16_t)(unsigned char)text[(size_t)i]);
                    } else {
                        ids.clear();
                        tokenizer.encode(std::string_view(text).substr(0, (size_t)n), ids);
                        for (int32_t t : ids) buf.push_back((uint16_t)t);
                    }
                    // little-endian on disk
                    for (auto & t : buf) {
                        const unsigned char le[2] = {(unsigned char)(t & 0xff), (unsigned char)(t >> 8)};
                        std::memcpy(&t, le, 2);
                    }
                    f.write(buf.data(), buf.size() * 2);
                    tokens += (int64_t)buf.size();
                    bytes += n;
                }
                MOE_ASSERT(bytes == info.bytes[s] && (!bytes_are_tokens || tokens == info.tokens[s]));
                jt[s] = tokens;
                offset += tokens;
            }
            for (size_t k = 0; k < docs.size(); ++k) {
                if (content_hash[k].empty()) content_hash[k] = sha256_hex(read_file(docs[k].path));
                dom.update(docs[k].key);
                dom.update("\0", 1);
                dom.update(content_hash[k] + "\n");
            }
            jd["sha256"] = dom.hex();
            jd["documents"] = {info.docs[0], info.docs[1], info.docs[2]};
            jd["bytes"] = {info.bytes[0], info.bytes[1], info.bytes[2]};
            jd["tokens"] = {jt[0], jt[1], jt[2]};
            jd["offsets"] = {offs[0], offs[1], offs[2]};
            jd["caps"] = {plan.caps[0][di], plan.caps[1][di], plan.caps[2][di]};
            doms.push_back(jd);
        }
        header["domains"] = doms;
        header["total_tokens"] = offset;
        const std::string h = header.dump();
        const uint64_t hoff = f.size();
        f.write(h.data(), h.size());
        unsigned char tail[16];
        put_u64(tail, hoff);
        put_u64(tail + 8, h.size());
        f.write(tail, 16);
        f.finish();
        std::error_code ec;
        fs::rename(tmp, path, ec);
        if (ec) throw Error(ErrorCode::io, "cannot move the token cache into place at " + path + ": " + ec.message());
    } catch (...) {
        std::error_code ec;
        fs::remove(tmp, ec);
        throw;
    }
}

std::unique_ptr<TextCorpus> map_cache(const std::string & path, const std::string & fingerprint, int vocab) {
    const std::vector<std::string> hint = {"delete it and run again to rebuild it from the corpus"};
    auto bad = [&](const std::string & what) {
        return Error(ErrorCode::io, "the token cache " + path + " " + what, hint);
    };
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(ErrorCode::io, "cannot open the token cache " + path + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw bad("is not a regular file");
    }
    const size_t size = (size_t)st.st_size;
    if (size < 8 + kTrailer) {
        ::close(fd);
        throw bad("is truncated (" + std::to_string(size) + " bytes)");
    }
    void * base = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (base == MAP_FAILED)
        throw Error(ErrorCode::io, "cannot map the token cache " + path + ": " + std::strerror(errno));
    const auto * p = static_cast<const unsigned char *>(base);
    try {
        if (std::memcmp(p, kMagic, 8) != 0) throw bad("is not a moe-lab token cache (no MOETXT01 magic)");
        const uint64_t hoff = get_u64(p + size - kTrailer), hlen = get_u64(p + size - kTrailer + 8);
        if (hoff < 8 || hoff > size || hlen > size || hoff + hlen != size - kTrailer)
            throw bad("is truncated or damaged (its trailer does not match its size)");
        ::madvise(base, size, MADV_SEQUENTIAL);
        Sha256 sha; // the checksum over everything before it, in pieces (a large cache is streamed)
        for (size_t i = 0; i < size - 32; i += (size_t)1 << 24)
            sha.update(p + i, std::min<size_t>(size - 32 - i, 1 << 24));
        unsigned char d[32];
        sha.digest(d);
        if (std::memcmp(d, p + size - 32, 32) != 0) throw bad("is damaged (its sha256 checksum does not match)");
        ::madvise(base, size, MADV_RANDOM);
        json h;
        try {
            h = json::parse(std::string(reinterpret_cast<const char *>(p + hoff), hlen));
        } catch (const std::exception & e) { throw bad(std::string("has an unreadable header: ") + e.what()); }
        if (h.value("fingerprint", "") != fingerprint)
            throw bad("belongs to another corpus or configuration (fingerprint " +
                      h.value("fingerprint", std::string("none")).substr(0, 24) + ", expected " +
                      fingerprint.substr(0, 24) + ")");
        const int64_t total = h.at("total_tokens").get<int64_t>();
        if (total < 0 || (uint64_t)total * 2 + 8 != hoff) throw bad("has a header that does not match its tokens");
        std::vector<TextDomainInfo> doms;
        std::vector<std::array<int64_t, 3>> offs;
        for (const auto & jd : h.at("domains")) {
            TextDomainInfo info;
            info.name = jd.at("name").get<std::string>();
            info.sha256 = jd.at("sha256").get<std::string>();
            std::array<int64_t, 3> o{};
            for (int s = 0; s < 3; ++s) {
                info.docs[s] = jd.at("documents")[s].get<int64_t>();
                info.bytes[s] = jd.at("bytes")[s].get<int64_t>();
                info.tokens[s] = jd.at("tokens")[s].get<int64_t>();
                o[s] = jd.at("offsets")[s].get<int64_t>();
                if (o[s] < 0 || info.tokens[s] < 0 || o[s] + info.tokens[s] > total)
                    throw bad("has a stream outside its tokens");
            }
            doms.push_back(info);
            offs.push_back(o);
        }
        const auto * tok = reinterpret_cast<const uint16_t *>(p + 8);
        for (int64_t i = 0; i < total; ++i)
            if (tok[i] >= vocab) throw bad("holds a token id out of range");
        return std::make_unique<MappedCorpus>(base, size, std::move(doms), std::move(offs), path, fingerprint);
    } catch (const nlohmann::json::exception & e) {
        ::munmap(base, size);
        throw bad(std::string("has a bad header: ") + e.what());
    } catch (...) {
        ::munmap(base, size);
        throw;
    }
}

} // namespace moe::data::text
