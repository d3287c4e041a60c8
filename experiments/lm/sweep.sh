#!/usr/bin/env bash
# Base-then-adapt on text: pretrain a byte-level GPT on three domains (english, c, roff), evaluate
# it on all six, then adapt a mixture of LoRA experts on the frozen base to the mixture of all
# six with every router family of experiments/lm/adapt/ (and a single LoRA of the same parameter
# count, router none). Then "Demons in the Detail": one domain per micro-batch, 4 micro-batches
# per step, the load-balancing loss per micro-batch (micro) or over the step (global), 3 seeds.
# Tables: runs/lm/table.md (routers) and runs/lm/demons.md (lbl_scope).
#   experiments/lm/sweep.sh [BUILD_DIR] [--set ...]     (from the repository root; make corpus first)
set -euo pipefail
BUILD=${1:-build}; shift || true
TRAIN="$BUILD/moe-train" EVAL="$BUILD/moe-eval"
PY=${PYTHON:-/usr/bin/python3}
[ -d data/corpus/english ] || { echo "data/corpus is missing: run make corpus first" >&2; exit 2; }
mkdir -p runs/lm
[ -f runs/lm/base3.h5 ] || "$TRAIN" experiments/lm/base3.json -o runs/lm/base3.h5 "$@"
# the base on the adaptation's six test sets (its spec with the adaptation's domains)
domains=$("$PY" -c 'import json; print(json.dumps(json.load(open("experiments/lm/adapt/topk.json"))["data"]["text"]["domains"]))')
"$EVAL" runs/lm/base3.h5 --set "data.text.domains=$domains" -o runs/lm/base3_six.h5 --force | tee runs/lm/base3_six.md
for spec in experiments/lm/adapt/*.json; do
    r=$(basename "$spec" .json)
    [ -f "runs/lm/adapt_$r.h5" ] && continue
    echo "== $r"
    "$TRAIN" "$spec" -o "runs/lm/adapt_$r.h5" -q "$@"
done
# the single LoRA with the adapter FLOPs of top-2 (rank 16 = 2 x 8, the same alpha / rank)
[ -f runs/lm/adapt_none_r16.h5 ] || "$TRAIN" experiments/lm/adapt/none.json -o runs/lm/adapt_none_r16.h5 -q \
    --set adapters.rank=16 --set adapters.alpha=32 --set exp.name=lm_adapt_none_r16 "$@"
"$PY" experiments/tools/lm_table.py --base runs/lm/base3_six.h5 runs/lm/adapt_*.h5 | tee runs/lm/table.md
for scope in micro global; do
    for seed in 1 2 3; do
        out="runs/lm/demons_${scope}_s$seed.h5"
        [ -f "$out" ] && continue
        echo "== lbl_scope $scope, seed $seed"
        "$TRAIN" experiments/lm/demons.json -o "$out" -q --set "loss.lbl_scope=$scope" --set "exp.seed=$seed" \
            --set "exp.name=demons_${scope}_s$seed" "$@"
    done
done
"$PY" experiments/tools/lm_table.py --by loss.lbl_scope runs/lm/demons_*.h5 | tee runs/lm/demons.md
