#!/usr/bin/env bash
# compare.sh: moe-lab (build/moe-bench) against PyTorch (bench_torch.py) on the standard workloads
# of experiments/bench/README.md, one after the other in one go, with the same thread count; prints
# both engines' own tables and then the comparison:
#   | workload | unit | moe-lab | PyTorch | moe-lab / PyTorch | each engine's % of its GEMM peak |
# (samples/s, or training tokens/s for the language models, and their generation tokens/s).
# Without python3-torch the PyTorch column says "skipped" and the script still exits 0.
#
#   experiments/bench/compare.sh [--threads N] [--workloads a,b] [--repeats R] [--steps S]
#   BUILD=build-x experiments/bench/compare.sh      # another build directory (default: build)
#   PYTHON=/usr/bin/python3                         # the interpreter for bench_torch.py
#   --isa avx2 (or MOE_ISA=avx2)                    # moe-lab's kernels on that path (docs/simd.md)
# Defaults: all cores (nproc), all five workloads, moe-bench's repeats/steps (5 x 5).
# OpenBLAS kernels: an explicit OPENBLAS_CORETYPE applies to both; when it is unset, both pick
# the same kernels by the same rule (apps/common/cli_common.cpp, select_blas_kernels).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
python=${PYTHON:-/usr/bin/python3}
threads=$(nproc)
pass=()
moe_only=()
while [ $# -gt 0 ]; do
    case $1 in
        --threads) threads=$2; shift 2 ;;
        --workloads|--repeats|--steps) pass+=("$1" "$2"); shift 2 ;;
        --isa) moe_only+=("$1" "$2"); shift 2 ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "compare.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
bench=$build/moe-bench
[ -x "$bench" ] || { echo "compare.sh: $bench not found (make build)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "threads: $threads; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "== moe-lab: $bench --json --threads $threads ${pass[*]} ${moe_only[*]}"
"$bench" --json --threads "$threads" "${pass[@]}" "${moe_only[@]}" >"$tmp/moe.out" 2>"$tmp/moe.err" || {
    cat "$tmp/moe.err" >&2; echo "compare.sh: moe-bench failed" >&2; exit 1; }
grep -v '^{' "$tmp/moe.out" || true
# the kernels moe-lab ran with, from its log line "blas: OpenBLAS (pthreads, <core>; ...)"
moe_core=$(sed -n 's/^blas: OpenBLAS ([a-zA-Z]*, \([A-Za-z0-9]*\);.*/\1/p' "$tmp/moe.err" | head -n1)
moe_core=${moe_core:-${OPENBLAS_CORETYPE:-unknown}}
echo
echo "== PyTorch: $python $here/bench_torch.py --json --threads $threads ${pass[*]}"
if command -v "$python" >/dev/null 2>&1; then
    "$python" "$here/bench_torch.py" --json --threads "$threads" "${pass[@]}" >"$tmp/torch.out" 2>"$tmp/torch.err" || {
        cat "$tmp/torch.err" >&2; echo "compare.sh: bench_torch.py failed" >&2; exit 1; }
else
    echo "skipped: $python not found" >"$tmp/torch.out"
fi
grep -v '^{' "$tmp/torch.out" || true
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# the comparison table from the two sets of JSON lines
if ! command -v "$python" >/dev/null 2>&1; then
    echo "compare.sh: no $python for the comparison table; moe-lab's JSON lines:"
    grep '^{' "$tmp/moe.out"
    exit 0
fi
MOE_CORE=$moe_core "$python" - "$tmp/moe.out" "$tmp/torch.out" <<'EOF'
import json, os, sys
def rows(path):
    out = {}
    for line in open(path):
        if line.startswith("{"):
            r = json.loads(line)
            if "workload" in r:  # moe-bench's step-time-ratio line has none
                out[r["workload"]] = r
    return out
moe, pt = rows(sys.argv[1]), rows(sys.argv[2])
print("| workload | unit | moe-lab | PyTorch | moe-lab / PyTorch | moe-lab % of GEMM peak | PyTorch % of its peak |")
print("|---|---|---|---|---|---|---|")
gen = []
for name, m in moe.items():
    p = pt.get(name)
    key, unit = ("tokens_per_s", "training tokens/s") if m.get("tokens_per_s") else ("samples_per_s", "samples/s")
    ps = f"{p[key]:.0f}" if p else "skipped"
    ratio = f"{m[key] / p[key]:.2f}x" if p else "-"
    pp = f"{100 * p['ratio']:.1f}%" if p else "-"
    print(f"| {name} | {unit} | {m[key]:.0f} | {ps} | {ratio} | {100 * m['gflops'] / m['peak_gflops']:.1f}% | {pp} |")
    if m.get("gen_tokens_per_s"):
        gen.append((name, m, p))
for name, m, p in gen:
    mg = m["gen_tokens_per_s"]
    pg = p.get("gen_tokens_per_s") if p else None
    pcell = f"{pg:.0f}" if pg else "skipped"
    rcell = f"{mg / pg:.2f}x" if pg else "-"
    print(f"| {name} generation (KV cache, batch 1, greedy, {m['gen_tokens']} tokens) | tokens/s | "
          f"{mg:.0f} | {pcell} | {rcell} | - | - |")
any_m = next(iter(moe.values()), None)
any_p = next(iter(pt.values()), None)
print()
if any_m:
    def span(rows):  # each row's peak: the better of the measurements just before and after it
        lo, hi = min(r['peak_gflops'] for r in rows), max(r['peak_gflops'] for r in rows)
        return f"{lo:.1f}" if hi - lo < 0.05 else f"{lo:.1f}-{hi:.1f}"
    print(f"GEMM peak (1024^3 SGEMM, {any_m['threads']} threads, per row): moe-lab {span(moe.values())} GFLOP/s"
          + (f", PyTorch {span(pt.values())} GFLOP/s" if any_p else ""))
if any_m and "isa" in any_m:
    print(f"moe-lab's own kernels: {any_m['isa']}")
print(f"OpenBLAS kernels: moe-lab {os.environ['MOE_CORE']}"
      + (f", PyTorch {any_p['blas_core']} (torch {any_p['torch']})" if any_p else ", PyTorch skipped"))
EOF
