// models: the table of model families. To add one: write lib/src/models/<family>.cpp (a Model and
// its make_<family> factory), give it a config struct in models/config.hpp, and add one line below.
#include "moe/models/registry.hpp"

#include "moe/core/error.hpp"

namespace moe::models {

template <typename T>
std::unique_ptr<Model<T>> make_mlp(const ModelConfig &, const InputShape &, int, ParamStore<T> &,
                                   const nn::TrainablePred &);
template <typename T>
std::unique_ptr<Model<T>> make_vit(const ModelConfig &, const InputShape &, int, ParamStore<T> &,
                                   const nn::TrainablePred &);
template <typename T>
std::unique_ptr<Model<T>> make_gpt(const ModelConfig &, const InputShape &, int, ParamStore<T> &,
                                   const nn::TrainablePred &);

const std::vector<ModelFamily> & model_families() {
    static const std::vector<ModelFamily> all = {
        {"mlp", "multilayer perceptron on feature vectors (sites layers.i, head)", &make_mlp<float>, &make_mlp<double>},
        {"vit",
         "vision transformer on images (sites patch_embed.proj, blocks.i.{attn.qkv,attn.proj,mlp.fc1,mlp.fc2}, "
         "head; block sites blocks.i.mlp)",
         &make_vit<float>, &make_vit<double>},
        {"gpt",
         "causal language model on token sequences, GPT-2 or LLaMA layout (sites blocks.i.{attn.qkv | "
         "attn.{q,k,v}, attn.proj, mlp.{fc1,fc2} | mlp.{gate,up,down}}, head when untied; block sites "
         "blocks.i.mlp)",
         &make_gpt<float>, &make_gpt<double>},
    };
    return all;
}

std::vector<std::string> model_family_names() {
    std::vector<std::string> out;
    for (const auto & m : model_families()) out.push_back(m.name);
    return out;
}

template <typename T>
std::unique_ptr<Model<T>> make_model(const ModelConfig & cfg, const InputShape & in, int n_outputs,
                                     ParamStore<T> & store, const nn::TrainablePred & tr) {
    MOE_CHECK(n_outputs > 0, ErrorCode::spec, "the data has no classes");
    for (const auto & m : model_families()) {
        if (cfg.kind != m.name) continue;
        if constexpr (std::is_same_v<T, float>)
            return m.make_float(cfg, in, n_outputs, store, tr);
        else
            return m.make_double(cfg, in, n_outputs, store, tr);
    }
    std::string list;
    for (const auto & n : model_family_names()) list += (list.empty() ? "" : ", ") + n;
    throw Error(ErrorCode::spec, "model.kind: unknown model '" + cfg.kind + "' (expected " + list + ")");
}

template std::unique_ptr<Model<float>> make_model<float>(const ModelConfig &, const InputShape &, int,
                                                         ParamStore<float> &, const nn::TrainablePred &);
template std::unique_ptr<Model<double>> make_model<double>(const ModelConfig &, const InputShape &, int,
                                                           ParamStore<double> &, const nn::TrainablePred &);

} // namespace moe::models
