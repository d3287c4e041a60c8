// train: what every run does before its first step (see moe/train/run_setup.hpp).
#include "moe/train/run_setup.hpp"

#include "moe/core/log.hpp"
#include "moe/io/run_file.hpp"

namespace moe::train {

void prepare_outputs(const std::vector<std::string> & outputs,
                     const std::vector<std::pair<std::string, std::string>> & inputs, const std::string & tool) {
    for (const auto & o : outputs) io::check_output_not_input(o, inputs);
    for (const auto & o : outputs) io::RunWriter probe(o, tool);
}

void load_base(ParamStore<float> & store, const std::string & base_path,
               const std::function<bool(const std::string &)> & from_base) {
    io::RunReader base(base_path);
    std::vector<std::string> names;
    for (const auto & pi : store.infos())
        if (from_base(pi.name)) names.push_back(pi.name);
    base.load_params(store, names);
    log_info("loaded " + std::to_string(names.size()) + " base tensors from " + base_path);
}

} // namespace moe::train
