#!/usr/bin/env bash
# plot_run.py writes valid PNGs for a moe-train run and its moe-eval file.
source "$(dirname "$0")/lib.sh"
if ! "$PYTHON" -c "import h5py, matplotlib" 2>/dev/null; then
    echo "SKIP: python3-h5py or python3-matplotlib is not installed"; exit 0
fi
expect_rc 0 "$MOE_BIN/moe-train" "$MOE_SRC/experiments/synthetic_routing.json" -o "$TMP/syn.h5" -q --threads 1 --set train.epochs=2
expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/syn.h5" -o "$TMP/eval.h5" -q --threads 1
expect_rc 0 "$PYTHON" "$MOE_SRC/experiments/tools/plot_run.py" "$TMP/syn.h5" --eval "$TMP/eval.h5" --out "$TMP/plots"
for f in syn_curves.png syn_load_layers_0.png syn_affinity_layers_0.png; do
    [ -s "$TMP/plots/$f" ] || fail "missing $f"
    head -c 8 "$TMP/plots/$f" | od -An -tx1 | tr -d ' \n' | grep -q '^89504e470d0a1a0a$' || fail "$f is not a PNG"
done
echo "PNGs ok"
