#!/usr/bin/env bash
# moe-train trains a tiny MLP on Fashion-MNIST; the run file opens in h5py and holds the
# resolved spec, every parameter under its name and the metric series.
source "$(dirname "$0")/lib.sh"
expect_rc 0 "$MOE_BIN/moe-train" "$MOE_SRC/tests/fixtures/tiny_mlp.json" -o "$TMP/run.h5"
expect_out "run file: $TMP/run.h5"
expect_out "eval epoch 2 test: loss"
expect_out "step 5/"
# the plain progress lines carry the overall step count and an ETA; the last one says 0s left
expect_out "^step [0-9]*/[0-9]* epoch 1 loss .* samples/s ETA [0-9hms]*$"
last_step=$(grep '^step ' "$TMP/out" | tail -1)
[[ "$last_step" =~ ^step\ ([0-9]+)/([0-9]+)\ .*\ ETA\ 0s$ ]] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] ||
    fail "last progress line: $last_step"
# -q: the final result only (the done line and the run file)
expect_rc 0 "$MOE_BIN/moe-train" "$MOE_SRC/tests/fixtures/tiny_mlp.json" -o "$TMP/quiet.h5" -q --threads 1
grep -v '^blas:' "$TMP/out" > "$TMP/quiet.out" || true
[ "$(sed -n 1p "$TMP/quiet.out" | cut -c1-6)" = "done: " ] && [ "$(sed -n 2p "$TMP/quiet.out")" = "run file: $TMP/quiet.h5" ] &&
    [ "$(wc -l <"$TMP/quiet.out")" = 2 ] || { cat "$TMP/out"; fail "moe-train -q: expected its two result lines only"; }
# --version: the version, the commit and the BLAS kernels; make help lists every target
expect_rc 0 "$MOE_BIN/moe-train" --version
expect_out "^moe-train [0-9.]* (git "
expect_out "^blas: OpenBLAS "
if command -v make >/dev/null; then
    make -s -C "$MOE_SRC" help >"$TMP/help" 2>&1 || fail "make help failed"
    for t in $(sed -n 's/^\.PHONY: *//p' "$MOE_SRC/Makefile"); do
        grep -qw -- "$t" "$TMP/help" || fail "make help does not list $t"
    done
fi
[ -f "$TMP/run.h5" ] || fail "no run file"
ls "$TMP" | grep -q tmp- && fail "temporary file left behind"
if ! have_h5py; then echo "SKIP h5py checks: python3-h5py not installed"; exit 0; fi
"$PYTHON" - "$TMP/run.h5" <<'PY'
import json, sys
import h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
assert f.attrs["format"] == "moe-lab-run", f.attrs["format"]
assert int(f.attrs["format_version"]) == 2
assert f.userblock_size == 512, f.userblock_size  # moe-lab's integrity header
head = open(sys.argv[1], "rb").read(512)
assert head.startswith(b"moe-lab run file\nformat 2\nbytes "), head[:64]
assert f.attrs["tool"] == "moe-train"
spec = json.loads(f["spec"].asstr()[()])
assert spec["model"]["mlp"]["hidden"] == [32], spec["model"]
assert spec["train"]["lr"] == 0.003 and spec["train"]["weight_decay"] == 0.0   # default filled in
names = sorted(f["params"].keys())
assert names == ["head.bias", "head.weight", "layers.0.bias", "layers.0.weight"], names
assert f["params/layers.0.weight"].shape == (32, 784)
assert f["params/head.weight"].shape == (10, 32)
assert int(f["params/head.weight"].attrs["trainable"]) == 1
assert isinstance(f["metrics"].attrs["steps"], np.integer) and f["metrics"].attrs["steps"] > 0
loss = f["metrics/train/loss"][:]
step = f["metrics/train/step"][:]
assert len(loss) == len(step) and len(loss) >= 5, len(loss)
assert np.all(np.diff(step) > 0)
assert loss[-1] < loss[0], (loss[0], loss[-1])
# step counts and whole epochs are int64; the training epoch is fractional
for k in ("metrics/train/step", "metrics/eval/test/step", "metrics/eval/test/epoch", "metrics/eval/val/epoch"):
    assert f[k].dtype == np.int64, (k, f[k].dtype)
assert f["metrics/train/epoch"].dtype == np.float64 and f["metrics/train/loss"].dtype == np.float64
assert list(f["metrics/eval/test/epoch"][:]) == [1, 2]
acc = f["metrics/eval/test/accuracy"][:]
assert len(acc) == 2 and acc[-1] > 0.6, acc
assert "loss" in f["metrics/eval/val"]
print("h5py read-back ok:", len(loss), "train records, test accuracy", acc[-1])
PY
