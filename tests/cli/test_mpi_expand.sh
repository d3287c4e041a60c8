#!/usr/bin/env bash
# Data-parallel moe-expand under MPI (docs/distributed.md, "moe-expand"): a three-task SEMA stream
# (Fashion-MNIST, light noise, then the inversion, which expands the site) with train.shards = 4 gives
# bitwise-identical run files on mpirun -np 1, 2 and 4 and without mpirun (one thread per rank):
# weights, accuracy matrix, every detection score and decision, the descriptors' FIFOs; a rank
# count that does not divide the shards is refused with one message; a rank killed after the
# first task's checkpoint ends the job, and --resume on 4 ranks finishes with the bits of the
# uninterrupted stream; SIGINT to one rank stops every rank after one task, said once, and the
# stream resumes without mpirun.
source "$(dirname "$0")/lib.sh"
command -v mpirun >/dev/null || { echo "SKIP: no mpirun (apt-get install openmpi-bin libopenmpi-dev)"; exit 0; }
"$MOE_BIN/moe-expand" --help | grep -q "mpirun -np" || { echo "SKIP: moe-expand was built without MPI"; exit 0; }
have_h5py || { echo "SKIP: python3-h5py not installed"; exit 0; }
# Open MPI as root and with more ranks than cores (the same as --allow-run-as-root --oversubscribe)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export MOE_MPI_TIMEOUT=5
# Under AddressSanitizer Open MPI's own allocations outlive MPI_Finalize in plugins it unloads, which
# LeakSanitizer reports as leaks in unknown modules: leaks go unchecked here, memory errors are not
if [ "${MOE_SANITIZED:-OFF}" = ON ]; then export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"; fi
MPIRUN=(timeout 120 mpirun --oversubscribe)
X="$MOE_BIN/moe-expand"
expand_np() { # expand_np NP ARGS...: moe-expand ARGS on NP ranks, 1 thread each
    local np=$1
    shift
    expect_rc 0 "${MPIRUN[@]}" -np "$np" "$X" "$@" --threads 1 -q
}
# same_stream A B: every dataset bitwise equal, every attribute but the wall-clock ones
same_stream() {
    "$PYTHON" - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
clock = {"seconds", "created"}  # wall-clock
def items(f):
    out = {}
    def visit(n, o):
        if isinstance(o, h5py.Dataset):
            out[n] = o[()]
        for k, v in o.attrs.items():
            if k not in clock: out[n + "@" + k] = v
    for k, v in f.attrs.items():
        if k not in clock: out["@" + k] = v
    f.visititems(visit)
    return out
A, B = items(a), items(b)
assert A.keys() == B.keys(), sorted(set(A) ^ set(B))
for k in A:
    x, y = np.asarray(A[k]), np.asarray(B[k])
    assert x.shape == y.shape and x.dtype == y.dtype and x.tobytes() == y.tobytes(), f"{k} differs"
assert len(a["stream/expansions"]) >= 1, "no expansion: the stream does not exercise the detection"
assert a["sema/layers.0/rd0/records"].shape[0] > 0
print(f"bitwise identical: {len(A)} datasets and attributes; expansions {a['stream/expansions'][:].tolist()}")
PY
}

"$MOE_BIN/moe-train" "$MOE_SRC/tests/fixtures/tiny_mlp.json" -o "$TMP/base.h5" -q --threads 1 --set train.epochs=1
sed "s#BASE_RUN#$TMP/base.h5#" "$MOE_SRC/tests/fixtures/tiny_stream.json" >"$TMP/four.json"
"$PYTHON" - "$TMP/four.json" "$TMP/stream.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["exp"]["name"] = "mpi_stream"
s["data"]["train_limit"], s["data"]["test_limit"] = 1000, 200
s["data"]["tasks"] = [t for t in s["data"]["tasks"] if t["name"] in ("original", "noise", "invert")]
s["train"] = {"shards": 4}
json.dump(s, open(sys.argv[2], "w"))
PY
for np in 1 2 4; do expand_np $np "$TMP/stream.json" -o "$TMP/np$np.h5"; done
expect_rc 0 "$X" "$TMP/stream.json" -o "$TMP/plain.h5" --threads 1 -q # no mpirun: one process
for run in np2 np4 plain; do same_stream "$TMP/np1.h5" "$TMP/$run.h5"; done

# train.shards must be a multiple of the ranks: refused (exit 2), the message printed once
expect_rc 2 "${MPIRUN[@]}" -np 3 "$X" "$TMP/stream.json" -o "$TMP/np3.h5" --threads 1 -q
expect_out "train.shards (4) must be a multiple of the number of processes (3)"
[ "$(grep -c "must be a multiple" "$TMP/out")" = 1 ] || { cat "$TMP/out"; fail "the error is printed more than once"; }
# and a divisor of expand.batch_size
expect_rc 2 "$X" "$TMP/stream.json" -o "$TMP/bad.h5" --threads 1 -q --set train.shards=3 --set train.batch_size=129
expect_out "train.shards (3) must divide expand.batch_size (32)"

# kill -9 rank 1 of 2 after the first task's checkpoint: the job ends non-zero naming the rank,
# no run file; --resume on 4 ranks finishes with the bits of the uninterrupted stream
LONG=(--set expand.func_epochs=6 --set expand.rd_epochs=8)
expect_rc 0 "$X" "$TMP/stream.json" -o "$TMP/full.h5" --threads 1 -q "${LONG[@]}"
killed=""
for attempt in 1 2 3; do
    rm -f "$TMP/kill.h5" "$TMP/kill.h5.ckpt"
    "${MPIRUN[@]}" -np 2 "$X" "$TMP/stream.json" -o "$TMP/kill.h5" --threads 1 -q "${LONG[@]}" >"$TMP/kill.out" 2>&1 &
    tp=$!
    wait_for "$TMP/kill.h5.ckpt" $tp || true
    victim=$(mpi_rank_pid "$X .*$TMP/kill.h5" 1)
    if [ -n "$victim" ] && [ ! -e "$TMP/kill.h5" ]; then
        kill -9 "$victim"
        set +e
        wait $tp
        rc=$?
        set -e
        killed=yes
        break
    fi
    wait $tp || true
    echo "note: the run finished before the kill (attempt $attempt)"
done
[ -n "$killed" ] || fail "the run finished before the kill, three times"
[ "$rc" != 0 ] || { cat "$TMP/kill.out"; fail "a killed rank: mpirun exited 0"; }
grep -q "rank 1" "$TMP/kill.out" || { cat "$TMP/kill.out"; fail "the message does not name rank 1"; }
[ ! -e "$TMP/kill.h5" ] || fail "a killed stream wrote its run file"
expand_np 4 "$TMP/stream.json" -o "$TMP/kill.h5" "${LONG[@]}" --resume
same_stream "$TMP/full.h5" "$TMP/kill.h5"
# SIGINT to rank 1 alone (a stop request one process sees): every rank stops after the same task,
# rank 0 says so once with the command that resumes it, and the stream continues without mpirun
rm -f "$TMP/int.h5" "$TMP/int.h5.ckpt"
"${MPIRUN[@]}" -np 2 "$X" "$TMP/stream.json" -o "$TMP/int.h5" --threads 1 -q "${LONG[@]}" >"$TMP/int.out" 2>&1 &
tp=$!
wait_for "$TMP/int.h5.ckpt" $tp || true
victim=$(mpi_rank_pid "$X .*$TMP/int.h5" 1)
if [ -n "$victim" ] && [ ! -e "$TMP/int.h5" ]; then
    kill -INT "$victim"
    set +e
    wait $tp
    rc=$?
    set -e
    if [ -e "$TMP/int.h5" ]; then
        echo "note: the stream finished before the interrupt was seen"
    else
        [ "$rc" != 0 ] || { cat "$TMP/int.out"; fail "an interrupted stream: mpirun exited 0"; }
        n=$(grep -c "checkpoint written to $TMP/int.h5.ckpt; resume with: mpirun -np 2 " "$TMP/int.out" || true)
        [ "$n" = 1 ] || { cat "$TMP/int.out"; fail "the interrupt message is printed $n times, not once"; }
        expect_rc 0 "$X" "$TMP/stream.json" -o "$TMP/int.h5" --threads 1 -q "${LONG[@]}" --resume
        same_stream "$TMP/full.h5" "$TMP/int.h5"
    fi
else
    wait $tp || true
    echo "note: the stream finished before the interrupt"
fi
echo "mpi expand: np 1/2/4 identical (SEMA, three tasks, an expansion); killed, resumed on 4 ranks identical; interrupted once"
