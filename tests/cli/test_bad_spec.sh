#!/usr/bin/env bash
# A spec with several mistakes exits 2, lists every problem with its JSON path, and leaves no
# run file behind.
source "$(dirname "$0")/lib.sh"
cat > "$TMP/bad.json" <<'JSON'
{
  "exp":   { "name": "bad", "sede": 1 },
  "data":  { "source": "fashion-mnist", "dir": "/nonexistent/fmnist" },
  "model": { "kind": "mlp", "mlp": { "hidden": "wide" } },
  "train": { "epochs": 1, "lr": -0.1, "batch_size": 0 }
}
JSON
expect_rc 2 "$MOE_BIN/moe-train" "$TMP/bad.json" -o "$TMP/run.h5"
expect_out "exp.sede: unknown key (did you mean 'seed'?)"
expect_out "data.dir: data directory '/nonexistent/fmnist' does not exist"
expect_out "model.mlp.hidden: expected an array of integers, got a string"
expect_out "train.lr: value -0.1 out of range"
expect_out "train.batch_size: value 0 out of range"
expect_out "5 problems"
[ -z "$(ls -A "$TMP" | grep -v -e '^bad.json$' -e '^out$')" ] || fail "files left behind: $(ls "$TMP")"

# invalid JSON names line and column
printf '{\n  "exp": { "name": "x", }\n}\n' > "$TMP/syntax.json"
expect_rc 2 "$MOE_BIN/moe-train" "$TMP/syntax.json" -o "$TMP/run.h5"
expect_out "invalid JSON at line 2, column"

# --set overrides reach the spec and are validated too
expect_rc 2 "$MOE_BIN/moe-train" "$MOE_SRC/tests/fixtures/tiny_mlp.json" -o "$TMP/run.h5" --set train.optimizer=adam
expect_out "train.optimizer: 'adam' is not one of: adamw sgd"
expect_rc 0 "$MOE_BIN/moe-train" "$MOE_SRC/tests/fixtures/tiny_mlp.json" --print-spec --set train.lr=0.5 --set model.mlp.hidden=[7,5]
expect_out '"lr": 0.5'
"$MOE_BIN/moe-train" "$MOE_SRC/tests/fixtures/tiny_mlp.json" --print-spec --set train.lr=0.5 --set model.mlp.hidden=[7,5] 2>/dev/null >"$TMP/spec.json"
"$PYTHON" -c "import json,sys; s=json.load(open('$TMP/spec.json')); assert s['model']['mlp']['hidden']==[7,5]; assert s['log']['every']==5; assert s['train']['lr']==0.5" \
  || fail "--print-spec is not the resolved spec"

# output directory that does not exist: exit 3, nothing written
expect_rc 3 "$MOE_BIN/moe-train" "$MOE_SRC/tests/fixtures/tiny_mlp.json" -o "$TMP/missing/run.h5" --set train.max_steps=1
expect_out "missing"
[ ! -e "$TMP/missing" ] || fail "created a directory"
echo "bad-spec checks ok"
# a spec read from a pipe (process substitution, /dev/stdin) is a spec like any other
expect_rc 0 "$MOE_BIN/moe-train" <(cat "$MOE_SRC/tests/fixtures/tiny_mlp.json") --print-spec
expect_out '"name": "tiny_mlp"'
"$MOE_BIN/moe-train" /dev/stdin --print-spec <"$MOE_SRC/tests/fixtures/tiny_mlp.json" >"$TMP/out" 2>&1 || fail "spec on stdin"
expect_out '"name": "tiny_mlp"'
