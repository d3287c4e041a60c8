#!/usr/bin/env bash
# Data-parallel throughput: moe-train on the mlp-mole and lm-mole workload shapes (moe-bench's
# make_workload, as specs), np ranks x threads per rank, each for a fixed number of steps with no
# evaluation; prints the median of the run file's metrics/train/samples_per_s windows after the
# first (LM: x 256 tokens per sequence). Usage:
#   experiments/bench/mpi_throughput.sh [BUILD] [STEPS]
# Open MPI as root: OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 (set here).
set -euo pipefail
BUILD=${1:-build}
STEPS=${2:-60}
TRAIN=$(realpath "$BUILD/moe-train")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# a synthetic two-domain text corpus (throughput does not depend on the text)
/usr/bin/python3 - "$T/corpus" <<'PY'
import os, random, sys
rnd = random.Random(1)
for dom in ("a", "b"):
    os.makedirs(os.path.join(sys.argv[1], dom))
    for f in range(20):
        with open(os.path.join(sys.argv[1], dom, f"{f}.txt"), "w") as fh:
            fh.write(" ".join("".join(rnd.choice("abcdefghij") for _ in range(rnd.randint(2, 8))) for _ in range(4000)))
PY
cat >"$T/mlp-mole.json" <<JSON
{"exp": {"name": "mlp-mole", "seed": 1},
 "data": {"source": "fashion-mnist", "train_limit": 60000, "test_limit": 100, "val_fraction": 0.0},
 "model": {"kind": "mlp", "mlp": {"hidden": [1024, 1024], "activation": "gelu"}},
 "adapters": {"sites": ["layers.0", "layers.1"], "kind": "lora", "experts": 8, "rank": 16, "alpha": 32},
 "routing": {"router": "topk", "k": 2, "renormalize": true}, "loss": {"lbl": "switch", "lbl_coef": 0.01},
 "train": {"epochs": 0, "max_steps": $STEPS, "batch_size": 512, "lr": 0.001},
 "eval": {"val": false, "test": false}, "log": {"every": 10, "progress": "none"}}
JSON
cat >"$T/lm-mole.json" <<JSON
{"exp": {"name": "lm-mole", "seed": 1},
 "data": {"source": "text", "text": {"block_size": 256, "cache_dir": "$T/cache",
   "domains": [{"name": "a", "paths": ["$T/corpus/a"]}, {"name": "b", "paths": ["$T/corpus/b"]}]}},
 "model": {"kind": "gpt", "gpt": {"context": 256, "width": 384, "depth": 6, "heads": 6, "mlp_dim": 1536}},
 "adapters": {"sites": ["blocks.*.attn.qkv", "blocks.*.mlp.fc1", "blocks.*.mlp.fc2"], "kind": "lora",
   "experts": 8, "rank": 16, "alpha": 32},
 "routing": {"router": "topk", "k": 2, "renormalize": true}, "loss": {"lbl": "switch", "lbl_coef": 0.01},
 "train": {"epochs": 0, "max_steps": $((STEPS / 4)), "batch_size": 8, "lr": 0.001},
 "eval": {"val": false, "test": false, "batch_size": 8}, "log": {"every": 3, "progress": "none"}}
JSON
median() { # median samples/s of the windows after the first
    /usr/bin/python3 - "$1" "$2" <<'PY'
import sys, statistics, h5py
v = h5py.File(sys.argv[1], "r")["metrics/train/samples_per_s"][1:]
print(f"{statistics.median(v) * float(sys.argv[2]):.0f}")
PY
}
echo "| workload | unit | np x threads | train.shards | throughput |"
echo "|---|---|---|---|---|"
for w in mlp-mole lm-mole; do
    unit="samples/s" scale=1
    [ $w = lm-mole ] && unit="tokens/s" scale=256
    "$TRAIN" "$T/$w.json" -o "$T/warm.h5" --threads 2 -q --force --set train.max_steps=3 >/dev/null 2>&1 # data and caches
    for cfg in "1 2 1" "1 2 2" "2 1 2"; do
        set -- $cfg
        np=$1 th=$2 sh=$3
        out="$T/${w}_${np}x${th}_s${sh}.h5"
        if [ "$np" = 1 ]; then
            "$TRAIN" "$T/$w.json" -o "$out" --threads "$th" -q --set train.shards="$sh" >/dev/null
        else
            mpirun --oversubscribe -np "$np" "$TRAIN" "$T/$w.json" -o "$out" --threads "$th" -q --set train.shards="$sh" >/dev/null
        fi
        echo "| $w | $unit | $np x $th | $sh | $(median "$out" $scale) |"
    done
done
