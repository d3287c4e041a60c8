#!/usr/bin/env bash
# moe-expand end to end on a tiny Fashion-MNIST stream (original, light noise, inversion,
# permutation) over a tiny frozen MLP: the run-file layout, the expansion rule in the driver
# (no expansion above every shift; at most one per site per task), every strategy, a stream
# stopped after task 2 and resumed (bitwise equal to an uninterrupted one), a SIGKILL between
# tasks then --resume, SIGINT (exit 130, message, resumable checkpoint), and plot_run.py.
source "$(dirname "$0")/lib.sh"
have_h5py || { echo "skipped: python3-h5py is not installed"; exit 0; }
"$MOE_BIN/moe-train" "$MOE_SRC/tests/fixtures/tiny_mlp.json" -o "$TMP/base.h5" -q --threads 1
sed "s#BASE_RUN#$TMP/base.h5#" "$MOE_SRC/tests/fixtures/tiny_stream.json" > "$TMP/stream.json"
X="$MOE_BIN/moe-expand"

# ---- sema: layout and console
expect_rc 0 "$X" "$TMP/stream.json" -o "$TMP/sema.h5" --threads 1
expect_out "task 4/4 permute"
expect_out "done: A_N"
[ ! -e "$TMP/sema.h5.ckpt" ] || fail "checkpoint left behind after a finished stream"
# the console's first-pass z of a site is the mean score over the whole first detection pass
"$PYTHON" - "$TMP/sema.h5" "$TMP/out" <<'PY' || fail "console first-pass z"
import re, sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
det = f["stream/detections"][:]          # task, pass, batch, site, adapters, score, expanded
sites = f["stream/sites"].asstr()[()].split(",")
checked = 0
for line in open(sys.argv[2]):
    m = re.match(r"task (\d+)/\d+ .*\| z: (.*?) \| adapters", line)
    if not m or m.group(2) == "-":
        continue
    t = int(m.group(1)) - 1
    for part in m.group(2).split(", "):
        name, z = part.rsplit(" ", 1)
        rows = det[(det[:, 0] == t) & (det[:, 1] == 0) & (det[:, 3] == sites.index(name))]
        assert len(rows) > 0, (t, name)
        assert abs(float(z) - rows[:, 5].mean()) < 0.006, (t, name, z, rows[:, 5].mean())
        checked += 1
assert checked >= 3, checked
PY
"$PYTHON" - "$TMP/sema.h5" <<'PY' || fail "sema run file"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
s = f["stream"]
R = s["accuracy_matrix"][:]
assert R.shape == (4, 4), R.shape
assert np.all(np.isnan(R[np.triu_indices(4, 1)])) and np.all(np.isfinite(np.tril(R)))
assert s.attrs["strategy"] == "sema" and s.attrs["finished"] == 1
for k in ("tasks", "tasks_done", "finished"):   # counts and flags are integers in Python
    assert isinstance(s.attrs[k], np.integer), (k, type(s.attrs[k]))
assert s.attrs["tasks"] == s.attrs["tasks_done"] == 4
assert f.attrs["tool"] == "moe-expand" and f.attrs["name"] and f.attrs["blas"]   # moe-train's root attributes
assert s["adapters"].shape == (4, 1) and s["adapters"][0, 0] == 1
assert s["params_added_total"][-1] > s["params_added_inference"][-1] > 0   # descriptors count in the total only
d = s["detections"][:]
assert d.shape[1] == 7 and d.shape[0] > 0 and set(np.unique(d[:, 0])) <= {1, 2, 3}   # no detection in task 0
assert s["detections"].attrs["columns"] == "task,pass,batch,site,adapters,score,expanded"
curve = s["accuracy_curve"][:]
assert abs(s["A_N"][()] - curve[-1]) < 1e-12 and abs(s["A_bar"][()] - curve.mean()) < 1e-12
K = int(f["sema/layers.0/adapters"][()])
assert K == s["adapters"][-1, 0]
assert f["sema/layers.0/rd0/records"].shape == (200,)     # buffer_size records persisted
print("layout ok", R.diagonal(), "adapters", K)
PY

# ---- -q prints the final result line only (A_N, A_bar, forgetting, the run file)
expect_rc 0 "$X" "$TMP/stream.json" -o "$TMP/quiet.h5" --threads 1 -q --set expand.strategy=head_only
grep -v '^blas:' "$TMP/out" > "$TMP/quiet.out" || true
[ "$(wc -l <"$TMP/quiet.out")" = 1 ] && grep -q "^done: A_N [0-9.]*%, A_bar [0-9.]*%, forgetting [0-9.-]*%, BWT [0-9.-]*% (.*) -> $TMP/quiet.h5\$" "$TMP/quiet.out" ||
    { cat "$TMP/out"; fail "moe-expand -q: expected the one result line"; }
expect_rc 0 "$X" --version
expect_out "^moe-expand [0-9.]* (git "

# ---- the rule inside the driver: a huge threshold never expands; a zero threshold expands every
#      site exactly once per task (at most one per site per task)
expect_rc 0 "$X" "$TMP/stream.json" -o "$TMP/never.h5" --threads 1 -q --set expand.threshold=1e9
expect_rc 0 "$X" "$TMP/stream.json" -o "$TMP/always.h5" --threads 1 -q --set expand.threshold=1e-9 --set 'expand.sites=["layers.0"]'
"$PYTHON" - "$TMP/never.h5" "$TMP/always.h5" <<'PY' || fail "expansion rule"
import sys, h5py, numpy as np
never, always = (h5py.File(p, "r")["stream"] for p in sys.argv[1:3])
assert never["expansions"].shape[0] == 0 and np.all(never["adapters"][:] == 1)
assert not np.any(never["detections"][:, 6])
e = always["expansions"][:]
pairs = {tuple(r) for r in e}
assert len(pairs) == len(e) == 3, e                  # tasks 1, 2, 3 at site 0, once each
assert list(always["adapters"][:, 0]) == [1, 2, 3, 4]
print("rule ok")
PY

# ---- every strategy on the same stream
for s in adapter_per_task single_adapter head_only mole_joint; do
  expect_rc 0 "$X" "$TMP/stream.json" -o "$TMP/$s.h5" --threads 1 -q --set expand.strategy=$s
done
"$PYTHON" - "$TMP" <<'PY' || fail "strategies"
import sys, h5py, numpy as np
d = sys.argv[1]
S = {s: h5py.File(f"{d}/{s}.h5", "r")["stream"] for s in ["adapter_per_task", "single_adapter", "head_only", "mole_joint"]}
assert list(S["adapter_per_task"]["adapters"][:, 0]) == [1, 2, 3, 4]
assert list(S["single_adapter"]["adapters"][:, 0]) == [1, 1, 1, 1]
assert S["head_only"]["adapters"].shape == (4, 0) and S["head_only"]["params_added_total"][-1] == 0
R = S["mole_joint"]["accuracy_matrix"][:]
assert np.all(S["mole_joint"]["adapters"][:] == 4)
for i in range(4):     # trained once on every task: each row evaluates the same model
    assert np.array_equal(R[i, :i + 1], R[3, :i + 1]), R
for s, g in S.items(): print(s, "A_N %.3f" % g["A_N"][()])
PY

# ---- moe-eval summarize over streams: A_N, A_bar, forgetting, bwt and the strategy from /stream
expect_rc 0 "$MOE_BIN/moe-eval" summarize "$TMP/sema.h5" "$TMP/head_only.h5" --csv "$TMP/streams.csv"
expect_out "| strategy | A_N | A_bar | forgetting | bwt |"
"$PYTHON" - "$TMP/streams.csv" "$TMP/sema.h5" "$TMP/head_only.h5" <<'PY' || fail "summarize: stream columns"
import csv, sys, h5py
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 2, rows
for row, path in zip(rows, sys.argv[2:]):
    s = h5py.File(path, "r")["stream"]
    assert row["strategy"] == s.attrs["strategy"], row
    for k in ("A_N", "A_bar", "forgetting", "bwt"):
        assert row[k] == "%.4f" % s[k][()], (k, row[k], s[k][()])
    assert row["test acc"] == "%.4f" % s["A_N"][()], row  # the final model on every task's test set
    assert row["steps"] == str(s.attrs["steps"]) and s.attrs["steps"] > 0, row
    assert float(row["seconds"]) >= 0 and row["test loss"] == "", row
print("summarize of streams ok:", [(r["strategy"], r["A_N"]) for r in rows])
PY
# export-metrics of a stream: its accuracy matrix, one column per task
expect_rc 0 "$MOE_BIN/moe-eval" export-metrics "$TMP/sema.h5" --csv "$TMP/sema_csv"
names=$("$PYTHON" -c "import h5py, sys; print(h5py.File(sys.argv[1], 'r')['stream/task_names'].asstr()[()])" "$TMP/sema.h5")
[ "$(head -1 "$TMP/sema_csv/stream/accuracy_matrix.csv")" = "after_task,$names" ] ||
    fail "stream accuracy_matrix.csv header: $(head -1 "$TMP/sema_csv/stream/accuracy_matrix.csv")"
[ "$(wc -l <"$TMP/sema_csv/stream/accuracy_matrix.csv")" = 5 ] || fail "stream accuracy_matrix.csv: expected 4 rows"

# ---- the Markdown table of experiments/cl/README.md from these runs: one row per strategy, in order
"$PYTHON" "$MOE_SRC/experiments/tools/cl_table.py" "$TMP"/{head_only,sema,mole_joint,single_adapter,adapter_per_task}.h5 \
  > "$TMP/table.md" || fail "cl_table.py"
[ "$(grep -c '^| tiny_stream | ' "$TMP/table.md")" = 5 ] || fail "cl_table.py: expected 5 rows: $(cat "$TMP/table.md")"
[ "$(grep '^| tiny_stream | ' "$TMP/table.md" | cut -d'|' -f3 | tr -d ' ' | paste -sd,)" = \
  "sema,adapter_per_task,single_adapter,head_only,mole_joint" ] || fail "cl_table.py: row order"
grep -q 'task-aware A_N' "$TMP/table.md" || fail "cl_table.py: no task-aware column"
grep -q '| seeds |' "$TMP/table.md" && fail "cl_table.py: a seed summary with one seed per strategy"
#      a second seed of sema: its own row, and the mean and sd over the two seeds
expect_rc 0 "$X" "$TMP/stream.json" -o "$TMP/sema_s6.h5" --threads 1 -q --set exp.seed=6
"$PYTHON" "$MOE_SRC/experiments/tools/cl_table.py" "$TMP"/{sema,sema_s6,head_only}.h5 > "$TMP/table2.md" || fail "cl_table.py seeds"
"$PYTHON" - "$TMP/table2.md" "$TMP/sema.h5" "$TMP/sema_s6.h5" <<'PY' || fail "cl_table.py: seed summary"
import sys, h5py, statistics
lines = open(sys.argv[1]).read().splitlines()
a = [100 * h5py.File(p, "r")["stream/A_N"][()] for p in sys.argv[2:4]]
summary = [l for l in lines if l.startswith("| tiny_stream | sema | 5,6 |")]
assert len(summary) == 1, lines                       # head_only (one seed) gets no summary row
want = f"{statistics.mean(a):.2f} ± {statistics.stdev(a):.2f}"
assert summary[0].split("|")[4].strip() == want, (summary, want)
assert sum(l.startswith("| tiny_stream | sema | ") for l in lines) == 3   # two run rows + the summary
print("seed summary ok", want)
PY

# ---- label spaces: a class-incremental split (4 tasks: 4, 2, 2, 2 classes in a seeded order) and
#      a domain stream with a growing head (a block of 10 logits per domain)
expect_rc 0 "$X" "$TMP/stream.json" -o "$TMP/class.h5" --threads 1 -q --set 'data.tasks=[]' \
  --set stream.class_split.init=4 --set stream.class_split.increment=2
expect_rc 0 "$X" "$TMP/stream.json" -o "$TMP/grow.h5" --threads 1 -q --set stream.labels=growing
"$PYTHON" - "$TMP/class.h5" "$TMP/grow.h5" "$TMP/sema.h5" <<'PY' || fail "label spaces"
import sys, h5py, numpy as np
c, g = (h5py.File(p, "r") for p in sys.argv[1:3])
assert c["stream"].attrs["labels"] == "growing" and c["stream/accuracy_matrix"].shape == (4, 4)
assert c["params/head.weight"].shape[0] == 10                 # disjoint classes: one logit each
assert c["stream/task_names"].asstr()[()].count("classes-") == 4
assert g["params/head.weight"].shape[0] == 40                 # 4 domains x 10 classes
# task-aware accuracy (the argmax within the task's own logits): with a shared head it is the same
# argmax; with one logit per class (class split) a right task-agnostic answer is inside the task's
# block, so it is never lower; with a block per domain it differs (a right class in another
# domain's block counts task-agnostically)
sh = h5py.File(sys.argv[3], "r")["stream"]
assert sh.attrs["labels"] == "shared"
assert np.array_equal(sh["task_aware/accuracy_matrix"][:], sh["accuracy_matrix"][:], equal_nan=True)
low = np.tril_indices(4)
Rc, Tc = c["stream/accuracy_matrix"][:], c["stream/task_aware/accuracy_matrix"][:]
assert np.all(Tc[low] >= Rc[low]) and np.any(Tc[low] > Rc[low])
for f in (c, g):
    R, T = f["stream/accuracy_matrix"][:], f["stream/task_aware/accuracy_matrix"][:]
    assert T.shape == R.shape and np.all(np.isnan(T[np.triu_indices(4, 1)])) and np.all(np.isfinite(T[low]))
    n = f["stream/n_test"][:]
    assert abs(f["stream/task_aware/A_N"][()] - np.dot(T[3], n) / n.sum()) < 1e-12
assert not np.array_equal(g["stream/task_aware/accuracy_matrix"][:][low], g["stream/accuracy_matrix"][:][low])
print("label spaces ok", c["stream/task_names"].asstr()[()])
PY

# ---- stop after task 2, resume: bitwise the same as the uninterrupted stream
expect_rc 0 "$X" "$TMP/stream.json" -o "$TMP/part.h5" --threads 1 -q --stop-after 2
# the printed command continues this stream: the same flags, without --stop-after
expect_out "continue with: $X $TMP/stream.json -o $TMP/part.h5 --threads 1 -q --resume\$"
[ ! -e "$TMP/part.h5" ] || fail "a stopped stream wrote its run file"
[ -e "$TMP/part.h5.ckpt" ] || fail "no checkpoint after --stop-after"
# temporaries a killed writer left (kill -9 mid-write) are removed by the resume; another output's kept
plant_stale "$TMP/part.h5"
expect_rc 0 "$X" "$TMP/stream.json" -o "$TMP/part.h5" --threads 1 --resume
expect_out "resumed after task 2"
expect_out "removed $TMP/part.h5.ckpt.tmp-$stale (left by a killed run)"
stale_removed "$TMP/part.h5"
cmp_runs() {
"$PYTHON" - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
for k in ["accuracy_matrix", "task_aware/accuracy_matrix", "adapters", "detections", "detection_z", "expansions", "params_added_total"]:
    x, y = a["stream"][k][:], b["stream"][k][:]
    assert x.shape == y.shape and np.array_equal(x, y, equal_nan=True), k
for k in a["params"]:
    assert np.array_equal(a["params"][k][:], b["params"][k][:]), k
assert a["stream"].attrs["steps"] == b["stream"].attrs["steps"] > 0, "optimizer steps over the stream"
print("identical:", a["stream/accuracy_matrix"][-1])
PY
}
cmp_runs "$TMP/sema.h5" "$TMP/part.h5" || fail "resumed stream differs from the uninterrupted one"
expect_rc 0 "$X" "$TMP/stream.json" -o "$TMP/part.h5" --resume --threads 2   # only the thread count differs
expect_out "already finished; nothing to do"
# --resume onto a file that is not this stream's run: refused, the file kept
expect_rc 2 "$X" "$TMP/stream.json" -o "$TMP/base.h5" --resume
expect_out "cannot resume: $TMP/base.h5 was written by moe-train, not moe-expand"
expect_rc 2 "$X" "$TMP/stream.json" -o "$TMP/part.h5" --resume --set expand.threshold=3
expect_out "expand.threshold: stored .*, now 3"
# moe-eval does not evaluate a stream's run (its expanded adapters are not a moe-train model)
expect_rc 2 "$MOE_BIN/moe-eval" "$TMP/part.h5"
expect_out "was written by moe-expand, not moe-train"
# an output that is one of the inputs is refused before anything is written
cp "$TMP/stream.json" "$TMP/stream_copy.json"
expect_rc 2 "$X" "$TMP/stream_copy.json" -o "$TMP/stream_copy.json"
expect_out "the output $TMP/stream_copy.json is the spec file"
cmp -s "$TMP/stream.json" "$TMP/stream_copy.json" || fail "the spec was overwritten"
expect_rc 2 "$X" "$TMP/stream.json" -o "$TMP/base.h5"
expect_out "the output $TMP/base.h5 is the base run"

# ---- SIGKILL between tasks, then --resume (a longer stream so the kill lands mid-run)
LONG=(--threads 1 -q --set expand.func_epochs=6 --set expand.rd_epochs=8)
expect_rc 0 "$X" "$TMP/stream.json" -o "$TMP/long.h5" "${LONG[@]}"
"$X" "$TMP/stream.json" -o "$TMP/killed.h5" "${LONG[@]}" & pid=$!
wait_for "$TMP/killed.h5.ckpt" $pid && kill -9 $pid 2>/dev/null || true
wait $pid 2>/dev/null || true
if [ -e "$TMP/killed.h5" ]; then echo "note: the run finished before the kill; resume not exercised by SIGKILL"; else
  [ -e "$TMP/killed.h5.ckpt" ] || fail "no checkpoint after SIGKILL"
  expect_rc 0 "$X" "$TMP/stream.json" -o "$TMP/killed.h5" "${LONG[@]}" --resume
  # SIGKILL during a checkpoint write leaves OUT.ckpt.tmp-PID; the resumed run removes it
  ls "$TMP" | grep -q 'killed.h5.*tmp-' && fail "stale temporary file left after the resume: $(ls "$TMP")"
  cmp_runs "$TMP/long.h5" "$TMP/killed.h5" || fail "resumed after SIGKILL differs"
fi

# ---- SIGINT: finish the task, checkpoint, exit 130 with the resume command
"$X" "$TMP/stream.json" -o "$TMP/int.h5" "${LONG[@]}" >"$TMP/int.out" 2>&1 & pid=$!
wait_for "$TMP/int.h5.ckpt" $pid && kill -INT $pid 2>/dev/null || true
set +e; wait $pid; rc=$?; set -e
if [ -e "$TMP/int.h5" ]; then echo "note: the run finished before SIGINT arrived"; else
  [ "$rc" = 130 ] || { cat "$TMP/int.out"; fail "SIGINT: expected exit 130, got $rc"; }
  grep -qF "checkpoint written to $TMP/int.h5.ckpt; resume with: $X $TMP/stream.json -o $TMP/int.h5 ${LONG[*]} --resume" "$TMP/int.out" || { cat "$TMP/int.out"; fail "SIGINT message"; }
  expect_rc 0 "$X" "$TMP/stream.json" -o "$TMP/int.h5" "${LONG[@]}" --resume
  cmp_runs "$TMP/long.h5" "$TMP/int.h5" || fail "resumed after SIGINT differs"
fi

# ---- a checkpoint of another spec is refused
expect_rc 0 "$X" "$TMP/stream.json" -o "$TMP/other.h5" --threads 1 -q --stop-after 1
expect_rc 2 "$X" "$TMP/stream.json" -o "$TMP/other.h5" --threads 1 -q --resume --set expand.threshold=3
expect_out "was written by another spec than $TMP/stream.json (with its --set overrides); 1 difference:"

# ---- bad input: clear messages, documented exit codes, no output left behind
expect_rc 2 "$X" "$TMP/stream.json" -o "$TMP/bad.h5" --set 'expand.sites=["blocks.*"]'
expect_out "expand.sites\[0\]: pattern 'blocks.\*' matches no site; the sites are: layers.0 head"
expect_rc 2 "$X" "$TMP/stream.json" -o "$TMP/bad.h5" --set expand.strategy=ewc --set expand.rank=0
expect_out "expand.strategy: 'ewc' is not one of"
expect_out "expand.rank: value 0 out of range"
expect_rc 2 "$X" "$TMP/stream.json" -o "$TMP/bad.h5" --set 'data.tasks=[]' --set stream.class_split.init=11
expect_out "stream.class_split.init: 11 exceeds the 10 classes"
expect_rc 2 "$X" "$TMP/stream.json" -o "$TMP/bad.h5" --set stream.labels=growing --set expand.head=base
expect_out "use expand.head = reinit"
expect_rc 3 "$X" "$TMP/stream.json" -o "$TMP/bad.h5" --resume
expect_out "no checkpoint $TMP/bad.h5.ckpt to resume from"
expect_rc 3 "$X" "$TMP/stream.json" -o "$TMP/missing/dir/bad.h5" --threads 1 -q
ls "$TMP" | grep -q -e '^bad' -e 'tmp-' && fail "output left behind by a failed run: $(ls "$TMP")"

# ---- a full disk mid-stream: exit 3, the last good checkpoint is kept with the resume command,
#      nothing else is left, and --resume (once there is room) gives the uninterrupted result
S1=$(stat -c %s "$TMP/other.h5.ckpt")   # the checkpoint after task 1; later ones are no smaller
PAGES=$(( (S1 + 4095) / 4096 ))
mkdir -p "$TMP/full"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=$(( (PAGES + PAGES / 2) * 4096 )) tmpfs "$TMP/full" 2>/dev/null; then
  set +e; "$X" "$TMP/stream.json" -o "$TMP/full/x.h5" --threads 1 -q >"$TMP/full.out" 2>&1; rc=$?; set -e
  [ "$rc" = 3 ] || { cat "$TMP/full.out"; umount "$TMP/full"; fail "full disk: expected exit 3, got $rc"; }
  grep -q "No space left on device" "$TMP/full.out" || { cat "$TMP/full.out"; umount "$TMP/full"; fail "full disk message"; }
  grep -q "hint: the checkpoint $TMP/full/x.h5.ckpt is kept; once fixed, continue with: $X $TMP/stream.json -o $TMP/full/x.h5 --threads 1 -q --resume" "$TMP/full.out" \
    || { cat "$TMP/full.out"; umount "$TMP/full"; fail "full disk: no resume hint"; }
  left=$(ls -A "$TMP/full")
  cp "$TMP/full/x.h5.ckpt" "$TMP/after_full.h5.ckpt" 2>/dev/null || true
  umount "$TMP/full"
  [ "$left" = "x.h5.ckpt" ] || fail "full disk: expected only the checkpoint to remain, found: $left"
  expect_rc 0 "$X" "$TMP/stream.json" -o "$TMP/after_full.h5" --threads 1 -q --resume
  cmp_runs "$TMP/sema.h5" "$TMP/after_full.h5" || fail "resumed after a full disk differs"
else
  echo "skipped full-disk check: needs root and tmpfs"
fi

# ---- plots of a moe-expand run
if "$PYTHON" -c "import matplotlib" 2>/dev/null; then
  "$PYTHON" "$MOE_SRC/experiments/tools/plot_run.py" "$TMP/sema.h5" --out "$TMP/plots" > "$TMP/plots.txt"
  grep -q accuracy_matrix.png "$TMP/plots.txt" || fail "no accuracy-matrix plot"
  for p in $(cat "$TMP/plots.txt"); do head -c 8 "$p" | od -An -tx1 | grep -q "89 50 4e 47 0d 0a 1a 0a" || fail "$p is not a PNG"; done
else
  echo "skipped plots: matplotlib is not installed"
fi
echo "moe-expand checks ok"
