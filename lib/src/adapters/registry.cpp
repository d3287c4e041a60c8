// adapters: the table of expert kinds. To add a kind: write lib/src/adapters/banks/<kind>.cpp
// (an ExpertBank and its make_<kind>_bank factory) and add one MOE_EXPERT_KIND line below.
#include "moe/adapters/registry.hpp"

#include "moe/core/error.hpp"

namespace moe::adapters {

template <typename T>
std::unique_ptr<ExpertBank<T>> make_lora_bank();
template <typename T>
std::unique_ptr<ExpertBank<T>> make_bottleneck_bank();

#define MOE_EXPERT_KIND(id, doc, ...)                                                                                  \
    ExpertKind { #id, doc, {__VA_ARGS__ }, &make_##id##_bank < float>, &make_##id##_bank < double> }

const std::vector<ExpertKind> & expert_kinds() {
    static const std::vector<ExpertKind> kinds = {
        MOE_EXPERT_KIND(lora, "LoRA (PEFT): s * B A x, A kaiming-uniform or gaussian, B = 0", "rank", "alpha", "rslora",
                        "dropout", "init"),
        MOE_EXPERT_KIND(bottleneck, "bottleneck adapter: up(ReLU(down(x))) with biases, up = 0", "rank", "dropout"),
    };
    return kinds;
}

std::vector<std::string> expert_kind_names() {
    std::vector<std::string> out;
    for (const auto & k : expert_kinds()) out.push_back(k.name);
    return out;
}

const ExpertKind * find_expert_kind(const std::string & name) {
    for (const auto & k : expert_kinds())
        if (name == k.name) return &k;
    return nullptr;
}

template <typename T>
std::unique_ptr<ExpertBank<T>> make_bank(const std::string & name, const std::string & key) {
    const ExpertKind * k = find_expert_kind(name);
    if (!k) {
        std::string list;
        for (const auto & n : expert_kind_names()) list += (list.empty() ? "" : ", ") + n;
        throw Error(ErrorCode::spec, key + ": unknown expert kind '" + name + "' (expected " + list + ")");
    }
    if constexpr (std::is_same_v<T, float>)
        return k->make_float();
    else
        return k->make_double();
}
template std::unique_ptr<ExpertBank<float>> make_bank<float>(const std::string &, const std::string &);
template std::unique_ptr<ExpertBank<double>> make_bank<double>(const std::string &, const std::string &);

} // namespace moe::adapters
