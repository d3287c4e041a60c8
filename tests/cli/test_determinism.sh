#!/usr/bin/env bash
# Same spec, seed and thread count => bitwise-identical metrics and weights.
source "$(dirname "$0")/lib.sh"
for i in 1 2; do
    expect_rc 0 "$MOE_BIN/moe-train" "$MOE_SRC/tests/fixtures/tiny_mlp.json" -o "$TMP/run$i.h5" --threads 1 -q --set train.epochs=1
done
expect_rc 0 "$MOE_BIN/moe-train" "$MOE_SRC/tests/fixtures/tiny_mlp.json" -o "$TMP/run3.h5" --threads 1 -q --set train.epochs=1 --set exp.seed=4
have_h5py || { echo "SKIP: python3-h5py not installed"; exit 0; }
"$PYTHON" - "$TMP" <<'PY'
import sys, h5py, numpy as np
d = sys.argv[1]
a, b, c = (h5py.File(f"{d}/run{i}.h5", "r") for i in (1, 2, 3))
for name in a["params"]:
    assert np.array_equal(a["params"][name][:], b["params"][name][:]), name
for s in ("loss", "accuracy", "grad_norm"):
    assert np.array_equal(a["metrics/train"][s][:], b["metrics/train"][s][:]), s
assert np.array_equal(a["metrics/eval/test/accuracy"][:], b["metrics/eval/test/accuracy"][:])
assert not np.array_equal(a["params/layers.0.weight"][:], c["params/layers.0.weight"][:]), "seed has no effect"
print("bitwise identical for the same seed; different for another seed")
PY
