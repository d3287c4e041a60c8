#!/usr/bin/env bash
# moe-eval on a trained synthetic teacher mixture (one teacher per task, E = tasks, top-1):
# printed tables, the EVAL.h5 contents, NMI >= 0.8 against the true routing, ablation of the
# expert a task relies on drops that task's accuracy, inference-time routing changes, summarize.
source "$(dirname "$0")/lib.sh"
SPEC="$MOE_SRC/experiments/synthetic_routing.json"
expect_rc 0 "$MOE_BIN/moe-train" "$SPEC" -o "$TMP/syn.h5" -q --threads 1
expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/syn.h5" -o "$TMP/eval.h5" --ablate --threads 1
expect_out "| task | samples | loss | accuracy |"
expect_out "| task3 | 1000 |"
expect_out "NMI (vs true routing)"
expect_out "affinity layers.0"
expect_out "ablation: accuracy change per task"
expect_out "eval file: $TMP/eval.h5"
nmi=$(grep '^| layers.0 | 4 |' "$TMP/out" | awk -F'|' '{gsub(/ /,"",$10); print $10}')
awk -v n="$nmi" 'BEGIN { exit !(n >= 0.8) }' || fail "task-expert NMI $nmi < 0.8"
echo "NMI $nmi"
# inference-time routing changes run and change the numbers
for flags in "--k 2" "--uniform" "--oracle" "--disable 0,1"; do
    expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/syn.h5" $flags -q --threads 1
done
expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/syn.h5" --k 2 -q --threads 1
expect_out "| layers.0 | 4 | .* | 2.00 |"
expect_rc 2 "$MOE_BIN/moe-eval" "$TMP/syn.h5" --uniform --oracle
# a router whose k grows during training (random_fixed: k_start 1 -> k 2 over 10 steps) is
# evaluated with the k its training reached, by moe-eval and by the trainer's own evaluations
expect_rc 0 "$MOE_BIN/moe-train" "$SPEC" -o "$TMP/rf.h5" -q --threads 1 --set routing.router=random_fixed \
    --set routing.renormalize=true --set routing.k=2 --set routing.k_start=1 --set routing.k_grow_steps=10 --set train.max_steps=20
expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/rf.h5" -q --threads 1
expect_out "| layers.0 | 4 | .* | 2.00 |"
expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/rf.h5" --k 2 -o "$TMP/rf_k2.h5" -q --threads 1
expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/rf.h5" -o "$TMP/rf_k.h5" -q --threads 1
"$PYTHON" - "$TMP/rf.h5" "$TMP/rf_k.h5" "$TMP/rf_k2.h5" <<'PY' || fail "random_fixed: evaluation at the trained k"
import sys, h5py
run, plain, k2 = (h5py.File(p, "r") for p in sys.argv[1:])
assert plain["eval/sites/layers.0"].attrs["active"] == 2.0
assert plain["eval"].attrs["loss"] == k2["eval"].attrs["loss"]          # the same routing as --k 2
assert abs(run["metrics/eval/test/loss"][-1] - plain["eval"].attrs["loss"]) < 1e-9
PY
# overrides that would not change the routing they name are refused (exit 2, the option named)
expect_rc 2 "$MOE_BIN/moe-eval" "$TMP/syn.h5" --k 5
expect_out "error: --k 5: the run's sites have 4 experts"
expect_rc 2 "$MOE_BIN/moe-eval" "$TMP/syn.h5" --disable 4
expect_out "error: --disable: expert 4 does not exist (the run's sites have experts 0..3)"
expect_rc 2 "$MOE_BIN/moe-eval" "$TMP/syn.h5" --disable 0,1,2,3
expect_out "removes every expert"
expect_rc 2 "$MOE_BIN/moe-eval" "$TMP/syn.h5" --disable 1,
expect_out "a trailing comma"
expect_rc 2 "$MOE_BIN/moe-eval" "$TMP/syn.h5" --disable=-1
expect_out "'-1' is not an expert index"
expect_rc 2 "$MOE_BIN/moe-eval" "$TMP/syn.h5" --oracle --disable 1
expect_out "the forced routing ignores the router"
expect_rc 2 "$MOE_BIN/moe-eval" "$TMP/syn.h5" --disable ''
expect_out "an empty list"
# exp.name is only a file name when it makes the default output (runs/<exp.name>.h5): with -o any
# name trains, and moe-eval reads such a run
expect_rc 0 "$MOE_BIN/moe-train" "$SPEC" -o "$TMP/slash.h5" -q --threads 1 --set exp.name=mole/topk --set train.epochs=1
expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/slash.h5" -q --threads 1
# a model without the run's adapters (here: dropped by --set) would evaluate another model
expect_rc 2 "$MOE_BIN/moe-eval" "$TMP/syn.h5" --set 'adapters.sites=[]'
expect_out "tensors of the run are not in the model its /spec builds with the --set overrides"
expect_rc 3 "$MOE_BIN/moe-eval" "$TMP/missing.h5"
expect_out "no such file"
echo "not hdf5" > "$TMP/bad.h5"
expect_rc 3 "$MOE_BIN/moe-eval" "$TMP/bad.h5"
# summarize: three runs with different --set values, grouped over seeds
expect_rc 0 "$MOE_BIN/moe-train" "$SPEC" -o "$TMP/syn_lr.h5" -q --threads 1 --set train.lr=0.001
expect_rc 0 "$MOE_BIN/moe-train" "$SPEC" -o "$TMP/syn_s2.h5" -q --threads 1 --set exp.seed=2
expect_rc 0 "$MOE_BIN/moe-eval" summarize "$TMP/syn.h5" "$TMP/syn_lr.h5" "$TMP/syn_s2.h5" --by train.lr --csv "$TMP/sum.csv"
expect_out "| run | exp.seed | train.lr | test acc |"
expect_out "| $TMP/syn_lr.h5 | 1 | 0.001 |"
grep -qE "^\| $TMP/syn_lr.h5 \|( [^|]* \|){6} [0-9]+ \| [0-9]+\.[0-9] \|$" "$TMP/out" || { cat "$TMP/out"; fail "steps column: an integer"; }
expect_out "| train.lr | runs | test acc mean | test acc std |"
expect_out "| 0.003 | 2 |"
head -1 "$TMP/sum.csv" | grep -q "^train.lr,runs,test acc mean" || fail "csv header"
expect_rc 2 "$MOE_BIN/moe-eval" summarize "$TMP/syn.h5" --by no.such.key
# --ablate says which site and expert it is evaluating (stderr, one line per expert); -q silences it
expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/syn.h5" --ablate --threads 1
expect_out "ablate: site layers.0 (1/1), expert 0 (1/4)"
expect_out "ablate: site layers.0 (1/1), expert 3 (4/4)"
expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/syn.h5" --ablate --threads 1 -q
grep -q "^ablate:" "$TMP/out" && fail "--ablate progress printed with -q"
# --oracle maps each task to its expert by the learned affinity (an assignment per site): on this
# specialised run it is as good as the router and better than uniform routing; --oracle=fixed is
# task t -> expert t mod E
acc_of() { sed -n 's/^run .*: loss [0-9.]* accuracy \([0-9.]*\)$/\1/p' "$TMP/out"; }
expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/syn.h5" -q --threads 1; a_router=$(acc_of)
expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/syn.h5" --uniform -q --threads 1; a_uniform=$(acc_of)
expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/syn.h5" --oracle -o "$TMP/oracle.h5" --threads 1; a_oracle=$(acc_of)
expect_out "oracle routing (each task to its expert by the learned affinity)"
expect_out "oracle: evaluating the test split with the router"
expect_out "^oracle layers.0: task0 -> e[0-3], task1 -> e[0-3], task2 -> e[0-3], task3 -> e[0-3]$"
expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/syn.h5" --oracle=fixed -o "$TMP/oracle_fixed.h5" -q --threads 1; a_fixed=$(acc_of)
expect_out "oracle layers.0: task0 -> e0, task1 -> e1, task2 -> e2, task3 -> e3"
echo "accuracy: router $a_router, --oracle $a_oracle, --oracle=fixed $a_fixed, --uniform $a_uniform"
awk -v o="$a_oracle" -v r="$a_router" -v u="$a_uniform" 'BEGIN { exit !(o >= r - 0.02 && o > u) }' ||
    fail "--oracle $a_oracle: expected >= router $a_router - 0.02 and > uniform $a_uniform"
expect_rc 2 "$MOE_BIN/moe-eval" "$TMP/syn.h5" --oracle=nearest
expect_out "error: --oracle=nearest: expected --oracle .* or --oracle=fixed"
# export-metrics: one CSV per group of series
expect_rc 0 "$MOE_BIN/moe-eval" export-metrics "$TMP/syn.h5" --csv "$TMP/csv"
for f in metrics/train.csv metrics/eval/test.csv metrics/eval/val.csv routing/layers.0.csv; do
    expect_out "^$TMP/csv/$f\$"
    [ -s "$TMP/csv/$f" ] || fail "export-metrics: no $f"
done
head -1 "$TMP/csv/metrics/train.csv" | grep -q '^step,epoch,accuracy,aux_loss,' || fail "train.csv header: $(head -1 "$TMP/csv/metrics/train.csv")"
head -1 "$TMP/csv/routing/layers.0.csv" | grep -q '^step,active,dropped,dynmole_loss,entropy,flops_ratio,lbl,load_0,load_1,load_2,load_3,' ||
    fail "routing csv header: $(head -1 "$TMP/csv/routing/layers.0.csv")"
sed -n 2p "$TMP/csv/metrics/train.csv" | grep -qE '^[0-9]+,[0-9.e-]+,' || fail "train.csv: step is not an integer"
expect_rc 3 "$MOE_BIN/moe-eval" export-metrics "$TMP/missing.h5" --csv "$TMP/csv2"
expect_out "no such file"
expect_rc 3 "$MOE_BIN/moe-eval" export-metrics "$TMP/eval.h5" --csv "$TMP/csv2"
expect_out "no metric series to export"
expect_rc 3 "$MOE_BIN/moe-eval" export-metrics "$TMP/syn.h5" --csv "$TMP/no/such/dir"
expect_out "its parent directory $TMP/no/such does not exist"
[ ! -e "$TMP/csv2" ] && [ ! -e "$TMP/no" ] || fail "a failed export-metrics left output behind"
expect_rc 2 "$MOE_BIN/moe-eval" export-metrics "$TMP/syn.h5"
for b in moe-train moe-eval moe-expand; do
    expect_rc 0 "$MOE_BIN/$b" --version
    expect_out "^$b [0-9][0-9.]* (git [0-9a-f]*\|(git unknown)"
    expect_out "^blas: OpenBLAS .*, core "
done
have_h5py || { echo "SKIP h5py checks"; exit 0; }
"$PYTHON" - "$TMP/syn.h5" "$TMP/csv" "$TMP/eval.h5" "$TMP/oracle.h5" "$TMP/oracle_fixed.h5" <<'PY' || fail "export-metrics CSV or EVAL.h5 attributes"
import csv, os, sys, h5py, numpy as np
run, d, ev, orc, fixed = sys.argv[1:]
f = h5py.File(run, "r")
def table(p):
    rows = list(csv.reader(open(os.path.join(d, p))))
    return rows[0], np.array(rows[1:], dtype=float)
for p, g in [("metrics/train.csv", "metrics/train"), ("metrics/eval/test.csv", "metrics/eval/test")]:
    head, x = table(p)
    assert head[:2] == ["step", "epoch"], head
    for j, name in enumerate(head):
        assert np.array_equal(x[:, j], f[g][name][:], equal_nan=True), (p, name)   # every value read back exactly
head, x = table("routing/layers.0.csv")
load = f["routing/layers.0/load"][:]
assert np.array_equal(x[:, [head.index(f"load_{e}") for e in range(4)]].astype(np.float32), load)   # float32 rows
assert x.shape[0] == f["routing/layers.0/step"].shape[0]
try:
    import pandas as pd   # the README's recipe, where pandas is installed
    df = pd.read_csv(os.path.join(d, "metrics/train.csv"))
    assert df["step"].dtype == np.int64 and np.allclose(df["loss"], f["metrics/train/loss"][:], rtol=1e-14, atol=0)
    print("pandas read_csv ok")
except ImportError:
    print("pandas not installed: its read_csv recipe not checked")
# EVAL.h5 records the overrides that made it
e = h5py.File(ev, "r")
assert e.attrs["routing"] == "router" and e.attrs["k"] == 0 and e.attrs["ablate"] == 1, dict(e.attrs)
assert e.attrs["disable"] == "" and e.attrs["set"] == "[]" and "oracle_map" not in e.attrs
assert "oracle" not in e["eval/sites/layers.0"]
o = h5py.File(orc, "r")
assert o.attrs["routing"] == "oracle" and o.attrs["oracle_map"] == "affinity" and o.attrs["ablate"] == 0
m = o["eval/sites/layers.0/oracle"][:]
assert m.dtype == np.int64 and sorted(m) == [0, 1, 2, 3], m
assert list(m) == list(np.argmax(e["eval/sites/layers.0/affinity"][:], axis=1)), (m, e["eval/sites/layers.0/affinity"][:])
fx = h5py.File(fixed, "r")
assert fx.attrs["oracle_map"] == "fixed" and list(fx["eval/sites/layers.0/oracle"][:]) == [0, 1, 2, 3]
print("export-metrics CSVs and EVAL.h5 overrides ok; oracle map", list(m))
PY
expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/syn.h5" --k 2 --disable 3 --set eval.batch_size=250 -o "$TMP/k2.h5" -q --threads 1
"$PYTHON" - "$TMP/k2.h5" <<'PY' || fail "EVAL.h5 override attributes"
import json, sys, h5py
a = h5py.File(sys.argv[1], "r").attrs
assert a["k"] == 2 and a["disable"] == "3" and json.loads(a["set"]) == ["eval.batch_size=250"], dict(a)
assert a["routing"] == "router"
PY
"$PYTHON" - "$TMP/eval.h5" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
assert f.attrs["tool"] == "moe-eval" and f.attrs["split"] == "test"
acc = f["eval/task_accuracy"][:]
assert acc.shape == (4,) and (acc > 0.5).all(), acc
g = f["eval/sites/layers.0"]
aff = g["affinity"][:]
assert aff.shape == (4, 4) and np.allclose(aff.sum(axis=1), 1.0)
assert g["class_affinity"].shape == (4, 4)
assert g.attrs["nmi"] >= 0.8, g.attrs["nmi"]
# the expert each task relies on: removing it must drop that task's accuracy
for t in range(4):
    e = int(np.argmax(aff[t]))
    d = f[f"eval/ablation/layers.0/expert_{e}"][:]
    assert d[t] < -0.2, (t, e, d)
    others = [x for i, x in enumerate(d) if i != t]
    assert max(abs(x) for x in others) < 0.1, (t, e, d)
print("eval file ok; NMI", g.attrs["nmi"])
PY
