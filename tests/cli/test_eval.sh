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
    --set routing.k=2 --set routing.k_start=1 --set routing.k_grow_steps=10 --set train.max_steps=20
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
have_h5py || { echo "SKIP h5py checks"; exit 0; }
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
