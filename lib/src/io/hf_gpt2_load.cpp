// hf_gpt2_load.cpp — a Hugging Face GPT-2 directory read into the gpt model's parameters
// (moe/io/hf_gpt2_load.hpp): config.json through gpt2_config_from_hf, the tensors through the
// safetensors reader and the name plan of models/hf_gpt2.cpp, (in, out) Conv1D weights
// transposed into (out, in).
#include "moe/io/hf_gpt2_load.hpp"

#include <filesystem>
#include <fstream>
#include <vector>

#include "internal.hpp"
#include "safetensors_internal.hpp"

namespace moe::io {

using namespace detail;

HfGpt2 open_hf_gpt2(const std::string & dir) {
    const std::string cfg_path = (std::filesystem::path(dir) / "config.json").string();
    std::error_code ec;
    if (!std::filesystem::exists(cfg_path, ec)) fail(cfg_path + ": no such file (a Hugging Face model directory has one)");
    std::ifstream in(cfg_path, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) fail(cfg_path + ": read error");
    int vocab = 0;
    models::GptConfig cfg = models::gpt2_config_from_hf(parse_json_unique(text, cfg_path, "the config"), cfg_path, vocab);
    return HfGpt2{cfg, vocab, SafetensorsCheckpoint::open(dir)};
}

template <typename T>
models::Gpt2Plan load_hf_gpt2(const HfGpt2 & hf, ParamStore<T> & st) {
    std::vector<models::NamedShape> tensors, params;
    for (const auto & n : hf.checkpoint.names()) tensors.push_back({n, hf.checkpoint.find(n)->shape});
    for (int id = 0; id < st.size(); ++id) params.push_back({st.info(id).name, st.info(id).shape});
    models::Gpt2Plan plan = models::plan_gpt2_import(tensors, params, hf.cfg.tie_head, hf.checkpoint.path());
    for (const auto & im : plan.imports) {
        const std::vector<float> v = hf.checkpoint.read_f32(im.tensor);
        const int id = st.find(im.param);
        MOE_ASSERT(id >= 0 && st.info(id).size == v.size());
        T * p = st.value(id);
        if (!im.transpose) {
            for (size_t i = 0; i < v.size(); ++i) p[i] = T(v[i]);
        } else { // stored (rows, cols) = (in, out); ours is (out, in)
            const size_t rows = size_t(im.shape[0]), cols = size_t(im.shape[1]);
            for (size_t r = 0; r < rows; ++r)
                for (size_t c = 0; c < cols; ++c) p[c * rows + r] = T(v[r * cols + c]);
        }
    }
    return plan;
}

template models::Gpt2Plan load_hf_gpt2<float>(const HfGpt2 &, ParamStore<float> &);
template models::Gpt2Plan load_hf_gpt2<double>(const HfGpt2 &, ParamStore<double> &);

} // namespace moe::io
