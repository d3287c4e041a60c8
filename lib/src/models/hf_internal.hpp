// hf_internal.hpp — what the two Hugging Face families share inside models/: a family's naming
// (which parameter a checkpoint name fills, the checkpoint name of a parameter, which names are
// buffers), config.json readers, and the small helpers of their messages.
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/models/hf_checkpoint.hpp"

namespace moe::models::hf {

struct Target {
    std::string param;
    bool transpose = false;
};

// A family's names as tables (checkpoint names with any writer's prefix stripped); the lookups
// both ways and the buffer test are hf_checkpoint.cpp's. lm_head.weight is the head of an
// untied model and a skipped buffer of a tied one.
struct Naming {
    std::string title;                         // "GPT-2", "LLaMA" (in messages)
    std::string strip;                         // a prefix some writers add ("transformer." for GPT-2), or ""
    std::map<std::string, std::string> top;    // checkpoint name -> parameter, outside the blocks
    std::string block_prefix;                  // "h.", "model.layers."
    std::map<std::string, Target> blocks;      // name after "<block_prefix>N." -> parameter after "blocks.N."
    std::set<std::string> top_buffers;         // skipped names outside the blocks
    std::set<std::string> block_buffers;       // skipped names after "<block_prefix>N."
};

const Naming & gpt2_naming();                 // hf_gpt2.cpp
const Naming & llama_naming();                // hf_llama.cpp
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
