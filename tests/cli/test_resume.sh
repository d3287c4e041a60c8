#!/usr/bin/env bash
# Checkpoints and --resume: a run killed (kill -9) or interrupted (SIGINT) and resumed gives the
# same bits as an uninterrupted run (weights, optimizer-driven metrics, eval and routing series);
# --resume on a finished run, on a missing checkpoint and with another spec.
source "$(dirname "$0")/lib.sh"
have_h5py || { echo "SKIP: python3-h5py not installed"; exit 0; }
TRAIN="$MOE_BIN/moe-train"
MLP="$MOE_SRC/tests/fixtures/tiny_mlp.json"
MOLE="$MOE_SRC/tests/fixtures/tiny_mole.json"

ARGS=("$MLP" --threads 1 --set train.epochs=6 --set log.checkpoint_every=5 --set log.progress=lines)
expect_rc 0 "$TRAIN" "${ARGS[@]}" -q -o "$TMP/full.h5"
[ ! -e "$TMP/full.h5.ckpt" ] || fail "a finished run leaves no checkpoint"

# (a) kill -9 somewhere after the first checkpoint, then resume
"$TRAIN" "${ARGS[@]}" -q -o "$TMP/killed.h5" >"$TMP/killed.log" 2>&1 &
pid=$!
wait_for "$TMP/killed.h5.ckpt" $pid && sleep 0.0$((RANDOM % 10)) && kill -9 $pid 2>/dev/null || true
wait $pid 2>/dev/null || true
if [ -e "$TMP/killed.h5" ]; then
    echo "note: the run finished before kill -9; resuming it is then a no-op"
else
    [ -e "$TMP/killed.h5.ckpt" ] || fail "kill -9 lost the checkpoint"
    "$PYTHON" -c "import h5py,sys; f=h5py.File(sys.argv[1]); print('kill -9 after checkpoint at step', int(f['checkpoint'].attrs['step']))" "$TMP/killed.h5.ckpt"
fi
expect_rc 0 "$TRAIN" "${ARGS[@]}" -q -o "$TMP/killed.h5" --resume
[ ! -e "$TMP/killed.h5.ckpt" ] || fail "the checkpoint is removed after a resumed run"
ls "$TMP" | grep -q 'killed.h5.*tmp-' && fail "stale temporary files left: $(ls "$TMP")"
same_run "$TMP/full.h5" "$TMP/killed.h5"

# (b) SIGINT once the first checkpoint exists: exit 130, one line naming the step and the resume
# command (run as printed), checkpoint at that step; resumed run identical
RUN=("${ARGS[@]}" -q)
signal_run "$TMP/int.h5" INT
[ "$rc" = 130 ] || { cat "$TMP/sig.err"; fail "SIGINT: expected exit 130, got $rc"; }
grep -v '^blas:' "$TMP/sig.err" >"$TMP/int.msg" || true
[ "$(wc -l <"$TMP/int.msg")" = 1 ] || { cat "$TMP/sig.err"; fail "SIGINT: expected one line on stderr"; }
msg=$(cat "$TMP/int.msg")
[[ "$msg" =~ ^interrupted\ at\ step\ ([0-9]+):\ checkpoint\ written\ to\ (.*)\;\ resume\ with:\ (.*--resume)$ ]] ||
    fail "SIGINT message: $msg"
step=${BASH_REMATCH[1]}; ckpt=${BASH_REMATCH[2]}; cmd=${BASH_REMATCH[3]}
[ "$ckpt" = "$TMP/int.h5.ckpt" ] && [ -e "$ckpt" ] || fail "SIGINT: no checkpoint at $ckpt"
[ ! -e "$TMP/int.h5" ] || fail "SIGINT: an interrupted run writes no run file"
"$PYTHON" - "$ckpt" "$step" <<'PY' || fail "checkpoint attributes"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
c, o = f["checkpoint"].attrs, f["optim"].attrs
for k in ("step", "epoch", "batch"): assert isinstance(c[k], np.integer), (k, type(c[k]))
assert isinstance(o["steps"], np.integer) and o["kind"] == "adamw"
assert c["step"] == int(sys.argv[2]) and o["steps"] == c["step"], (c["step"], o["steps"])
PY
# another spec than the checkpoint's: exit 2, both files and the difference named, checkpoint kept
expect_rc 2 "$TRAIN" "${ARGS[@]}" -o "$TMP/int.h5" --resume --set train.lr=0.01
expect_out "$TMP/int.h5.ckpt"
expect_out "$MLP"
expect_out "train.lr: stored 0.003, now 0.01"
[ -e "$ckpt" ] || fail "a refused resume keeps the checkpoint"
echo "SIGINT at step $step; resuming with: $cmd"
# temporaries a killed writer left (kill -9 mid-write) are removed by the resume; another output's kept
plant_stale "$TMP/int.h5"
eval "$cmd" >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "the printed resume command failed"; }
stale_removed "$TMP/int.h5"
same_run "$TMP/full.h5" "$TMP/int.h5"

# (b2) two signals at once: exit 130 at once or after a checkpoint; the last checkpoint resumes
signal_run "$TMP/twice.h5" INT TERM
[ "$rc" = 130 ] || fail "two signals: expected exit 130, got $rc"
ls "$TMP" | grep -q 'twice.h5.*tmp-' && fail "two signals left a temporary file: $(ls "$TMP")"
expect_rc 0 "$TRAIN" "${ARGS[@]}" -q -o "$TMP/twice.h5" --resume
same_run "$TMP/full.h5" "$TMP/twice.h5"

# (c) --resume on a finished run: nothing to do, the file untouched
sum=$(md5sum <"$TMP/full.h5")
expect_rc 0 "$TRAIN" "${ARGS[@]}" -o "$TMP/full.h5" --resume
expect_out "run $TMP/full.h5 already finished; nothing to do"
[ "$(md5sum <"$TMP/full.h5")" = "$sum" ] || fail "--resume modified a finished run"
[ ! -e "$TMP/full.h5.ckpt" ] || fail "--resume on a finished run wrote a checkpoint"

# no checkpoint and no run: exit 3
expect_rc 3 "$TRAIN" "${ARGS[@]}" -o "$TMP/none.h5" --resume
expect_out "no checkpoint $TMP/none.h5.ckpt to resume from"

# (d) adapters and a router on a frozen base (routing telemetry, LBL): SIGINT mid-run, resume
MARGS=("$MOLE" --threads 1 --set base="$TMP/full.h5" --set train.epochs=3 --set log.checkpoint_every=3 -q)
expect_rc 0 "$TRAIN" "${MARGS[@]}" -o "$TMP/mole_full.h5"
RUN=("${MARGS[@]}")
signal_run "$TMP/mole.h5" INT
[ "$rc" = 130 ] || { cat "$TMP/sig.err"; fail "mole SIGINT: expected exit 130, got $rc"; }
expect_rc 0 "$TRAIN" "${MARGS[@]}" -o "$TMP/mole.h5" --resume
same_run "$TMP/mole_full.h5" "$TMP/mole.h5"
echo "resume: all checks passed"
