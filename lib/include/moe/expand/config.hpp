// moe/expand/config.hpp — the "stream" and "expand" sections of a spec (moe-expand).
// Defaults are SEMA's reference defaults (../shared/reference/sema.md §1.11) where they exist.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace moe::expand {

// Class-incremental split of the source classes into consecutive blocks.
struct ClassSplit {
    int init = 0;              // classes of the first task (0 = no class split)
    int increment = 2;         // classes of every later task (a remainder forms a last task)
    bool shuffle = true;       // seeded class order (SEMA / PILOT: np.random.seed(1993))
    uint64_t order_seed = 1993;
};

// The stream is data.tasks, in order. A class split builds those tasks from the class blocks
// (then data.tasks, when given, supplies each block's name and transforms: both kinds at once).
struct StreamConfig {
    ClassSplit class_split;
    std::string labels = "auto"; // shared | growing | auto (growing with a class split, else shared)
};

struct ExpandConfig {
    std::string strategy = "sema";  // sema | adapter_per_task | single_adapter | head_only | mole_joint
    std::vector<std::string> sites; // adapted Linear sites (glob patterns); empty = every hidden site
    std::vector<std::string> expandable; // subset that can expand (empty = every adapted site)
    std::string adapter = "bottleneck";  // bottleneck (SEMA: down, ReLU, up, biases) | lora
    int rank = 16;                  // bottleneck width / LoRA rank (SEMA ffn_num)
    double lora_alpha = 16.0;       // LoRA scale alpha / rank
    int rd_dim = 128;               // representation descriptor (linear autoencoder) width
    int buffer_size = 500;          // FIFO of descriptor losses
    double threshold = 2.0;         // expansion when min_k mean_batch z_k > threshold
    int detect_batch_size = 128;
    bool detect_drop_last = false;  // reference: false (a tiny last batch may trigger)
    int max_adapters = 0;           // per site (0 = one per task)
    std::string head = "reinit";    // reinit (SEMA: a fresh classifier) | base (start from the base head)
    // functional phase (adapters, new router column, classifier) and descriptor phase
    int batch_size = 32;
    std::string optimizer = "sgd";  // sgd | adamw
    double momentum = 0.9;
    double weight_decay = 5e-4;
    int func_epochs = 5;
    double func_lr = 0.005;
    int rd_epochs = 20;
    double rd_lr = 0.01;
    double min_lr = 0.0;            // cosine floor, stepped per epoch
    int eval_batch_size = 512;
};

} // namespace moe::expand
