// train: a Hugging Face model directory as the base of a run (moe/train/hf_base.hpp).
#include "moe/train/hf_base.hpp"

#include "moe/core/error.hpp"
#include "moe/io/hf_load.hpp"

namespace moe::train {

spec::Spec with_hf_base(const spec::Spec & s) {
    if (s.base.empty() || !io::is_hf_dir(s.base)) return s;
    const io::HfCheckpoint hf = io::open_hf_checkpoint(s.base);
    const models::GptConfig & c = hf.model.cfg;
    const std::string where = "the base's config.json (" + s.base + ")";
    std::vector<SpecProblem> problems;
    const int T = s.data.text.block_size;
    if (T > c.context)
        problems.push_back({"data.text.block_size", std::to_string(T) + " exceeds the " + std::to_string(c.context) +
                                                        " positions of " + where});
    spec::Spec r = s;
    r.model.kind = "gpt";
    r.model.gpt = c;
    r.model.gpt.context = T;
    r.model.gpt.max_positions = c.positions == "learned" ? c.context : 0;
    // keys the spec set (not their default) must agree with config.json
    const nlohmann::json given = spec::to_json(s)["model"]["gpt"], dflt = spec::to_json(spec::Spec{})["model"]["gpt"],
                         got = spec::to_json(r)["model"]["gpt"];
    for (const auto & [key, v] : given.items()) {
        if (key == "context" || key == "max_positions") continue;
        if (v != dflt[key] && v != got[key])
            problems.push_back({"model.gpt." + key, v.dump() + ", but " + where + " gives " + got[key].dump() +
                                                        " (leave it out: the model comes from config.json)"});
    }
    if (given["context"] != dflt["context"] && given["context"] != nlohmann::json(T))
        problems.push_back({"model.gpt.context", given["context"].dump() + ", but data.text.block_size is " +
                                                     std::to_string(T) + " (with a Hugging Face base the context is "
                                                                         "the block size; leave it out)"});
    if (!problems.empty()) throw SpecError("", problems);
    return r;
}

} // namespace moe::train
