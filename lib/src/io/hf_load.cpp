// hf_load.cpp — a Hugging Face model directory read into the gpt model's parameters
// (moe/io/hf_load.hpp): config.json through hf_model_from_config, the tensors through the
// safetensors reader and the name plan of models/hf_checkpoint.cpp, (in, out) Conv1D weights
// transposed into (out, in).
#include "moe/io/hf_load.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <vector>

#include "internal.hpp"
#include "safetensors_internal.hpp"

namespace moe::io {

using namespace detail;

bool is_hf_dir(const std::string & path) {
    std::error_code ec;
    return std::filesystem::is_directory(path, ec) &&
           std::filesystem::exists(std::filesystem::path(path) / "config.json", ec);
}

HfCheckpoint open_hf_checkpoint(const std::string & dir) {
    const std::string cfg_path = (std::filesystem::path(dir) / "config.json").string();
    std::error_code ec;
    if (!std::filesystem::exists(cfg_path, ec)) fail(cfg_path + ": no such file (a Hugging Face model directory has one)");
    std::ifstream in(cfg_path, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) fail(cfg_path + ": read error");
    models::HfModel m = models::hf_model_from_config(parse_json_unique(text, cfg_path, "the config"), cfg_path);
    return HfCheckpoint{m, SafetensorsCheckpoint::open(dir)};
}

template <typename T>
models::HfPlan load_hf_checkpoint(const HfCheckpoint & hf, ParamStore<T> & st,
                                  const std::function<bool(const std::string &)> & fill) {
    std::vector<models::NamedShape> tensors, params;
    for (const auto & n : hf.checkpoint.names()) tensors.push_back({n, hf.checkpoint.find(n)->shape});
    for (int id = 0; id < st.size(); ++id)
        if (!fill || fill(st.info(id).name)) params.push_back({st.info(id).name, st.info(id).shape});
    const std::string config = (std::filesystem::path(hf.checkpoint.path()) / "config.json").string();
    models::HfPlan plan = models::plan_hf_import(hf.model, tensors, params, hf.checkpoint.source(),
                                                 is_hf_dir(hf.checkpoint.path()) ? config : std::string());
    for (const auto & im : plan.imports) {
        const SafetensorsFile * file = nullptr;
        const StTensorInfo * info = hf.checkpoint.find(im.tensor, &file);
        MOE_ASSERT(info && file);
        const std::vector<float> v = file->read_f32(im.tensor);
        for (size_t i = 0; i < v.size(); ++i)
            if (!std::isfinite(v[i]))
                fail(file->path() + ": tensor '" + im.tensor + "' " + st_shape_str(info->shape) + " holds " +
                     (std::isnan(v[i]) ? std::string("NaN") : v[i] > 0 ? std::string("+Inf") : std::string("-Inf")) +
                     " at element " + std::to_string(i) + ", expected finite weights");
        const int id = st.find(im.param);
        MOE_ASSERT(id >= 0 && st.info(id).size == v.size());
        std::vector<T> conv; // a tensor kept in bfloat16 is rounded from this by assign()
        T * p = st.value(id);
        if (!p) {
            conv.resize(v.size());
            p = conv.data();
        }
        if (!im.transpose) {
            for (size_t i = 0; i < v.size(); ++i) p[i] = T(v[i]);
        } else { // stored (rows, cols) = (in, out); ours is (out, in)
            const size_t rows = size_t(im.shape[0]), cols = size_t(im.shape[1]);
            for (size_t r = 0; r < rows; ++r)
                for (size_t c = 0; c < cols; ++c) p[c * rows + r] = T(v[r * cols + c]);
        }
        if (!conv.empty()) st.assign(id, conv.data());
    }
    return plan;
}

template models::HfPlan load_hf_checkpoint<float>(const HfCheckpoint &, ParamStore<float> &,
                                                  const std::function<bool(const std::string &)> &);
template models::HfPlan load_hf_checkpoint<double>(const HfCheckpoint &, ParamStore<double> &,
                                                   const std::function<bool(const std::string &)> &);

} // namespace moe::io
