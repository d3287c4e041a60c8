#!/usr/bin/env bash
# Paired runs of two moe-bench builds: for each workload, N pairs of one run of each build back to
# back (the order alternating from pair to pair, so a drift of the host's speed hits both alike),
# then per workload the median samples/s of each build and the median and range of the per-pair
# ratios new / old. A pair shares the host's state of the moment; the ratio of a pair is far less
# noisy than two tables measured minutes apart.
#   experiments/bench/pairs.sh OLD_MOE_BENCH NEW_MOE_BENCH [PAIRS (7)] [WORKLOADS (mlp-mole,vit-mole,mlp-mole-wide)]
set -euo pipefail
old=${1:?old moe-bench}
new=${2:?new moe-bench}
pairs=${3:-7}
workloads=${4:-mlp-mole,vit-mole,mlp-mole-wide}
PYTHON=${PYTHON:-/usr/bin/python3}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rate() { # rate BIN WORKLOAD -> samples/s of one run (median of its repeats)
    "$1" --workloads "$2" --repeats 3 --steps 5 --json -q 2>/dev/null |
        "$PYTHON" -c 'import json, sys; print([json.loads(l) for l in sys.stdin if l.startswith("{")][0]["samples_per_s"])'
}
IFS=, read -r -a ws <<<"$workloads"
for w in "${ws[@]}"; do
    for p in $(seq 1 "$pairs"); do
        if [ $((p % 2)) = 1 ]; then a=$(rate "$old" "$w"); b=$(rate "$new" "$w"); else b=$(rate "$new" "$w"); a=$(rate "$old" "$w"); fi
        echo "$w $a $b" | tee -a "$out" >&2
    done
done
"$PYTHON" - "$out" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    w, a, b = line.split()
    rows.setdefault(w, []).append((float(a), float(b)))
print("| workload | pairs | old, median samples/s | new, median samples/s | new / old, median of the pairs | range of the pairs |")
print("|---|---|---|---|---|---|")
for w, ps in rows.items():
    r = [b / a for a, b in ps]
    print(f"| {w} | {len(ps)} | {statistics.median(a for a, _ in ps):.0f} | {statistics.median(b for _, b in ps):.0f} "
          f"| {statistics.median(r):.3f} | {min(r):.2f}-{max(r):.2f} |")
PY
