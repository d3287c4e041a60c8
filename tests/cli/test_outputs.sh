#!/usr/bin/env bash
# Outputs never lose data (docs/run-file.md, "Writing"): an existing output is replaced only with
# --force and an unfinished run's checkpoint only with --resume or --force (moe-train, moe-expand,
# moe-eval -o, moe-eval summarize --csv); one writer per output at a time (a second one fails at
# once, naming the first one's PID, and the first finishes intact); links planted where older
# versions put their temporaries (OUT.tmp-PID) or at the final name are never followed; a
# file-size limit (ulimit -f) is an I/O error like a full disk (exit 3, the file named, no
# temporary left, the last checkpoint kept and resumable). Every pre-existing file is checked
# byte for byte.
source "$(dirname "$0")/lib.sh"
"$PYTHON" "$MOE_SRC/tests/bad_input/make_inputs.py" data "$TMP/gen" >/dev/null
T=$MOE_BIN/moe-train E=$MOE_BIN/moe-eval X=$MOE_BIN/moe-expand
SPEC=$MOE_SRC/tests/bad_input/tiny_idx.json
D=(--set data.dir="$TMP/gen/idx_ok" -q)
sum() { md5sum <"$1"; }
same() { [ "$(sum "$1")" = "$2" ] || fail "$3: $1 changed"; }
no_temporaries() {
    local left
    left=$(cd "$TMP" && ls -A | grep -e '\.tmp-' -e '\.lock$' || true)
    [ -z "$left" ] || fail "$1: left behind: $left"
}
printf 'precious bytes\n' >"$TMP/victim"
VSUM=$(sum "$TMP/victim")

# ---- an existing output: refused (exit 2) without --force, byte-identical; --force replaces it
expect_rc 0 "$T" "$SPEC" -o "$TMP/a.h5" "${D[@]}"
A=$(sum "$TMP/a.h5")
expect_rc 2 "$T" "$SPEC" -o "$TMP/a.h5" "${D[@]}"
expect_out "^error: the output $TMP/a.h5 exists; --force replaces it$"
expect_out "^hint: give -o another path, or add --force to replace it$"
same "$TMP/a.h5" "$A" "a refused moe-train"
expect_rc 0 "$T" "$SPEC" -o "$TMP/a.h5" "${D[@]}" --force --set exp.seed=2
[ "$(sum "$TMP/a.h5")" != "$A" ] || fail "--force did not replace the output"
A=$(sum "$TMP/a.h5")
# an input is never replaced, --force or not
cp "$SPEC" "$TMP/spec.json"
expect_rc 2 "$T" "$TMP/spec.json" -o "$TMP/spec.json" "${D[@]}" --force
expect_out "the output $TMP/spec.json is the spec file"

expect_rc 0 "$E" "$TMP/a.h5" -o "$TMP/e.h5" -q
EV=$(sum "$TMP/e.h5")
expect_rc 2 "$E" "$TMP/a.h5" -o "$TMP/e.h5" -q
expect_out "^error: the output $TMP/e.h5 exists; --force replaces it$"
same "$TMP/e.h5" "$EV" "a refused moe-eval -o"
expect_rc 0 "$E" "$TMP/a.h5" -o "$TMP/e.h5" -q --force

expect_rc 0 "$E" summarize "$TMP/a.h5" --csv "$TMP/t.csv"
echo "my notes" >"$TMP/t.csv"
expect_rc 2 "$E" summarize "$TMP/a.h5" --csv "$TMP/t.csv"
expect_out "^error: the output $TMP/t.csv exists; --force replaces it$"
expect_out "^hint: give --csv another path, or add --force to replace it$"
[ "$(cat "$TMP/t.csv")" = "my notes" ] || fail "a refused summarize changed its --csv file"
expect_rc 0 "$E" summarize "$TMP/a.h5" --csv "$TMP/t.csv" --force
grep -q "a.h5" "$TMP/t.csv" || fail "summarize --force did not write the table"

# ---- an unfinished run's checkpoint: refused without --resume or --force
cp "$TMP/a.h5" "$TMP/b.h5.ckpt"
B=$(sum "$TMP/b.h5.ckpt")
expect_rc 2 "$T" "$SPEC" -o "$TMP/b.h5" "${D[@]}"
expect_out "^error: $TMP/b.h5.ckpt is the checkpoint of an unfinished run of $TMP/b.h5; --resume continues it, --force starts over and replaces it$"
expect_out "^hint: add --resume (the same spec and --set) or --force, or give -o another path$"
same "$TMP/b.h5.ckpt" "$B" "a refused start over"
[ ! -e "$TMP/b.h5" ] || fail "a refused run wrote its output"
expect_rc 0 "$T" "$SPEC" -o "$TMP/b.h5" "${D[@]}" --force
expect_out "warning: $TMP/b.h5.ckpt is the checkpoint of an unfinished run; this run starts over"
[ -s "$TMP/b.h5" ] && [ ! -e "$TMP/b.h5.ckpt" ] || fail "--force did not start over"

# moe-expand: a stream stopped after task 1 is continued with --resume, not replaced
XS=("$MOE_SRC/tests/bad_input/tiny_stream_idx.json" --set data.dir="$TMP/gen/idx_ok" --set base="$TMP/a.h5" -q)
expect_rc 0 "$X" "${XS[@]}" -o "$TMP/s.h5" --stop-after 1
S=$(sum "$TMP/s.h5.ckpt")
expect_rc 2 "$X" "${XS[@]}" -o "$TMP/s.h5"
expect_out "^error: $TMP/s.h5.ckpt is the checkpoint of an unfinished run of $TMP/s.h5; --resume continues it"
same "$TMP/s.h5.ckpt" "$S" "a refused moe-expand"
expect_rc 0 "$X" "${XS[@]}" -o "$TMP/s.h5" --resume
S=$(sum "$TMP/s.h5")
expect_rc 2 "$X" "${XS[@]}" -o "$TMP/s.h5"
expect_out "^error: the output $TMP/s.h5 exists; --force replaces it$"
expect_rc 0 "$X" "${XS[@]}" -o "$TMP/s.h5" --resume
expect_out "run $TMP/s.h5 already finished; nothing to do"
same "$TMP/s.h5" "$S" "moe-expand --resume of a finished stream"
no_temporaries "refused outputs"

# ---- links planted at the names older versions used for their temporaries (OUT.tmp-PID,
#      OUT.ckpt.tmp-PID; `exec` keeps the shell's PID) and at the final name: never followed
cp "$TMP/victim" "$TMP/victim2"
plant() { # plant OUT CMD...: a symbolic link at OUT.tmp-PID, a hard link at OUT.ckpt.tmp-PID, then CMD
    bash -c 'ln -s "$1" "$3.tmp-$$" && ln "$2" "$3.ckpt.tmp-$$" && exec "${@:4}"' _ "$TMP/victim" "$TMP/victim2" "$@"
}
expect_rc 0 plant "$TMP/l.h5" "$T" "$SPEC" -o "$TMP/l.h5" "${D[@]}" --set train.epochs=2   # with a checkpoint
expect_rc 0 plant "$TMP/le.h5" "$E" "$TMP/a.h5" -o "$TMP/le.h5" -q
expect_rc 0 plant "$TMP/lt.csv" "$E" summarize "$TMP/a.h5" --csv "$TMP/lt.csv"
expect_rc 0 plant "$TMP/lx.h5" "$X" "${XS[@]}" -o "$TMP/lx.h5"
same "$TMP/victim" "$VSUM" "links at the temporaries' old names"
same "$TMP/victim2" "$VSUM" "hard links at the temporaries' old names"
[ "$(stat -c %h "$TMP/victim2")" = 5 ] || fail "the planted hard links went"
for o in l.h5 le.h5 lt.csv lx.h5; do
    [ "$(find "$TMP" -maxdepth 1 -name "$o.tmp-*" -type l | wc -l)" = 1 ] || fail "the planted link of $o went"
    [ -f "$TMP/$o" ] && [ ! -L "$TMP/$o" ] || fail "$o is not a new regular file"
done
expect_rc 0 "$E" "$TMP/l.h5" -q
find "$TMP" -maxdepth 1 -name '*.tmp-*' -delete
# a hard link at the final name: --force replaces the name, the other file keeps its bytes
ln "$TMP/victim2" "$TMP/h.h5"
expect_rc 0 "$T" "$SPEC" -o "$TMP/h.h5" "${D[@]}" --force
same "$TMP/victim2" "$VSUM" "a hard link at the final name"
expect_rc 0 "$E" "$TMP/h.h5" -q
# a symbolic link at the final name: refused (exit 3), --force or not
ln -s "$TMP/victim" "$TMP/sl.h5"
expect_rc 3 "$T" "$SPEC" -o "$TMP/sl.h5" "${D[@]}" --force
expect_out "cannot write run file $TMP/sl.h5: it exists and is a symbolic link (to $TMP/victim)"
# links at the lock file's name: refused, nothing written through them
ln -s "$TMP/victim" "$TMP/k.h5.lock"
expect_rc 3 "$T" "$SPEC" -o "$TMP/k.h5" "${D[@]}"
expect_out "cannot lock it with $TMP/k.h5.lock: it is a symbolic link"
rm "$TMP/k.h5.lock"
ln "$TMP/victim" "$TMP/k.h5.lock"
expect_rc 3 "$T" "$SPEC" -o "$TMP/k.h5" "${D[@]}"
expect_out "cannot lock it with $TMP/k.h5.lock: it has 2 hard links"
rm "$TMP/k.h5.lock" "$TMP/sl.h5"
same "$TMP/victim" "$VSUM" "links at the final name and at the lock file"
[ ! -e "$TMP/k.h5" ] || fail "a refused run wrote its output"
no_temporaries "planted links"

# ---- two writers of one output: the second exits 2 at once, naming the first one's PID, which
#      is stopped (SIGSTOP) while it holds the lock and then finishes intact
C=(--set train.epochs=20)
expect_rc 0 "$T" "$SPEC" -o "$TMP/c_ref.h5" "${D[@]}" "${C[@]}"
for attempt in 1 2 3; do
    rm -f "$TMP/c.h5"
    "$T" "$SPEC" -o "$TMP/c.h5" "${D[@]}" "${C[@]}" >"$TMP/first.out" 2>&1 &
    first=$!
    # the lock file holds the holder's PID once the lock is taken
    end=$((SECONDS + 120))
    until [ -s "$TMP/c.h5.lock" ] || ! kill -0 $first 2>/dev/null; do
        [ $SECONDS -lt $end ] || fail "timed out waiting for $TMP/c.h5.lock"
        sleep 0.005
    done
    kill -STOP $first 2>/dev/null && [ -s "$TMP/c.h5.lock" ] && break
    wait $first || true
    echo "the first writer finished before it could be stopped (attempt $attempt)"
    [ $attempt -lt 3 ] || fail "could not catch the first writer while it held its lock"
done
[ "$(cat "$TMP/c.h5.lock")" = "$first" ] || fail "the lock file does not hold the holder's PID"
t0=$SECONDS
expect_rc 2 timeout 60 "$T" "$SPEC" -o "$TMP/c.h5" "${D[@]}"
expect_out "^error: the output $TMP/c.h5 is being written by another process (PID $first), which holds its lock file $TMP/c.h5.lock$"
expect_out "^hint: wait for that run to finish, or give -o another path$"
expect_rc 2 timeout 60 "$T" "$SPEC" -o "$TMP/c.h5" "${D[@]}" --force   # --force does not break the lock
expect_out "(PID $first)"
expect_rc 2 timeout 60 "$E" "$TMP/a.h5" -o "$TMP/c.h5" -q
expect_out "the output $TMP/c.h5 is being written by another process (PID $first)"
expect_rc 2 timeout 60 "$X" "${XS[@]}" -o "$TMP/c.h5"
expect_out "the output $TMP/c.h5 is being written by another process (PID $first)"
[ $((SECONDS - t0)) -lt 60 ] || fail "the second writers did not fail at once"
kill -CONT $first
wait $first || { cat "$TMP/first.out" >&2; fail "the first writer failed"; }
[ ! -e "$TMP/c.h5.lock" ] || fail "the lock file is left after the run"
"$E" "$TMP/c.h5" -q | sed "s#$TMP/c.h5#RUN#" >"$TMP/c.txt"
"$E" "$TMP/c_ref.h5" -q | sed "s#$TMP/c_ref.h5#RUN#" >"$TMP/c_ref.txt"
cmp -s "$TMP/c.txt" "$TMP/c_ref.txt" || fail "the first writer's run differs from an undisturbed one"
if have_h5py; then
    "$PYTHON" - "$TMP/c.h5" "$TMP/c_ref.h5" <<'PY' || fail "the first writer's weights differ"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = list(a["params"])
assert names == list(b["params"]) and names
for n in names:
    assert np.array_equal(a["params"][n][()], b["params"][n][()]), n
PY
fi
no_temporaries "two writers"

# ---- a file-size limit (ulimit -f, in KiB): exit 3 naming the file instead of death by SIGXFSZ
set +e
(ulimit -f 16 && exec "$T" "$SPEC" -o "$TMP/u.h5" "${D[@]}") >"$TMP/out" 2>&1
rc=$?
set -e
[ "$rc" = 3 ] || { cat "$TMP/out" >&2; fail "ulimit -f: expected exit 3, got $rc"; }
expect_out "^error: $TMP/u.h5.*: cannot write temporary file $TMP/u.h5.*.tmp-[0-9]*-[0-9a-f]*: File too large"
[ ! -e "$TMP/u.h5" ] || fail "ulimit -f: an output was left"
# a stream stopped after task 1, resumed under a limit below its checkpoint's size: the next write
# fails, the checkpoint is kept byte-identical with the command that continues, and without the
# limit --resume gives the stream an uninterrupted run gives
expect_rc 0 "$X" "${XS[@]}" -o "$TMP/full.h5"
expect_rc 0 "$X" "${XS[@]}" -o "$TMP/u.h5" --stop-after 1
U=$(sum "$TMP/u.h5.ckpt")
KB=$(( $(stat -c %s "$TMP/u.h5.ckpt") / 2048 ))
set +e
(ulimit -f $KB && exec "$X" "${XS[@]}" -o "$TMP/u.h5" --resume) >"$TMP/out" 2>&1
rc=$?
set -e
[ "$rc" = 3 ] || { cat "$TMP/out" >&2; fail "ulimit -f mid-stream: expected exit 3, got $rc"; }
expect_out "File too large"
expect_out "^hint: the checkpoint $TMP/u.h5.ckpt is kept; once fixed, continue with: "
same "$TMP/u.h5.ckpt" "$U" "a failed write under ulimit -f"
[ ! -e "$TMP/u.h5" ] || fail "ulimit -f: an output was left"
no_temporaries "ulimit -f"
expect_rc 0 "$X" "${XS[@]}" -o "$TMP/u.h5" --resume
if have_h5py; then
    "$PYTHON" - "$TMP/full.h5" "$TMP/u.h5" <<'PY' || fail "the resumed stream differs from an uninterrupted one"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
assert np.array_equal(a["stream/accuracy_matrix"][()], b["stream/accuracy_matrix"][()], equal_nan=True)
for n in a["params"]:
    assert np.array_equal(a["params"][n][()], b["params"][n][()]), n
PY
fi
echo "outputs: existing, checkpoints, planted links, two writers, ulimit -f: all kept"
