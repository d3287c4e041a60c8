#!/usr/bin/env bash
# Every moe-expand strategy on the continual-learning streams of this directory, then one table.
#   experiments/cl/run_all.sh            (JOBS=2 runs at a time, one BLAS thread each; about 45 minutes
#                                         on 2 cores with both bases present)
#   SEEDS="1 2 3 4" STREAMS=domain_vit STRATEGIES="sema single_adapter head_only" experiments/cl/run_all.sh
#                                        (more seeds of some runs: the table adds mean and sd over seeds)
# Writes runs/cl/<stream>_<strategy>.h5 (seed 1) or runs/cl/<stream>_<strategy>_s<seed>.h5, skips
# the runs that exist, and prints the Markdown tables of experiments/cl/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-build}
JOBS=${JOBS:-2}
SEEDS=${SEEDS:-1}
STREAMS=${STREAMS:-domain_vit domain class}   # the long ViT runs first
STRATEGIES=${STRATEGIES:-sema adapter_per_task single_adapter head_only mole_joint}
mkdir -p runs/cl
# the frozen base: an MLP pre-trained on the original Fashion-MNIST images
[ -e runs/cl_base_mlp.h5 ] || "$BIN/moe-train" experiments/cl/base_mlp.json -o runs/cl_base_mlp.h5 --threads "$JOBS" -q
# and the ViT of experiments/pretrain_vit_fmnist.json (about 28 minutes on 2 cores)
case " $STREAMS " in *" domain_vit "*)
  [ -e runs/cl_base_vit.h5 ] || "$BIN/moe-train" experiments/pretrain_vit_fmnist.json -o runs/cl_base_vit.h5 --threads "$JOBS" -q ;;
esac
runs=()
for seed in $SEEDS; do
  for stream in $STREAMS; do
    for s in $STRATEGIES; do runs+=("$stream $s $seed"); done
  done
done
printf '%s\n' "${runs[@]}" | xargs -P "$JOBS" -L 1 bash -c '
  name=$0_$1; [ "$2" = 1 ] || name=$0_$1_s$2
  out=runs/cl/$name.h5
  [ -e "$out" ] && { echo "have $out"; exit 0; }
  '"$BIN"'/moe-expand experiments/cl/$0.json -o "$out" --threads 1 --set expand.strategy=$1 --set exp.name=cl_$0_$1 \
    --set exp.seed=$2 > runs/cl/$name.log 2>&1 && echo "done $out" || { echo "FAILED $out (see runs/cl/$name.log)"; exit 1; }'
/usr/bin/python3 experiments/tools/cl_table.py runs/cl/*.h5
