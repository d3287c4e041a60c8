// train: what every run does before its first step (see moe/train/run_setup.hpp).
#include "moe/train/run_setup.hpp"

#include <sys/stat.h>

#include "moe/core/error.hpp"
#include "moe/core/log.hpp"
#include "moe/io/hf_load.hpp"
#include "moe/io/run_file.hpp"

namespace moe::train {

io::OutputLock claim_outputs(const std::string & out, const std::string & checkpoint,
                             const std::vector<std::pair<std::string, std::string>> & inputs,
                             const OutputPolicy & policy) {
    io::OutputLock lock(out);       // first: no other writer can create or replace them while we check
    if (policy.resume) return lock; // the run's own files: the library checks what they are
    io::check_output_not_input(out, inputs, policy.option);
    if (!checkpoint.empty()) io::check_output_not_input(checkpoint, inputs, policy.option);
    io::check_new_output(out, policy.force, policy.option);
    struct stat st {};
    if (!policy.force && !checkpoint.empty() && ::lstat(checkpoint.c_str(), &st) == 0 && S_ISREG(st.st_mode))
        throw Error(ErrorCode::spec,
                    checkpoint + " is the checkpoint of an unfinished run of " + out +
                        "; --resume continues it, --force starts over and replaces it",
                    {"add --resume (the same spec and --set) or --force, or give " + policy.option + " another path"});
    return lock;
}

void prepare_outputs(const std::vector<std::string> & outputs,
                     const std::vector<std::pair<std::string, std::string>> & inputs, const std::string & tool) {
    for (const auto & o : outputs) io::check_output_not_input(o, inputs);
    for (const auto & o : outputs) io::RunWriter probe(o, tool);
}

void load_base(ParamStore<float> & store, const std::string & base_path,
               const std::function<bool(const std::string &)> & from_base) {
    if (io::is_hf_dir(base_path)) { // a Hugging Face model directory (train/hf_base.hpp set the model)
        const io::HfCheckpoint hf = io::open_hf_checkpoint(base_path);
        const int wte = store.find("tok_emb.weight");
        if (wte >= 0 && store.info(wte).shape[0] != hf.model.vocab)
            throw SpecError("", {{"data.tokenizer",
                                  "its " + std::to_string(store.info(wte).shape[0]) + " token ids do not match the " +
                                      std::to_string(hf.model.vocab) + " of the base's vocabulary (vocab_size of " +
                                      base_path + "/config.json): the data needs the checkpoint's own tokenizer"}});
        const auto plan = io::load_hf_checkpoint(hf, store, from_base);
        log_info("loaded " + std::to_string(plan.imports.size()) + " base tensors from the " +
                 (hf.model.family == "gpt2" ? std::string("GPT-2") : std::string("LLaMA")) +
                 " checkpoint in " + base_path);
        return;
    }
    io::RunReader base(base_path);
    std::vector<std::string> names;
    for (const auto & pi : store.infos())
        if (from_base(pi.name)) names.push_back(pi.name);
    base.load_params(store, names);
    log_info("loaded " + std::to_string(names.size()) + " base tensors from " + base_path);
}

} // namespace moe::train
