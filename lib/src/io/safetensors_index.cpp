// safetensors_index.cpp — a checkpoint in one safetensors file or in shards listed by
// model.safetensors.index.json (moe/io/safetensors.hpp): the index's weight_map (tensor name ->
// shard file in the index's directory) is checked against the shards themselves, every shard
// is opened and checked in full, and a tensor held by two shards is an error.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "internal.hpp"
#include "moe/io/safetensors.hpp"
#include "safetensors_internal.hpp"

namespace fs = std::filesystem;

namespace moe::io {

using namespace detail;
using nlohmann::json;

namespace {

bool ends_with(const std::string & s, const std::string & suf) {
    return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

std::string read_small_file(const std::string & path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) fail(path + ": no such file");
    if (fs::is_directory(path, ec)) fail(path + ": is a directory, expected a JSON file");
    const auto size = fs::file_size(path, ec);
    if (ec) fail(path + ": cannot read (" + ec.message() + ")");
    if (size > kStMaxHeader) fail(path + ": " + std::to_string(size) + " bytes, too large for an index file");
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path + ": cannot open (" + std::string(std::strerror(errno)) + ")");
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) fail(path + ": read error");
    return s;
}

} // namespace

std::vector<std::string> SafetensorsCheckpoint::names() const {
    std::vector<std::string> r;
    for (const auto & [n, i] : where_) r.push_back(n);
    return r;
}

const StTensorInfo * SafetensorsCheckpoint::find(const std::string & name, const SafetensorsFile ** file) const {
    auto it = where_.find(name);
    if (it == where_.end()) return nullptr;
    if (file) *file = &files_[it->second];
    return files_[it->second].find(name);
}

std::vector<float> SafetensorsCheckpoint::read_f32(const std::string & name) const {
    auto it = where_.find(name);
    if (it == where_.end()) fail(path_ + ": no tensor '" + name + "'");
    return files_[it->second].read_f32(name);
}

SafetensorsCheckpoint SafetensorsCheckpoint::open(const std::string & path) {
    SafetensorsCheckpoint ck;
    ck.path_ = path;
    std::error_code ec;
    std::string target = path;
    if (fs::is_directory(path, ec)) {
        const std::string idx = (fs::path(path) / "model.safetensors.index.json").string();
        const std::string one = (fs::path(path) / "model.safetensors").string();
        if (fs::exists(idx, ec))
            target = idx;
        else if (fs::exists(one, ec))
            target = one;
        else
            fail(path + ": a directory without model.safetensors.index.json or model.safetensors");
    }
    ck.source_ = target;
    if (!ends_with(target, ".index.json")) {
        ck.files_.push_back(SafetensorsFile::open(target));
        for (const auto & t : ck.files_[0].tensors()) ck.where_[t.name] = 0;
        return ck;
    }

    const json j = parse_json_unique(read_small_file(target), target, "the index");
    if (!j.is_object()) fail(target + ": the index is " + type_of(j) + ", expected a JSON object");
    if (!j.contains("weight_map")) fail(target + ": no 'weight_map' (tensor name -> shard file)");
    const json & wm = j["weight_map"];
    if (!wm.is_object())
        fail(target + ": weight_map is " + type_of(wm) + ", expected an object of tensor names to files");
    if (j.contains("metadata") && !j["metadata"].is_object())
        fail(target + ": metadata is " + type_of(j["metadata"]) + ", expected an object");
    std::map<std::string, std::string> mapped; // name -> shard file name
    std::set<std::string> shards;
    for (const auto & [name, f] : wm.items()) {
        if (!f.is_string())
            fail(target + ": weight_map '" + name + "' is " + type_of(f) + ", expected a file name");
        const std::string file = f.get<std::string>();
        if (file.empty() || file == "." || file == ".." || file.find('/') != std::string::npos)
            fail(target + ": weight_map '" + name + "' names '" + file +
                 "', expected the name of a file in the index's directory");
        mapped[name] = file;
        shards.insert(file);
    }
    if (shards.empty()) fail(target + ": weight_map is empty, expected at least one tensor");
    const fs::path dir = fs::path(target).parent_path();
    std::map<std::string, size_t> shard_index;
    for (const auto & s : shards) {
        const std::string sp = (dir / s).string();
        try {
            ck.files_.push_back(SafetensorsFile::open(sp));
        } catch (const Error & e) { fail(std::string(e.what()) + " (a shard listed in " + target + ")"); }
        shard_index[s] = ck.files_.size() - 1;
    }
    for (size_t i = 0; i < ck.files_.size(); ++i)
        for (const auto & t : ck.files_[i].tensors()) {
            const auto [it, fresh] = ck.where_.emplace(t.name, i);
            if (!fresh)
                fail(target + ": tensor '" + t.name + "' is in two shards, " + ck.files_[it->second].path() + " and " +
                     ck.files_[i].path());
        }
    for (const auto & [name, i] : ck.where_) {
        auto m = mapped.find(name);
        if (m == mapped.end())
            fail(ck.files_[i].path() + ": tensor '" + name + "' is not in the weight_map of " + target);
        if (shard_index[m->second] != i)
            fail(target + ": weight_map maps tensor '" + name + "' to " + m->second + ", but it is in " +
                 ck.files_[i].path());
    }
    for (const auto & [name, file] : mapped)
        if (!ck.where_.count(name))
            fail(target + ": weight_map maps tensor '" + name + "' to " + file + ", which has no tensor of that name");
    return ck;
}

} // namespace moe::io
