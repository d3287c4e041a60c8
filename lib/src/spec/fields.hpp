// spec: the field descriptions of the sections that belong to the spec itself (exp, train, eval,
// log, expand) and of the whole spec; the other sections' are beside their structs.
#pragma once
#include "moe/core/check.hpp"
#include "moe/spec/spec.hpp"

namespace moe::spec {

template <typename V>
void visit(V & v, ExpSpec & s) {
    v.field("name", s.name, "Run name, stored in the run file and shown in summaries.");
    v.field("seed", s.seed, "Seed of every random draw (initialisation by parameter name, data order, transforms).");
    v.field(
        "threads", s.threads,
        "threads of the run, one pool for the matrix products and the kernels (0 = all cores); `--threads` overrides.",
        range(0, 1024));
}

template <typename V>
void visit(V & v, ParamGroupSpec & s) {
    v.field("pattern", s.pattern,
            "Glob over parameter names ('*' matches dots too), e.g. \"head.*\"; it must match a parameter of the "
            "model.");
    v.field("lr", s.lr, "Absolute peak learning rate of the group (0 = train.lr * lr_scale).", at_least(0));
    v.field("lr_scale", s.lr_scale, "Multiplier of train.lr for the group.", at_least(0));
    v.field("weight_decay", s.weight_decay, "Weight decay of the group (-1 = train.weight_decay).", at_least(-1));
}

template <typename V>
void visit(V & v, TrainSpec & s) {
    v.field("epochs", s.epochs, "Passes over the training set.", at_least(0));
    v.field("grad_accum", s.grad_accum, "Micro-batches per optimizer step (batch_size is split among them).",
            range(1, 1 << 16));
    v.field("shards", s.shards,
            "Gradient shards per step: the batch is cut into this many shards of grad_accum micro-batches, each "
            "shard's gradient computed on its own and the shards summed in one fixed pairwise order, so that "
            "mpirun -np N (any N dividing it) gives the same bits (docs/distributed.md). 1 = one shard. moe-expand "
            "cuts expand.batch_size into this many micro-batches, one a shard.",
            range(1, 1 << 12));
    v.field("max_steps", s.max_steps, "Stop after this many optimizer steps (0 = the epochs decide).", at_least(0));
    v.field("batch_size", s.batch_size, "Samples per optimizer step.", range(1, 1 << 20));
    v.field("optimizer", s.optimizer, "Optimizer.", one_of({"adamw", "sgd"}));
    v.field("lr", s.lr, "Peak learning rate.", positive());
    v.field("momentum", s.momentum, "sgd: momentum (0 = none).", range(0, 1));
    v.field("nesterov", s.nesterov, "sgd: Nesterov momentum.");
    v.field("beta1", s.beta1, "adamw: beta1.", range(0, 1));
    v.field("beta2", s.beta2, "adamw: beta2.", range(0, 1));
    v.field("eps", s.eps, "adamw: epsilon.", positive());
    v.field("weight_decay", s.weight_decay, "Decoupled weight decay (adamw) / L2 added to the gradient (sgd).",
            at_least(0));
    v.field("schedule", s.schedule, "Learning-rate schedule after warmup.", one_of({"constant", "cosine", "step"}));
    v.field("warmup_steps", s.warmup_steps, "Linear warmup from 0 over this many steps.", at_least(0));
    v.field("min_lr", s.min_lr, "cosine: final learning rate (as a fraction of the peak: min_lr/lr).", at_least(0));
    v.field("step_size", s.step_size, "step: multiply the rate by gamma every step_size steps.", at_least(1));
    v.field("gamma", s.gamma, "step: decay factor.", range(0, 1));
    v.field("clip_grad_norm", s.clip_grad_norm, "Clip the global gradient norm to this value (0 = off).", at_least(0));
    v.list("groups", s.groups, "Parameter groups with their own learning rate / weight decay; first match wins.");
    v.field("freeze", s.freeze, "Parameters matching any of these globs are frozen (no gradient buffer); a glob that matches no "
            "parameter of the model is an error.");
    v.field("unfreeze", s.unfreeze,
            "With adapters the base is frozen; base parameters matching these globs still train (each glob "
            "must match a parameter).");
    v.field("router_lr", s.router_lr, "Peak learning rate of router parameters (0 = train.lr; set without router parameters: an error).",
            at_least(0));
    v.field("adapter_lr", s.adapter_lr, "Peak learning rate of expert parameters (0 = train.lr; set without experts: an error).",
            at_least(0));
}

template <typename V>
void visit(V & v, EvalSpec & s) {
    v.field("val", s.val, "Evaluate on the validation split.");
    v.field("test", s.test, "Evaluate on the test split.");
    v.field("every_epochs", s.every_epochs, "Evaluate every this many epochs (and after the last).", at_least(1));
    v.field("batch_size", s.batch_size, "Evaluation batch size.", range(1, 1 << 20));
}

template <typename V>
void visit(V & v, LogSpec & s) {
    v.field("every", s.every, "Optimizer steps between records of the training metrics.", at_least(1));
    v.field("progress", s.progress, "Console output: auto = a bar on a terminal, plain lines otherwise.",
            one_of({"auto", "bar", "lines", "none"}));
    v.field("checkpoint_every", s.checkpoint_every,
            "moe-train: optimizer steps between checkpoints to <out>.ckpt (0 = only after each epoch and on "
            "SIGINT/SIGTERM).",
            at_least(0));
}

template <typename V>
void visit(V & v, ExpandSpec & s) {
    v.field("strategy", s.strategy, "Continual-learning strategy.",
            one_of({"sema", "adapter_per_task", "single_adapter", "head_only", "mole_joint"}));
    v.field("sites", s.sites,
            "Adapted sites (glob patterns): Linear sites (\"layers.*\", \"blocks.*.mlp.fc1\") or block "
            "sites beside a ViT block's MLP (\"blocks.*.mlp\": SEMA's placement); empty = every Linear "
            "site but the head.");
    v.field("expandable", s.expandable,
            "Adapted sites that may expand (empty = all); the others keep one adapter trained in the first task.");
    v.field("adapter", s.adapter, "Functional adapter: bottleneck (SEMA) or lora.",
            one_of(adapters::expert_kind_names()));
    v.field("rank", s.rank, "Bottleneck width / LoRA rank (SEMA ffn_num).", range(1, 1 << 16));
    v.field("lora_alpha", s.lora_alpha, "LoRA scale alpha / rank.", positive());
    v.field("rd_dim", s.rd_dim, "Width of the representation descriptor (linear autoencoder).", range(1, 1 << 16));
    v.field("buffer_size", s.buffer_size, "FIFO of descriptor losses behind the z-score statistics.",
            range(3, 1 << 24));
    v.field("threshold", s.threshold,
            "Expand when every descriptor of a site finds the batch novel: min_k mean_b z > threshold.", positive());
    v.field("detect_batch_size", s.detect_batch_size, "Batch size of the detection passes.", range(1, 1 << 20));
    v.field("detect_drop_last", s.detect_drop_last, "Skip the last partial detection batch (the reference keeps it).");
    v.field("max_adapters", s.max_adapters, "Adapters per site at most (0 = one per task).", at_least(0));
    v.field("head", s.head, "Classifier: reinit (a fresh one, SEMA) or base (start from the base model's head).",
            one_of({"reinit", "base"}));
    v.field("batch_size", s.batch_size, "Training batch size of both phases.", range(1, 1 << 20));
    v.field("optimizer", s.optimizer, "Optimizer of both phases (a fresh one per phase).", one_of({"sgd", "adamw"}));
    v.field("momentum", s.momentum, "sgd momentum.", range(0, 1));
    v.field("weight_decay", s.weight_decay, "Weight decay of both phases.", at_least(0));
    v.field("func_epochs", s.func_epochs, "Epochs of the functional phase (adapters, new router column, classifier).",
            at_least(1));
    v.field("func_lr", s.func_lr, "Peak learning rate of the functional phase (cosine per epoch).", positive());
    v.field("rd_epochs", s.rd_epochs, "Epochs of the descriptor phase.", at_least(1));
    v.field("rd_lr", s.rd_lr, "Peak learning rate of the descriptor phase (cosine per epoch).", positive());
    v.field("min_lr", s.min_lr, "Cosine floor of both phases.", at_least(0));
    v.field("eval_batch_size", s.eval_batch_size, "Evaluation batch size.", range(1, 1 << 20));
}

template <typename V>
void visit(V & v, Spec & s) {
    v.field("version", s.version, "Spec format version (1).", range(1, 1));
    v.field("base", s.base, "Run file of a pre-trained base model whose parameters are loaded by name, or a Hugging Face model "
                              "directory (config.json + safetensors; GPT-2 or LLaMA family) that also gives model.gpt.");
    v.object("exp", s.exp, "Experiment identity.");
    v.object("data", s.data, "Data source, tasks, split and normalisation.");
    v.object("model", s.model, "Base model architecture.");
    v.object("adapters", s.adapters, "Adapter experts attached to base sites (the base is then frozen).");
    v.object("routing", s.routing, "Router of every adapted site.");
    v.object("loss", s.loss, "Balancing and router losses.");
    v.object("train", s.train, "Optimisation.");
    v.object("eval", s.eval, "Evaluation.");
    v.object("log", s.log, "Logging and checkpoints.");
    v.object("stream", s.stream, "moe-expand: the stream of tasks (data.tasks in order, or a class split).");
    v.object("expand", s.expand, "moe-expand: strategy, adapters, descriptors and training phases.");
}

} // namespace moe::spec
