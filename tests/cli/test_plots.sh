#!/usr/bin/env bash
# plot_run.py writes valid PNGs for moe-train runs (one, or several overlaid) and a moe-eval file:
# loss curves with val/test loss, per-task accuracy, load heatmaps with integer expert ticks and a
# colour scale anchored at 0 (0..2/E, 1/E marked); a missing or non-run file is a clear message
# and exit 3, not a traceback.
source "$(dirname "$0")/lib.sh"
if ! "$PYTHON" -c "import h5py, matplotlib" 2>/dev/null; then
    echo "SKIP: python3-h5py or python3-matplotlib is not installed"; exit 0
fi
PLOT="$MOE_SRC/experiments/tools/plot_run.py"
is_png() { head -c 8 "$1" | od -An -tx1 | tr -d ' \n' | grep -q '^89504e470d0a1a0a$'; }
expect_rc 0 "$MOE_BIN/moe-train" "$MOE_SRC/experiments/synthetic_routing.json" -o "$TMP/syn.h5" -q --threads 1 --set train.epochs=2
expect_rc 0 "$MOE_BIN/moe-train" "$MOE_SRC/experiments/synthetic_routing.json" -o "$TMP/syn2.h5" -q --threads 1 --set train.epochs=2 --set exp.seed=2
expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/syn.h5" -o "$TMP/eval.h5" -q --threads 1
expect_rc 0 "$PYTHON" "$PLOT" "$TMP/syn.h5" --eval "$TMP/eval.h5" --out "$TMP/plots"
for f in syn_curves.png syn_load_layers_0.png syn_affinity_layers_0.png; do
    [ -s "$TMP/plots/$f" ] || fail "missing $f"
    is_png "$TMP/plots/$f" || fail "$f is not a PNG"
done
# several runs: the curves overlaid in one figure, a load heatmap per run
expect_rc 0 "$PYTHON" "$PLOT" "$TMP/syn.h5" "$TMP/syn2.h5" --out "$TMP/many"
for f in compare_curves.png syn_load_layers_0.png syn2_load_layers_0.png; do
    [ -s "$TMP/many/$f" ] && is_png "$TMP/many/$f" || fail "several runs: missing $f"
done
# what the figures hold: the panels' series and labels, the heatmap's ticks and colour scale
"$PYTHON" - "$PLOT" "$TMP/syn.h5" "$TMP/syn2.h5" <<'PY' || fail "plot contents"
import importlib.util, sys, tempfile
import matplotlib.figure
spec = importlib.util.spec_from_file_location("plot_run", sys.argv[1])
pr = importlib.util.module_from_spec(spec); spec.loader.exec_module(pr)
figs = {}
save = matplotlib.figure.Figure.savefig
def keep(self, path, *a, **k):
    figs[path.rsplit("/", 1)[-1]] = self
    return save(self, path, *a, **k)
matplotlib.figure.Figure.savefig = keep
out = tempfile.mkdtemp()
sys.argv = ["plot_run.py", sys.argv[2], sys.argv[3], "--out", out]
pr.main()
loss, acc, tasks = figs["compare_curves.png"].axes[:3]
labels = [l.get_label() for l in loss.lines]
for run in ("syn", "syn2"):      # two runs of one exp.name: labelled by file name
    for what in ("train loss", "val loss", "test loss"):
        assert f"{run}: {what}" in labels, labels
assert {f"syn: task{t}" for t in range(4)} <= {l.get_label() for l in tasks.lines}, [l.get_label() for l in tasks.lines]
ax = figs["syn_load_layers_0.png"].axes[0]
assert list(ax.get_yticks()) == [0, 1, 2, 3], ax.get_yticks()
im = ax.images[0]
lo, hi = im.get_clim()
assert lo == 0.0 and hi in (0.5, 1.0), (lo, hi)            # 0..2/E, or 0..1 past 2/E
cb_ticks = [t.get_text() for t in figs["syn_load_layers_0.png"].axes[1].get_yticklabels()]
assert any("1/E" in t for t in cb_ticks), cb_ticks
print("plot contents ok: clim", (lo, hi))
PY
# bad input: a message naming the file, exit 3; no traceback
expect_rc 3 "$PYTHON" "$PLOT" "$TMP/missing.h5" --out "$TMP/bad"
expect_out "plot_run.py: error: $TMP/missing.h5: no such file"
echo "not hdf5" > "$TMP/text.h5"
expect_rc 3 "$PYTHON" "$PLOT" "$TMP/text.h5" --out "$TMP/bad"
expect_out "$TMP/text.h5: not an HDF5 file"
"$PYTHON" -c "import h5py, sys; h5py.File(sys.argv[1], 'w').create_dataset('x', data=[1])" "$TMP/other.h5"
expect_rc 3 "$PYTHON" "$PLOT" "$TMP/other.h5" --out "$TMP/bad"
expect_out "$TMP/other.h5: not a moe-lab run file"
expect_rc 3 "$PYTHON" "$PLOT" "$TMP/syn.h5" --eval "$TMP/syn2.h5" --out "$TMP/bad"
expect_out "$TMP/syn2.h5: written by moe-train, expected a moe-eval analysis file"
expect_rc 3 "$PYTHON" "$PLOT" "$TMP/eval.h5" --out "$TMP/bad"
expect_out "nothing to plot in $TMP/eval.h5"
grep -q Traceback "$TMP/out" && fail "a traceback"
expect_rc 2 "$PYTHON" "$PLOT"
echo "PNGs ok"
