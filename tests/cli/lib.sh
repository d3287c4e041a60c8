# Shared helpers of the CLI tests (sourced). MOE_BIN, MOE_SRC and PYTHON come from ctest.
set -euo pipefail
: "${MOE_BIN:?}" "${MOE_SRC:?}"
PYTHON=${PYTHON:-/usr/bin/python3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export OPENBLAS_NUM_THREADS=1
fail() { echo "FAIL: $*" >&2; exit 1; }
# expect_rc CODE cmd... : run, capture stdout+stderr in $TMP/out, check the exit code
expect_rc() {
    local want=$1; shift
    set +e
    "$@" >"$TMP/out" 2>&1
    local rc=$?
    set -e
    if [ "$rc" != "$want" ]; then cat "$TMP/out" >&2; fail "expected exit $want, got $rc: $*"; fi
}
expect_out() { grep -q -- "$1" "$TMP/out" || { cat "$TMP/out" >&2; fail "output lacks: $1"; }; }
# wait_for FILE PID: 0 once FILE exists, 1 if PID ends before it appears; fails after 120 s
wait_for() {
    local end=$((SECONDS + 120))
    while [ $SECONDS -lt $end ]; do
        [ -e "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || { [ -e "$1" ]; return; }
        sleep 0.01
    done
    fail "timed out waiting for $1"
}
# mpi_ranks PATTERN: "RANK PID" lines of the processes mpirun started (their OMPI_COMM_WORLD_RANK)
# whose command line matches PATTERN; mpi_rank_pid PATTERN RANK: that rank's pid, or nothing
mpi_ranks() {
    local p r
    for p in $(pgrep -f "$1" || true); do
        r=$(tr '\0' '\n' 2>/dev/null <"/proc/$p/environ" | sed -n 's/^OMPI_COMM_WORLD_RANK=//p') || r="" # (gone)
        [ -z "$r" ] || echo "$r $p"
    done
}
mpi_rank_pid() { mpi_ranks "$1" | awk -v r="$2" '$1 == r { print $2 }'; }
# plant_stale OUT: temporaries of OUT a killed writer left behind (OUT.tmp-PID, OUT.ckpt.tmp-PID of
# a PID that no longer exists, in $stale) and one of another output; stale_removed OUT checks
# that a --resume removed OUT's and kept the other.
plant_stale() {
    ( exit 0 ) & stale=$!; wait $stale
    : >"$1.tmp-$stale"; : >"$1.ckpt.tmp-$stale"; : >"$TMP/else.h5.tmp-$stale"
}
stale_removed() {
    [ ! -e "$1.tmp-$stale" ] && [ ! -e "$1.ckpt.tmp-$stale" ] || fail "stale temporaries kept: $(ls "$TMP")"
    [ -e "$TMP/else.h5.tmp-$stale" ] || fail "another output's temporary was removed"
    rm "$TMP/else.h5.tmp-$stale"
}
have_h5py() { "$PYTHON" -c "import h5py" 2>/dev/null; }
# same_run A B: every dataset bitwise equal (but the wall-clock series), same final attributes
same_run() {
    "$PYTHON" - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
clock = {"ms_per_step", "samples_per_s"}
def datasets(f):
    out = {}
    f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) and n.split("/")[-1] not in clock else None)
    return out
A, B = datasets(a), datasets(b)
assert A.keys() == B.keys(), sorted(set(A) ^ set(B))
assert any(k.startswith("metrics/eval/") for k in A) and any(k.startswith("params/") for k in A)
for k in A:
    x, y = np.asarray(A[k]), np.asarray(B[k])
    assert x.shape == y.shape and x.dtype == y.dtype and x.tobytes() == y.tobytes(), f"{k} differs"
for k, v in a["metrics"].attrs.items():
    if k != "seconds": assert b["metrics"].attrs[k] == v, f"metrics attr {k} differs"
assert "checkpoint" not in a and "optim" not in a, "a run file carries no checkpoint groups"
print(f"bitwise identical: {len(A)} datasets")
PY
}
# signal_run OUT SIGNAL...: moe-train "${RUN[@]}" -o OUT in the background (stdout, stderr in
# $TMP/sig.out, sig.err), the SIGNALs sent once its first checkpoint exists; its exit code in rc.
# The runs are short: one that finishes before the signals land (a loaded machine) is started
# again, up to three times.
signal_run() {
    local out=$1 attempt pid sig; shift
    for attempt in 1 2 3; do
        rm -f "$out" "$out.ckpt"
        "${TRAIN:-$MOE_BIN/moe-train}" "${RUN[@]}" -o "$out" >"$TMP/sig.out" 2>"$TMP/sig.err" &
        pid=$!
        if wait_for "$out.ckpt" $pid; then for sig in "$@"; do kill -"$sig" $pid 2>/dev/null || true; done; fi
        set +e; wait $pid; rc=$?; set -e
        [ -e "$out" ] || return 0
        echo "note: the run finished before the signal reached it (attempt $attempt)"
    done
    fail "the run finished before the signal reached it, three times"
}
# two_domains DIR SEED: a tiny two-domain text corpus (alpha: English-like words, code: C-like
# tokens; 20 documents of 80 words each) for the language-model tests
two_domains() {
    "$PYTHON" - "$1" "$2" <<'PY'
import os, random, sys
rnd = random.Random(int(sys.argv[2]))
words = {"alpha": ["the", "cat", "sat", "on", "a", "mat"], "code": ["int", "x", "=", "0;", "{", "}"]}
for dom, ws in words.items():
    os.makedirs(os.path.join(sys.argv[1], dom))
    for f in range(20):
        with open(os.path.join(sys.argv[1], dom, f"d{f}.txt"), "w") as fh:
            fh.write(" ".join(rnd.choice(ws) for _ in range(80)) + "\n")
PY
}
