#!/usr/bin/env bash
# Base-then-adapt on Fashion-MNIST: pre-train the MLP base on the original images (once), then
# the sweep experiments/mole/sweep.json (a mixture of LoRA experts on four transformed domains
# with every router family, and top-k without its load-balancing loss) under GNU parallel, and
# tabulate accuracy, balance and adapter FLOPs.
#   experiments/mole/sweep.sh [BUILD_DIR]   (run from the repository root; JOBS runs at a time, default 2)
# Runs that exist are kept; unfinished ones continue from their checkpoints (moe-sweep run --resume).
set -euo pipefail
BUILD=${1:-build}
mkdir -p runs/mole
if [ ! -f runs/pretrain_mlp_fmnist.h5 ]; then
    "$BUILD/moe-train" experiments/pretrain_mlp_fmnist.json -o runs/pretrain_mlp_fmnist.h5
fi
"$BUILD/moe-sweep" run experiments/mole/sweep.json --jobs "${JOBS:-2}" --threads 1 --resume
/usr/bin/python3 experiments/tools/mole_table.py runs/mole/*.h5 | tee runs/mole/table.md
