#!/usr/bin/env bash
# moe-train trains a tiny MLP on Fashion-MNIST; the run file opens in h5py and holds the
# resolved spec, every parameter under its name and the metric series.
source "$(dirname "$0")/lib.sh"
expect_rc 0 "$MOE_BIN/moe-train" "$MOE_SRC/tests/fixtures/tiny_mlp.json" -o "$TMP/run.h5"
expect_out "run file: $TMP/run.h5"
expect_out "eval epoch 2 test: loss"
expect_out "step 5/"
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
