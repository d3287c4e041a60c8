#!/usr/bin/env bash
# Base-then-adapt on text: pretrain a byte-level GPT on three domains (english, c, roff), evaluate
# it on all six, then the sweep experiments/lm/sweep_adapt.json: a mixture of LoRA experts on the
# frozen base, adapted to the mixture of all six with every router family of experiments/lm/adapt/
# (and a single LoRA of the same parameter count, router none). Then experiments/lm/sweep_demons.json,
# "Demons in the Detail": one domain per micro-batch, 4 micro-batches per step, the load-balancing
# loss per micro-batch (micro) or over the step (global), 3 seeds.
# Tables: runs/lm/table.md (routers) and runs/lm/demons.md (lbl_scope).
#   experiments/lm/sweep.sh [BUILD_DIR]     (from the repository root; make corpus first; JOBS at a time, default 1)
set -euo pipefail
BUILD=${1:-build}
TRAIN="$BUILD/moe-train" EVAL="$BUILD/moe-eval"
PY=${PYTHON:-/usr/bin/python3}
[ -d data/corpus/english ] || { echo "data/corpus is missing: run make corpus first" >&2; exit 2; }
mkdir -p runs/lm
[ -f runs/lm/base3.h5 ] || "$TRAIN" experiments/lm/base3.json -o runs/lm/base3.h5
# the base on the adaptation's six test sets (its spec with the adaptation's domains)
domains=$("$PY" -c 'import json; print(json.dumps(json.load(open("experiments/lm/adapt/topk.json"))["data"]["text"]["domains"]))')
"$EVAL" runs/lm/base3.h5 --set "data.text.domains=$domains" -o runs/lm/base3_six.h5 --force | tee runs/lm/base3_six.md
JOBS=${JOBS:-1}
"$BUILD/moe-sweep" run experiments/lm/sweep_adapt.json --jobs "$JOBS" --threads $(( $(nproc) / JOBS > 0 ? $(nproc) / JOBS : 1 )) --resume
"$PY" experiments/tools/lm_table.py --base runs/lm/base3_six.h5 runs/lm/adapt_*.h5 | tee runs/lm/table.md
"$BUILD/moe-sweep" run experiments/lm/sweep_demons.json --jobs "$JOBS" --threads $(( $(nproc) / JOBS > 0 ? $(nproc) / JOBS : 1 )) --resume
"$PY" experiments/tools/lm_table.py --by loss.lbl_scope runs/lm/demons_*.h5 | tee runs/lm/demons.md
