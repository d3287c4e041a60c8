#!/usr/bin/env bash
# Every moe-expand strategy on both continual-learning streams of this directory, then one table.
#   experiments/cl/run_all.sh            (JOBS=2 runs at a time, one BLAS thread each)
# Writes runs/cl/<stream>_<strategy>.h5 and prints the Markdown table of experiments/cl/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-build}
JOBS=${JOBS:-2}
mkdir -p runs/cl
# the frozen base: an MLP pre-trained on the original Fashion-MNIST images
[ -e runs/cl_base_mlp.h5 ] || "$BIN/moe-train" experiments/cl/base_mlp.json -o runs/cl_base_mlp.h5 --threads "$JOBS" -q
runs=()
for stream in domain class; do
  for s in sema adapter_per_task single_adapter head_only mole_joint; do runs+=("$stream $s"); done
done
printf '%s\n' "${runs[@]}" | xargs -P "$JOBS" -L 1 bash -c '
  out=runs/cl/$0_$1.h5
  [ -e "$out" ] && { echo "have $out"; exit 0; }
  '"$BIN"'/moe-expand experiments/cl/$0.json -o "$out" --threads 1 --set expand.strategy=$1 --set exp.name=cl_$0_$1 \
    > runs/cl/$0_$1.log 2>&1 && echo "done $out" || { echo "FAILED $out (see runs/cl/$0_$1.log)"; exit 1; }'
/usr/bin/python3 experiments/tools/cl_table.py runs/cl/domain_*.h5 runs/cl/class_*.h5
