// hf_internal.hpp — what the two Hugging Face families share inside models/: a family's naming
// (which parameter a checkpoint name fills, the checkpoint name of a parameter, which names are
// buffers), config.json readers, and the small helpers of their messages.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/models/hf_checkpoint.hpp"

namespace moe::models::hf {

struct Target {
    std::string param;
    bool transpose = false;
};

struct Naming {
    std::string title;                 // "GPT-2", "LLaMA" (in messages)
    std::string strip;                 // a prefix some writers add ("transformer." for GPT-2), or ""
    std::function<std::optional<Target>(const std::string &)> target_of; // of a stripped name
    std::function<std::string(const std::string &)> name_of;           // of a parameter ("" = none)
    std::function<bool(const std::string &)> is_buffer;                // of a stripped name
};

Naming gpt2_naming(bool tie_head);                // hf_gpt2.cpp
Naming llama_naming(bool tie_head);               // hf_llama.cpp
HfModel gpt2_model(const nlohmann::json & c, const std::string & file);  // hf_gpt2.cpp
HfModel llama_model(const nlohmann::json & c, const std::string & file); // hf_llama.cpp

[[noreturn]] void fail(const std::string & msg); // Error(ErrorCode::io)
std::string shape_str(const std::vector<int64_t> & s);
// "<prefix>N.<rest>" with N a block number (no leading zeros): true and num, rest
bool split_block(const std::string & n, const std::string & prefix, std::string & num, std::string & rest);
// config keys: an integer in [lo, 2^30] (absent: required -> error, else dflt; null counts as absent
// when null_ok), a number > 0, a boolean, a string
int int_key(const nlohmann::json & c, const std::string & file, const char * key, int lo, bool required, int dflt = 0,
            bool null_ok = false);
double positive_key(const nlohmann::json & c, const std::string & file, const char * key, double dflt);
bool bool_key(const nlohmann::json & c, const std::string & file, const char * key, bool dflt);
std::string string_key(const nlohmann::json & c, const std::string & file, const char * key, const std::string & dflt);

} // namespace moe::models::hf
