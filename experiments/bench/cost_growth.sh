#!/usr/bin/env bash
# Time per step of the mlp-mole workload as E and k grow: cost should follow k, not E.
#   experiments/bench/cost_growth.sh [BUILD_DIR]      (REPEATS, STEPS: timed repeats x steps, default 5 x 5)
set -euo pipefail
BUILD=${1:-build}
REPEATS=${REPEATS:-5}
STEPS=${STEPS:-5}
echo "| E | k | ms/step | samples/s |"
echo "|---|---|---|---|"
for k in 1 2 4; do
    for E in 4 8 16 32 64; do
        "$BUILD/moe-bench" --workloads mlp-mole --experts "$E" --k "$k" --repeats "$REPEATS" --steps "$STEPS" --json -q 2>/dev/null |
            /usr/bin/python3 -c "import json,sys
for l in sys.stdin:
    if l.startswith('{'):
        r=json.loads(l); print(f\"| {r['experts']} | {r['k']} | {r['ms_per_step']:.1f} | {r['samples_per_s']:.0f} |\")"
    done
done
