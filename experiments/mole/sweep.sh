#!/usr/bin/env bash
# Base-then-adapt on Fashion-MNIST: pre-train the MLP base on the original images (once), then
# adapt a mixture of LoRA experts to four transformed domains with every router family, and
# tabulate accuracy, balance and adapter FLOPs.
#   experiments/mole/sweep.sh [BUILD_DIR]   (run from the repository root; extra args: --set ...)
set -euo pipefail
BUILD=${1:-build}; shift || true
BIN="$BUILD/moe-train"
mkdir -p runs/mole
if [ ! -f runs/pretrain_mlp_fmnist.h5 ]; then
    "$BIN" experiments/pretrain_mlp_fmnist.json -o runs/pretrain_mlp_fmnist.h5 "$@"
fi
for r in soft topk topk_nolbl switch topp dynmole expert_choice null_experts sigmoid_bias random_fixed task; do
    echo "== $r"
    "$BIN" "experiments/mole/$r.json" -o "runs/mole/$r.h5" -q "$@"
done
/usr/bin/python3 experiments/tools/mole_table.py runs/mole/*.h5 | tee runs/mole/table.md
