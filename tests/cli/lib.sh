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
