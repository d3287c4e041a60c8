#!/usr/bin/env bash
# Every moe-expand strategy on the continual-learning streams of this directory (the sweep
# experiments/cl/sweep.json), then one table.
#   experiments/cl/run_all.sh            (JOBS=2 runs at a time, one BLAS thread each; about 45 minutes
#                                         on 2 cores with both bases present)
# More seeds or a subset: a sweep file of your own (docs/sweeps.md), e.g. the same file with
# "seeds": [2, 3, 4] and "run_name": "{name}_{expand.strategy}_s{seed}"; the table adds mean and
# sd over seeds. Writes runs/cl/<stream>_<strategy>.h5, keeps the runs that exist, continues the
# unfinished ones, and prints the Markdown tables of experiments/cl/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-build}
JOBS=${JOBS:-2}
SWEEP=${SWEEP:-experiments/cl/sweep.json}
mkdir -p runs/cl
# the frozen base: an MLP pre-trained on the original Fashion-MNIST images
[ -e runs/cl_base_mlp.h5 ] || "$BIN/moe-train" experiments/cl/base_mlp.json -o runs/cl_base_mlp.h5 --threads "$JOBS" -q
# and the ViT of experiments/pretrain_vit_fmnist.json (about 28 minutes on 2 cores)
if grep -q domain_vit "$SWEEP"; then
  [ -e runs/cl_base_vit.h5 ] || "$BIN/moe-train" experiments/pretrain_vit_fmnist.json -o runs/cl_base_vit.h5 --threads "$JOBS" -q
fi
"$BIN/moe-sweep" run "$SWEEP" --jobs "$JOBS" --threads 1 --resume
/usr/bin/python3 experiments/tools/cl_table.py runs/cl/*.h5
