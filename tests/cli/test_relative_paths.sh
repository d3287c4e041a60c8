#!/usr/bin/env bash
# Relative paths in a spec (the data directory, the base run) are resolved when the run is
# trained and stored absolute in the run file: moe-eval evaluates the run from another working
# directory, and --resume of the finished run (same spec, same directory) still matches it.
source "$(dirname "$0")/lib.sh"
CASES=$MOE_SRC/tests/bad_input
mkdir -p "$TMP/train" "$TMP/elsewhere"
"$PYTHON" "$CASES/make_inputs.py" data "$TMP/train/gen" >/dev/null
cp "$CASES/tiny_idx.json" "$CASES/tiny_mole_idx.json" "$TMP/train/"
cd "$TMP/train"
expect_rc 0 "$MOE_BIN/moe-train" tiny_idx.json -o base.h5 -q --set data.dir=gen/idx_ok
expect_rc 0 "$MOE_BIN/moe-train" tiny_mole_idx.json -o mole.h5 -q --set data.dir=gen/idx_ok --set base=base.h5
expect_rc 0 "$MOE_BIN/moe-train" tiny_mole_idx.json -o mole.h5 --resume --set data.dir=gen/idx_ok --set base=base.h5
expect_out "already finished"
cd "$TMP/elsewhere"
expect_rc 0 "$MOE_BIN/moe-eval" ../train/mole.h5 --threads 1
expect_out "| task | samples | loss | accuracy |"
expect_rc 0 "$MOE_BIN/moe-eval" ../train/base.h5 --threads 1
if have_h5py; then
    "$PYTHON" - "$TMP/train/mole.h5" "$TMP/train" <<'PY' || fail "the run file does not store absolute paths"
import h5py, json, sys
spec = json.loads(h5py.File(sys.argv[1], "r")["spec"].asstr()[()])
assert spec["data"]["dir"] == sys.argv[2] + "/gen/idx_ok", spec["data"]["dir"]
assert spec["base"] == sys.argv[2] + "/base.h5", spec["base"]
PY
fi
echo "relative paths: ok"
