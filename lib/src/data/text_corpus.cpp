// data: a text corpus from its domains' paths — finding the documents, the split rule, the caps
// and the fingerprint that names the token cache (see moe/data/text.hpp).
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>

#include "moe/core/error.hpp"
#include "moe/core/sha256.hpp"
#include "text_internal.hpp"

namespace moe::data {

namespace fs = std::filesystem;
using text::Doc;

namespace {

bool has_wildcard(const std::string & s) { return s.find_first_of("*?[") != std::string::npos; }

// fnmatch with '*' crossing '/', where each "**/" may also match no folder at all
bool path_match(const std::string & pat, const std::string & rel) {
    if (fnmatch(pat.c_str(), rel.c_str(), 0) == 0) return true;
    for (size_t p = pat.find("**/"); p != std::string::npos; p = pat.find("**/", p + 1))
        if (path_match(pat.substr(0, p) + pat.substr(p + 3), rel)) return true;
    return false;
}

int64_t mtime_ns(const fs::path & p) {
    std::error_code ec;
    const auto t = fs::last_write_time(p, ec);
    return ec ? 0 : (int64_t)std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// every regular file below dir (symlinks skipped), keys relative to dir; those matching pat
void walk(const fs::path & dir, const std::string & pat, std::vector<Doc> & out, const std::string & where) {
    std::error_code ec;
    fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
    if (ec) throw Error(ErrorCode::io, where + ": cannot list the folder " + dir.string() + ": " + ec.message());
    for (; it != end; it.increment(ec)) {
        if (ec) throw Error(ErrorCode::io, where + ": cannot list below " + dir.string() + ": " + ec.message());
        const auto st = it->symlink_status(ec);
        if (ec || fs::is_symlink(st) || !fs::is_regular_file(st)) continue;
        const std::string rel = fs::relative(it->path(), dir, ec).generic_string();
        if (ec || rel.empty()) continue;
        if (!pat.empty() && !path_match(pat, rel)) continue;
        Doc d;
        d.key = rel;
        d.path = it->path();
        d.size = (int64_t)it->file_size(ec);
        if (ec) throw Error(ErrorCode::io, where + ": cannot read the size of " + it->path().string());
        d.mtime_ns = mtime_ns(d.path);
        out.push_back(std::move(d));
    }
}

// the documents of one entry of a domain's paths
void find_docs(const std::string & entry, std::vector<Doc> & out, const std::string & where) {
    MOE_CHECK(!entry.empty(), ErrorCode::spec, where + ": an empty path");
    std::error_code ec;
    if (has_wildcard(entry)) { // the fixed folders before the first wildcard, then the pattern
        fs::path fixed, pat;
        bool wild = false;
        for (const auto & part : fs::path(entry)) {
            if (!wild && has_wildcard(part.string())) wild = true;
            (wild ? pat : fixed) /= part;
        }
        if (fixed.empty()) fixed = ".";
        if (!fs::is_directory(fixed, ec))
            throw Error(ErrorCode::io,
                        where + ": the glob '" + entry + "' starts in " + fixed.string() + ", which is not a folder");
        const size_t before = out.size();
        walk(fixed, pat.generic_string(), out, where);
        if (out.size() == before) throw Error(ErrorCode::io, where + ": the glob '" + entry + "' matches no file");
        return;
    }
    const fs::path p(entry);
    if (fs::is_directory(p, ec)) return walk(p, "", out, where);
    if (fs::is_regular_file(p, ec)) {
        Doc d;
        d.key = p.filename().string();
        d.path = p;
        d.size = (int64_t)fs::file_size(p, ec);
        d.mtime_ns = mtime_ns(p);
        out.push_back(std::move(d));
        return;
    }
    throw Error(ErrorCode::io, where + ": '" + entry + "' " +
                                   (fs::exists(p, ec) ? "is neither a file nor a folder" : "does not exist"));
}

// the split rule: int(sha256(domain:key)[:8], 16) % 100 against the test and val buckets
int split_of(const std::string & domain, const std::string & key, int test_pct, int val_pct) {
    const std::string h = sha256_hex(domain + ":" + key);
    const int bucket = (int)(std::strtoul(h.substr(0, 8).c_str(), nullptr, 16) % 100);
    if (bucket < test_pct) return (int)TextSplit::test;
    if (bucket < test_pct + val_pct) return (int)TextSplit::val;
    return (int)TextSplit::train;
}

// the manifest.json of the folder holding a domain's folder (make corpus writes one there)
std::string find_manifest(const TextConfig & cfg) {
    for (const auto & d : cfg.domains)
        for (const auto & p : d.paths) {
            fs::path fixed; // the folders before any wildcard
            for (const auto & part : fs::path(p)) {
                if (has_wildcard(part.string())) break;
                fixed /= part;
            }
            std::error_code ec;
            fixed = fixed.lexically_normal();
            if (fixed.filename().empty()) fixed = fixed.parent_path(); // "corpus/python/"
            const fs::path m = fixed.parent_path() / "manifest.json";
            if (!fixed.empty() && fs::is_regular_file(m, ec)) {
                std::ifstream in(m, std::ios::binary);
                return std::string(std::istreambuf_iterator<char>(in), {});
            }
        }
    return "";
}

text::Plan make_plan(const TextConfig & cfg, const Tokenizer & tok, const std::string & where) {
    text::Plan plan;
    MOE_CHECK(!cfg.domains.empty(), ErrorCode::spec, where + ".domains: no domains (give at least one)");
    MOE_CHECK(cfg.test_percent + cfg.val_percent <= 100, ErrorCode::spec,
              where + ": test_percent + val_percent is over 100");
    Sha256 fp;
    fp.update("moe-lab text corpus 1\n" + cfg.tokenizer + " " + std::to_string(cfg.test_percent) + " " +
              std::to_string(cfg.val_percent) + "\n");
    if (tok.kind() != "byte") fp.update("tokenizer " + tok.fingerprint() + "\n"); // the files' sha256
    std::map<std::string, int> names;
    for (size_t i = 0; i < cfg.domains.size(); ++i) {
        const auto & dc = cfg.domains[i];
        const std::string w = where + ".domains[" + std::to_string(i) + "]";
        MOE_CHECK(!dc.name.empty(), ErrorCode::spec, w + ".name: a domain needs a name");
        MOE_CHECK(names.emplace(dc.name, (int)i).second, ErrorCode::spec,
                  w + ".name: '" + dc.name + "' is also the name of domains[" + std::to_string(names[dc.name]) + "]");
        MOE_CHECK(!dc.paths.empty(), ErrorCode::spec, w + ".paths: no paths for domain '" + dc.name + "'");
        std::vector<Doc> docs;
        for (size_t j = 0; j < dc.paths.size(); ++j)
            find_docs(dc.paths[j], docs, w + ".paths[" + std::to_string(j) + "]");
        std::sort(docs.begin(), docs.end(), [](const Doc & a, const Doc & b) { return a.key < b.key; });
        for (size_t j = 1; j < docs.size(); ++j)
            if (docs[j].key == docs[j - 1].key)
                throw Error(ErrorCode::spec, w + ".paths: two documents have the key '" + docs[j].key + "' (" +
                                                 docs[j - 1].path.string() + " and " + docs[j].path.string() + ")");
        TextDomainInfo info;
        info.name = dc.name;
        info.weight = dc.weight;
        int64_t total = 0;
        for (auto & d : docs) {
            d.split = split_of(dc.name, d.key, cfg.test_percent, cfg.val_percent);
            ++info.docs[d.split];
            total += d.size;
        }
        if (total == 0)
            throw Error(ErrorCode::io, w + ": domain '" + dc.name + "' is empty (" + std::to_string(docs.size()) +
                                           " documents, 0 bytes under " + dc.paths[0] + ")");
        // caps: documents in key order while they fit, the first that does not cut at the cap
        const int64_t cap[3] = {dc.train_bytes, dc.test_bytes, dc.test_bytes};
        int64_t kept_docs[3] = {0, 0, 0};
        for (const auto & d : docs) {
            const int s = d.split;
            const int64_t room = cap[s] > 0 ? cap[s] - info.bytes[s] : d.size;
            if (room <= 0) continue;
            info.bytes[s] += std::min(room, d.size);
            ++kept_docs[s];
        }
        for (int s = 0; s < 3; ++s) // bytes + one boundary between documents
            info.tokens[s] = info.bytes[s] + std::max<int64_t>(0, kept_docs[s] - 1);
        fp.update("domain " + dc.name + " " + std::to_string(cap[0]) + " " + std::to_string(cap[1]) + "\n");
        for (const auto & d : docs)
            fp.update(d.key + "\t" + std::to_string(d.size) + "\t" + std::to_string(d.mtime_ns) + "\n");
        for (int s = 0; s < 3; ++s) plan.caps[s].push_back(cap[s]);
        plan.domains.push_back(info);
        plan.docs.push_back(std::move(docs));
    }
    plan.fingerprint = fp.hex();
    plan.manifest = find_manifest(cfg);
    return plan;
}

std::string env_or(const char * name) {
    const char * v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

} // namespace

namespace text {
std::string default_cache_dir() {
    if (auto d = env_or("MOE_CACHE_DIR"); !d.empty()) return d;
    if (auto d = env_or("XDG_CACHE_HOME"); !d.empty()) return (fs::path(d) / "moe-lab").string();
    if (auto d = env_or("HOME"); !d.empty()) return (fs::path(d) / ".cache" / "moe-lab").string();
    return (fs::temp_directory_path() / "moe-lab-cache").string();
}
} // namespace text

TextSplit text_split(const std::string & name) {
    if (name == "train") return TextSplit::train;
    if (name == "val") return TextSplit::val;
    if (name == "test") return TextSplit::test;
    throw Error(ErrorCode::internal, "text_split: unknown split '" + name + "'");
}

std::vector<std::string> TextCorpus::domain_names() const {
    std::vector<std::string> out;
    for (const auto & d : domains_) out.push_back(d.name);
    return out;
}

std::unique_ptr<TextCorpus> TextCorpus::open(const TextConfig & cfg, const std::string & where) {
    std::shared_ptr<Tokenizer> tok = open_tokenizer(cfg, where);
    text::Plan plan = make_plan(cfg, *tok, where);
    const fs::path dir = cfg.cache_dir.empty() ? fs::path(text::default_cache_dir()) : fs::path(cfg.cache_dir);
    const std::string path = (dir / ("text-" + plan.fingerprint.substr(0, 24) + ".tok")).string();
    const int64_t need = (int64_t)cfg.block_size + 1;
    const auto too_small = [&](size_t d, int64_t have) {
        return Error(ErrorCode::io,
                     where + ".domains[" + std::to_string(d) + "]: domain '" + plan.domains[d].name + "' has " +
                         std::to_string(have) +
                         " train tokens, fewer than one block of data.text.block_size + 1 = " + std::to_string(need));
    };
    // (byte tokens are known before tokenising: refuse before anything is written)
    for (size_t d = 0; d < plan.domains.size(); ++d)
        if (cfg.tokenizer == "byte" && plan.domains[d].tokens[0] < need && cfg.domains[d].weight > 0)
            throw too_small(d, plan.domains[d].tokens[0]);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (!fs::is_directory(dir, ec))
        throw Error(ErrorCode::io, where + ".cache_dir: cannot create the cache folder " + dir.string(),
                    {"set data.text.cache_dir or $MOE_CACHE_DIR to a writable folder"});
    if (!fs::exists(path, ec)) {
        // one builder at a time (a sweep starting many runs at once tokenises once)
        const std::string lock = path + ".lock";
        const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) ::flock(fd, LOCK_EX);
        try {
            if (!fs::exists(path, ec)) text::build_cache(plan, path, *tok);
        } catch (...) {
            if (fd >= 0) {
                ::unlink(lock.c_str());
                ::close(fd);
            }
            throw;
        }
        // the cache is in place before the lock goes: a waiter, or a later run, finds it
        if (fd >= 0) {
            ::unlink(lock.c_str());
            ::close(fd);
        }
    }
    auto c = text::map_cache(path, plan.fingerprint, tok->vocab());
    c->tokenizer_ = tok;
    for (size_t d = 0; d < plan.domains.size(); ++d) {
        c->domains_[d].weight = plan.domains[d].weight;
        if (c->length((int)d, TextSplit::train) < need && cfg.domains[d].weight > 0)
            throw too_small(d, c->length((int)d, TextSplit::train));
    }
    c->manifest_ = plan.manifest;
    return c;
}

} // namespace moe::data
