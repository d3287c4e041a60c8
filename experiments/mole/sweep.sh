#!/usr/bin/env bash
# Base-then-adapt on Fashion-MNIST: pre-train the MLP base on the original images (once), then
# adapt a mixture of LoRA experts to four transformed domains with every router family (and a
# single LoRA of rank 32, router none), and tabulate accuracy, balance and adapter FLOPs.
#   experiments/mole/sweep.sh [BUILD_DIR]   (run from the repository root; extra args: --set ...)
set -euo pipefail
BUILD=${1:-build}; shift || true
BIN="$BUILD/moe-train"
mkdir -p runs/mole
if [ ! -f runs/pretrain_mlp_fmnist.h5 ]; then
    "$BIN" experiments/pretrain_mlp_fmnist.json -o runs/pretrain_mlp_fmnist.h5 "$@"
fi
# every router of the registry (one spec each), and top-k without its load-balancing loss
for r in $("$BIN" --list routers) topk_nolbl; do
    echo "== $r"
    "$BIN" "experiments/mole/$r.json" -o "runs/mole/$r.h5" -q "$@"
done
/usr/bin/python3 experiments/tools/mole_table.py runs/mole/*.h5 | tee runs/mole/table.md
