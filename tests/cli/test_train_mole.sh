#!/usr/bin/env bash
# Base-then-adapt: pre-train a tiny MLP, load it frozen, train a mixture of LoRA experts with a
# router on a two-domain mixture; check the run file (frozen base equal to the base run, stacked
# experts, router, routing telemetry per site) and every router family end to end.
source "$(dirname "$0")/lib.sh"
expect_rc 0 "$MOE_BIN/moe-train" "$MOE_SRC/tests/fixtures/tiny_mlp.json" -o "$TMP/base.h5" -q --set train.epochs=1
expect_rc 0 "$MOE_BIN/moe-train" "$MOE_SRC/tests/fixtures/tiny_mole.json" -o "$TMP/mole.h5" --set base="$TMP/base.h5"
expect_out "loaded 4 base tensors"
expect_out "eval epoch 2 test"
for r in $("$MOE_BIN/moe-train" --list routers); do # every router of the registry
    extra=()
    [ $r = null_experts ] && extra=(--set routing.null_experts=2 --set loss.null_coef=0.01)
    [ $r = none ] && extra=(--set adapters.experts=1)
    # routers that do not choose among experts: the spec's balancing losses and router_lr would have no effect
    [ $r = none ] || [ $r = task ] && extra+=(--set loss.lbl=none --set loss.lbl_coef=0 --set loss.z_coef=0 --set train.router_lr=0)
    expect_rc 0 "$MOE_BIN/moe-train" "$MOE_SRC/tests/fixtures/tiny_mole.json" -o "$TMP/mole_$r.h5" -q \
        --set base="$TMP/base.h5" --set routing.router=$r --set train.epochs=1 "${extra[@]}"
done
# inference-time overrides on every router: run where they mean something, refused where not
# (null_experts: --k up to E + null experts and --uniform need more slots than training's k)
for k in 2 4 6; do expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/mole_null_experts.h5" --k $k -q; done
expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/mole_null_experts.h5" --uniform -q
expect_rc 2 "$MOE_BIN/moe-eval" "$TMP/mole_null_experts.h5" --k 7
expect_out "--k 7: the run's sites have 6 experts (null experts included)"
for f in --uniform --oracle; do
    expect_rc 2 "$MOE_BIN/moe-eval" "$TMP/mole_task.h5" $f
    expect_out "the run's router 'task' routes without the router's choice"
done
# moe-eval's output may not be the run's base (nor its data), --force or not: refused before any work
sum=$(md5sum <"$TMP/base.h5")
expect_rc 2 "$MOE_BIN/moe-eval" "$TMP/mole.h5" -o "$TMP/base.h5"
expect_out "the output $TMP/base.h5 exists; --force replaces it"
expect_rc 2 "$MOE_BIN/moe-eval" "$TMP/mole.h5" -o "$TMP/base.h5" --force
expect_out "the output $TMP/base.h5 is the base run"
expect_rc 2 "$MOE_BIN/moe-eval" "$TMP/mole.h5" -o "$TMP/base.h5" --force --set base=elsewhere.h5   # still the run's base
expect_out "the output $TMP/base.h5 is the base run"
[ "$(md5sum <"$TMP/base.h5")" = "$sum" ] || fail "moe-eval wrote over the base run"
# contradictory settings are spec errors with their paths
expect_rc 2 "$MOE_BIN/moe-train" "$MOE_SRC/tests/fixtures/tiny_mole.json" -o "$TMP/bad.h5" --set routing.k=9 --set adapters.rank=0
expect_out "routing.k: k = 9 exceeds the 4 experts"
expect_out "adapters.rank: value 0 out of range"
expect_rc 2 "$MOE_BIN/moe-train" "$MOE_SRC/tests/fixtures/tiny_mole.json" -o "$TMP/bad.h5" --set 'adapters.sites=["blocks.*.mlp.fc1"]'
expect_out "adapters.sites\[0\]: pattern 'blocks.\*.mlp.fc1' matches no site; the sites are: layers.0 head"
[ ! -e "$TMP/bad.h5" ] || fail "bad run left a file"
# moe-eval needs only the run file: every tensor, the frozen base's included, is in it
expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/mole.h5" -q
mv "$TMP/base.h5" "$TMP/base_moved.h5"
expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/mole.h5" -q
mv "$TMP/base_moved.h5" "$TMP/base.h5"
# a base with the wrong shapes is reported by name
expect_rc 3 "$MOE_BIN/moe-train" "$MOE_SRC/tests/fixtures/tiny_mole.json" -o "$TMP/bad.h5" --set base="$TMP/base.h5" --set 'model.mlp.hidden=[16]'
expect_out "params/layers.0.weight: run file has shape (32,784), model expects (16,784)"
have_h5py || { echo "SKIP h5py checks"; exit 0; }
"$PYTHON" - "$TMP" <<'PY'
import sys, glob, h5py, numpy as np
d = sys.argv[1]
base = h5py.File(f"{d}/base.h5", "r"); m = h5py.File(f"{d}/mole.h5", "r")
for n in ("layers.0.weight", "layers.0.bias", "head.weight", "head.bias"):
    assert np.array_equal(base["params"][n][:], m["params"][n][:]), n      # frozen base untouched
    assert int(m["params"][n].attrs["trainable"]) == 0
assert m["params/layers.0.experts.lora_a"].shape == (4, 4, 784)
assert m["params/layers.0.experts.lora_b"].shape == (4, 32, 4)
assert m["params/layers.0.router.weight"].shape == (4, 784)
assert np.abs(m["params/layers.0.experts.lora_b"][:]).max() > 0           # B trained away from 0
g = m["routing/layers.0"]
load = g["load"][:]
assert load.shape[1] == 4 and load.shape[0] == len(g["step"][:]) >= 2
assert np.allclose(load.sum(axis=1), 1.0, atol=1e-5)
assert np.allclose(g["active"][:], 2.0)                                  # top-2
assert np.allclose(g["flops_ratio"][:], 0.5)                             # k/E of dense
assert (g["lbl"][:] > 0.5).all() and (g["z_loss"][:] > 0).all()           # losses are reported
assert "tasks" in m["metrics/eval/test"] and set(m["metrics/eval/test/tasks"].keys()) == {"rot90", "invert"}
ne = h5py.File(f"{d}/mole_null_experts.h5", "r")["routing/layers.0"]
assert ne["flops_ratio"][-1] < 0.5                                       # null slots cost nothing
sw = h5py.File(f"{d}/mole_switch.h5", "r")["routing/layers.0"]
assert np.allclose(sw["active"][:] + sw["dropped"][:], 1.0, atol=1e-6)  # top-1, dropped tokens get none
sb = h5py.File(f"{d}/mole_sigmoid_bias.h5", "r")
assert np.abs(sb["params/layers.0.router.expert_bias"][:]).max() > 0     # bias moved by the update rule
tk = h5py.File(f"{d}/mole_task.h5", "r")
assert tk["params/layers.0.router.module_logits"].shape == (2, 4)      # (n_tasks from the data, q*S)
assert np.allclose(tk["routing/layers.0/flops_ratio"][:], 0.25)         # one mixed LoRA of 4 skills
print("mole run file ok")
PY
