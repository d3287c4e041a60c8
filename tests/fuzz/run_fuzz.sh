#!/usr/bin/env bash
# tests/fuzz/run_fuzz.sh FUZZ_BUILD SEED_BUILD [SECONDS] — the fuzzing part of `make fuzz`.
#
# FUZZ_BUILD holds fuzz_spec, fuzz_safetensors and fuzz_run_file (clang, -DMOE_FUZZ=ON), SEED_BUILD a plain
# moe-train that makes the run-file seeds. Everything libFuzzer writes (grown corpora, logs,
# crash/timeout/leak artifacts) goes to a scratch directory ($FUZZ_WORK, else a new
# $TMPDIR/moe-fuzz.XXXXXX), never into the repository. Four runs, one after the other:
#   fuzz_spec      SECONDS (default 300), plain libFuzzer: any crash stops it and fails;
#   fuzz_safetensors  SECONDS, the same, seeded with tests/fixtures/safetensors;
#   fuzz_run_file  SECONDS, the reader as every moe-lab binary uses it: the integrity header
#                  (size + CRC-32) is checked before libhdf5 reads a byte;
#   fuzz_run_file with MOE_RUN_FILE_CHECK=0, UNCHECKED_SECONDS (default SECONDS): libhdf5
#                  parses the mutated bytes themselves (what a user gets with the check off).
# Both run-file runs use fork mode (-fork=1 -ignore_crashes=1): the HDF5 C library itself crashes
# or hangs on some corrupt files, so a run goes on past those and every artifact is replayed by
# triage.py, which fails `make fuzz` only for bugs in our code (a libhdf5 artifact of the checked
# run is reported all the same: it would mean a damaged file got past the checksum). A valid
# input takes milliseconds: -timeout=2 and -malloc_limit_mb=256 turn libhdf5's endless loops and
# giant allocations (a corrupt string length makes it allocate and clear gigabytes) into quick
# artifacts instead of slow inputs that every fork job would replay. Our reader allocates at
# most what the file stores.
# Prints the executions each run reached; exit status 1 when a target failed in our code.
set -uo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
fuzz_build=${1:?usage: run_fuzz.sh FUZZ_BUILD SEED_BUILD [SECONDS]}
seed_build=${2:?usage: run_fuzz.sh FUZZ_BUILD SEED_BUILD [SECONDS]}
secs=${3:-300}
unchecked_secs=${UNCHECKED_SECONDS:-$secs}
work=${FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/moe-fuzz.XXXXXX")}
mkdir -p "$work"/corpus_spec "$work"/corpus_run "$work"/corpus_run_unchecked "$work"/artifacts/spec \
  "$work"/artifacts/run "$work"/artifacts/run_unchecked "$work"/corpus_st "$work"/artifacts/st || exit 1
# the run-file target's per-process scratch file (not removed when a job crashes)
shm=/dev/shm
[ -w "$shm" ] || shm=${TMPDIR:-/tmp}
export MOE_FUZZ_SCRATCH=$(mktemp -d "$shm/moe-fuzz-scratch.XXXXXX")
trap 'rm -rf "$MOE_FUZZ_SCRATCH"' EXIT
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$src/tests/fuzz/lsan.supp
echo "moe-lab fuzz: ${secs} s per target; scratch directory $work"

# ---- seed corpora (copies) ------------------------------------------------------
for f in "$src"/experiments/*.json "$src"/experiments/mole/*.json "$src"/experiments/cl/*.json \
         "$src"/tests/fixtures/*.json "$src"/tests/fuzz/corpus_spec/*; do
  rel=${f#"$src"/}
  cp "$f" "$work/corpus_spec/${rel//\//_}"
done

find "$src/tests/fixtures/safetensors" -name '*.safetensors' -exec cp {} "$work/corpus_st/" \;

train=$seed_build/moe-train
seed_opts=(-q --set log.progress=none --set log.every=1 --set train.epochs=1)
"$train" "$src/tests/fixtures/tiny_mlp.json" -o "$work/corpus_run/tiny_mlp_fmnist.h5" "${seed_opts[@]}" \
  --set 'model.mlp.hidden=[4]' --set train.max_steps=3 --set data.train_limit=256 --set data.test_limit=64 \
  >/dev/null || exit 1
"$train" "$src/tests/fixtures/tiny_mlp.json" -o "$work/corpus_run/tiny_mlp_synthetic.h5" "${seed_opts[@]}" \
  --set data.source=synthetic --set data.train_limit=0 --set data.test_limit=0 \
  --set 'data.synthetic={"n_tasks":1,"dim":4,"n_classes":2,"hidden":2,"n_train":64,"n_test":16}' \
  --set 'model.mlp.hidden=[2]' --set train.max_steps=2 --set train.batch_size=16 >/dev/null || exit 1
/usr/bin/python3 "$src/tests/fuzz/compact_run.py" "$work/corpus_run/tiny_mlp_synthetic.h5" \
  "$work/corpus_run/tiny_mlp_synthetic_compact.h5" || exit 1
/usr/bin/python3 "$src/tests/fuzz/compact_run.py" "$work/corpus_run/tiny_mlp_synthetic.h5" \
  "$work/corpus_run/tiny_mlp_synthetic_claims_huge.h5" --claim-huge || exit 1

corpus_stats() { # files and bytes of a corpus directory
  find "$1" -type f -printf '%s\n' | awk '{ n++; b += $1 } END { printf "%d files, %d KB", n, b / 1024 }'
}
cp "$work"/corpus_run/* "$work/corpus_run_unchecked/"
echo "  seed corpus spec: $(corpus_stats "$work/corpus_spec"); run: $(corpus_stats "$work/corpus_run")"

status=0
summary=$work/summary.txt
: >"$summary"

# ---- fuzz_spec ------------------------------------------------------------------
echo "== fuzz_spec: $secs s (log $work/fuzz_spec.log)"
start=$(date +%s)
"$fuzz_build/fuzz_spec" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/spec/" "$work/corpus_spec" >"$work/fuzz_spec.log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz_spec.log" | tail -1)
[ -n "$runs" ] || runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$work/fuzz_spec.log" | tail -1)
cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$work/fuzz_spec.log" | tail -1)
line="fuzz_spec: $(( $(date +%s) - start )) s, ${runs:-0} executions, $cov, corpus $(corpus_stats "$work/corpus_spec"), exit $rc"
echo "$line" | tee -a "$summary"
shopt -s nullglob
arts=("$work"/artifacts/spec/*)
if [ "$rc" -ne 0 ] || [ ${#arts[@]} -gt 0 ]; then
  status=1
  tail -40 "$work/fuzz_spec.log"
  [ ${#arts[@]} -gt 0 ] && /usr/bin/python3 "$src/tests/fuzz/triage.py" "$fuzz_build/fuzz_spec" "${arts[@]}" | tee -a "$summary"
fi

# ---- fuzz_safetensors (plain libFuzzer, like fuzz_spec) -------------------------
echo "== fuzz_safetensors: $secs s (log $work/fuzz_safetensors.log)"
start=$(date +%s)
"$fuzz_build/fuzz_safetensors" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/st/" "$work/corpus_st" >"$work/fuzz_safetensors.log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz_safetensors.log" | tail -1)
[ -n "$runs" ] || runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$work/fuzz_safetensors.log" | tail -1)
cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$work/fuzz_safetensors.log" | tail -1)
line="fuzz_safetensors: $(( $(date +%s) - start )) s, ${runs:-0} executions, $cov, corpus $(corpus_stats "$work/corpus_st"), exit $rc"
echo "$line" | tee -a "$summary"
arts=("$work"/artifacts/st/*)
if [ "$rc" -ne 0 ] || [ ${#arts[@]} -gt 0 ]; then
  status=1
  tail -40 "$work/fuzz_safetensors.log"
  [ ${#arts[@]} -gt 0 ] && /usr/bin/python3 "$src/tests/fuzz/triage.py" "$fuzz_build/fuzz_safetensors" "${arts[@]}" | tee -a "$summary"
fi

# ---- fuzz_run_file: checked (the default), then with MOE_RUN_FILE_CHECK=0 -----------
fuzz_run() { # NAME SECONDS CORPUS ARTIFACTS [env assignments...]
  local name=$1 t=$2 corpus=$3 arts_dir=$4
  shift 4
  echo "== $name: $t s, fork mode (log $work/$name.log)"
  local start rc last runs failures line
  start=$(date +%s)
  env "$@" "$fuzz_build/fuzz_run_file" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    -max_total_time="$t" -rss_limit_mb=2048 -malloc_limit_mb=256 -timeout=2 \
    -artifact_prefix="$arts_dir/" "$corpus" >"$work/$name.log" 2>&1
  rc=$?
  last=$(grep -E '^#[0-9]+: cov' "$work/$name.log" | tail -1)
  runs=$(echo "$last" | sed -n 's/^#\([0-9]*\):.*/\1/p')
  failures=$(echo "$last" | grep -oE 'oom/timeout/crash: [0-9/]+')
  line="$name: $(( $(date +%s) - start )) s, ${runs:-0} executions, $(echo "$last" | grep -oE 'cov: [0-9]+ ft: [0-9]+'), corpus $(corpus_stats "$corpus"), $failures, exit $rc"
  echo "$line" | tee -a "$summary"
  [ -n "$runs" ] || { status=1; tail -40 "$work/$name.log"; }
  local arts=("$arts_dir"/*)
  if [ ${#arts[@]} -gt 0 ]; then
    env "$@" /usr/bin/python3 "$src/tests/fuzz/triage.py" --timeout=2 -malloc_limit_mb=256 "$fuzz_build/fuzz_run_file" "${arts[@]}" \
      | tee -a "$summary" || status=1
  fi
}
fuzz_run fuzz_run_file "$secs" "$work/corpus_run" "$work/artifacts/run" MOE_RUN_FILE_CHECK=1
fuzz_run fuzz_run_file_unchecked "$unchecked_secs" "$work/corpus_run_unchecked" "$work/artifacts/run_unchecked" MOE_RUN_FILE_CHECK=0

echo "== summary ($summary)"
cat "$summary"
[ $status -eq 0 ] && echo "moe-lab fuzz: no finding in our code" || echo "moe-lab fuzz: FINDINGS in our code (artifacts and .log files in $work/artifacts)"
exit $status
