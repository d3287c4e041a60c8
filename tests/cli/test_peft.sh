#!/usr/bin/env bash
# LoRA experts out to PEFT and back in. On the committed tiny GPT-2 (BF16 weights) a single LoRA and
# a top-2 mixture of 3 experts train, `moe-eval export` writes them as PEFT adapter directories
# (one per expert, the routers beside them), and a torch script that knows only the checkpoint, the
# exported files and PEFT's formula (tests/tools/peft_gpt2_reference.py) reproduces the logits
# moe-eval generate traced (skipped without python3-torch), as it does from the single LoRA merged
# into a Hugging Face checkpoint (--format hf), which is a base again. The exports import again through
# adapters.peft with the same logits bit for bit; a library of single adapters imports as the
# experts of a router that trains on top; the LLaMA fixture exports in MoE-PEFT's MoLA names; the
# mistakes are named, with nothing written.
source "$(dirname "$0")/lib.sh"
have_h5py || { echo "SKIP: python3-h5py not installed"; exit 0; }
FIX=$MOE_SRC/tests/fixtures/safetensors
C="$TMP/corpus"
two_domains "$C" 11
cp -r "$FIX/bytes_gpt2" "$FIX/bytes_llama" "$TMP/"
spec() { # spec NAME BASE SITES EXPERTS ROUTING [ADAPTERS_EXTRA]
    cat >"$TMP/$1.json" <<EOF
{"exp": {"name": "$1", "seed": 3, "threads": 1}, "base": "$2",
 "data": {"source": "text", "text": {"block_size": 16, "cache_dir": "$TMP/cache",
   "domains": [{"name": "alpha", "paths": ["$C/alpha"]}, {"name": "code", "paths": ["$C/code"]}]}},
 "model": {"kind": "gpt"},
 "adapters": {"sites": $3, "kind": "lora", "experts": $4, "rank": 2, "alpha": 4 ${6:-}},
 "routing": $5,
 "train": {"epochs": 0, "max_steps": 25, "batch_size": 4, "optimizer": "adamw", "lr": 0.02},
 "eval": {"val": false, "test": true, "batch_size": 8}, "log": {"every": 25}}
EOF
}
GSITES='["blocks.*.attn.qkv", "blocks.*.attn.proj", "blocks.*.mlp.fc1", "blocks.*.mlp.fc2"]'
spec lora "$TMP/bytes_gpt2" "$GSITES" 1 '{"router": "none"}'
spec mix "$TMP/bytes_gpt2" '["blocks.*.attn.qkv", "blocks.*.mlp.fc2"]' 3 '{"router": "topk", "k": 2}'
for m in lora mix; do
    expect_rc 0 "$MOE_BIN/moe-train" "$TMP/$m.json" -q -o "$TMP/$m.h5"
    expect_rc 0 "$MOE_BIN/moe-eval" export "$TMP/$m.h5" "$TMP/$m.peft"
    expect_rc 0 "$MOE_BIN/moe-eval" generate "$TMP/$m.h5" --prompt "the cat" --max-tokens 6 --temperature 0 \
        --no-stop --trace "$TMP/$m.trace.h5"
done
ls "$TMP/lora.peft" | tr '\n' ' ' | grep -qx "adapter_config.json adapter_model.safetensors " ||
    fail "a single LoRA exports as one PEFT adapter: $(ls "$TMP/lora.peft")"
ls "$TMP/mix.peft" | tr '\n' ' ' | grep -qx "expert_0 expert_1 expert_2 moe_lab_mixture.json router.safetensors " ||
    fail "a mixture exports one adapter per expert and its routers: $(ls "$TMP/mix.peft")"
# the files: PEFT's config keys, names and shapes, the run's tensors as they are
"$PYTHON" - "$TMP" <<'PY' || fail "the exported files"
import json, os, sys
import h5py, numpy as np
tmp = sys.argv[1]
sys.path.insert(0, os.path.join(os.environ["MOE_SRC"], "tests", "tools"))
from st_numpy import read as st_read
st = st_read
cfg = json.load(open(f"{tmp}/lora.peft/adapter_config.json"))
want = {"base_model_name_or_path", "bias", "fan_in_fan_out", "inference_mode", "init_lora_weights", "lora_alpha",
        "lora_dropout", "peft_type", "r", "target_modules", "task_type", "use_rslora"}
assert set(cfg) == want, set(cfg) ^ want
assert cfg["peft_type"] == "LORA" and cfg["r"] == 2 and cfg["lora_alpha"] == 4 and cfg["fan_in_fan_out"] is True, cfg
assert cfg["task_type"] == "CAUSAL_LM" and cfg["base_model_name_or_path"] == f"{tmp}/bytes_gpt2", cfg
assert cfg["target_modules"] == [f"transformer.h.{l}.{m}" for l in (0, 1)
                                 for m in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")], cfg
meta, t = st(f"{tmp}/lora.peft/adapter_model.safetensors")
assert meta == {"format": "pt"}, meta
f = h5py.File(f"{tmp}/lora.h5", "r")
a = t["base_model.model.transformer.h.1.mlp.c_fc.lora_A.weight"]; b = t["base_model.model.transformer.h.1.mlp.c_fc.lora_B.weight"]
assert a.shape == (2, 16) and b.shape == (64, 2), (a.shape, b.shape)
assert np.array_equal(a, f["params/blocks.1.mlp.fc1.experts.lora_a"][0]) and np.abs(b).max() > 0
assert len(t) == 16, sorted(t)
m = json.load(open(f"{tmp}/mix.peft/moe_lab_mixture.json"))
assert m["experts"] == 3 and m["expert_dirs"] == ["expert_0", "expert_1", "expert_2"] and m["family"] == "gpt2", m
assert m["routing"]["router"] == "topk" and m["routing"]["k"] == 2 and m["lora"]["scaling"] == 2.0, m
_, rt = st(f"{tmp}/mix.peft/router.safetensors")
g = h5py.File(f"{tmp}/mix.h5", "r")
w = rt["base_model.model.transformer.h.0.attn.c_attn.router.weight"]
assert w.shape == (3, 16) and np.array_equal(w, g["params/blocks.0.attn.qkv.router.weight"][()])
_, e2 = st(f"{tmp}/mix.peft/expert_2/adapter_model.safetensors")
assert np.array_equal(e2["base_model.model.transformer.h.1.mlp.c_proj.lora_B.weight"],
                      g["params/blocks.1.mlp.fc2.experts.lora_b"][2])
print("exported: PEFT's config and names, the run's tensors")
PY
# the model as a Hugging Face checkpoint, the single LoRA merged into its weights (PEFT's merge);
# it loads as a base again, and the torch script gives the traced logits from it alone
expect_rc 0 "$MOE_BIN/moe-eval" export "$TMP/lora.h5" "$TMP/lora.hf" --format hf
expect_out "lora.hf/config.json"
"$PYTHON" - "$TMP" <<'PY' || fail "the Hugging Face export"
import json, os, sys
import h5py, numpy as np
tmp = sys.argv[1]
sys.path.insert(0, os.path.join(os.environ["MOE_SRC"], "tests", "tools"))
from st_numpy import read as st_read
def st(path): return st_read(path)[1]
c, c0 = json.load(open(f"{tmp}/lora.hf/config.json")), json.load(open(f"{tmp}/bytes_gpt2/config.json"))
for k in ("model_type", "n_embd", "n_head", "n_layer", "n_positions", "vocab_size", "activation_function", "tie_word_embeddings"):
    assert c[k] == c0[k], (k, c[k], c0[k])
t = st(f"{tmp}/lora.hf/model.safetensors")
f = h5py.File(f"{tmp}/lora.h5", "r")
w = f["params/blocks.1.mlp.fc1.weight"][()]; a = f["params/blocks.1.mlp.fc1.experts.lora_a"][0]; b = f["params/blocks.1.mlp.fc1.experts.lora_b"][0]
merged = (w.astype(np.float64) + 2.0 * b.astype(np.float64) @ a.astype(np.float64)).T  # Conv1D: (in, out)
assert t["h.1.mlp.c_fc.weight"].shape == (16, 64) and np.allclose(t["h.1.mlp.c_fc.weight"], merged, rtol=1e-6, atol=1e-7)
assert np.array_equal(t["wte.weight"], f["params/tok_emb.weight"][()]) and "lm_head.weight" not in t
assert not any(k.startswith("transformer.") or ".lora" in k for k in t), sorted(t)
print("Hugging Face export: config.json, the merged weights, Conv1D stored (in, out)")
PY
expect_rc 0 "$MOE_BIN/moe-train" "$TMP/mix.json" -q -o "$TMP/rebased.h5" --set base="$TMP/lora.hf" --set train.max_steps=2
expect_rc 2 "$MOE_BIN/moe-eval" export "$TMP/mix.h5" "$TMP/x.hf" --format hf
expect_out "a mixture of 3 experts cannot be merged into one model"
[ ! -e "$TMP/x.hf" ] || fail "a refused export left its directory"
# PEFT's formula on the checkpoint's weights gives moe-lab's logits (torch only)
if "$PYTHON" -c "import torch" 2>/dev/null; then
    for m in lora mix; do
        "$PYTHON" - "$TMP" "$m" "$MOE_SRC/tests/tools/peft_gpt2_reference.py" <<'PY' || fail "$m: PEFT's formula"
import json, subprocess, sys
import h5py, numpy as np
tmp, m, ref = sys.argv[1:4]
tr = h5py.File(f"{tmp}/{m}.trace.h5", "r")
gen = [int(t) for t in tr["trace/tokens"][()]]
ids = [256] + list(b"the cat") + gen[:-1]  # the document boundary, the prompt, the tokens drawn
out = json.loads(subprocess.run([sys.executable, ref, f"{tmp}/bytes_gpt2", f"{tmp}/{m}.peft"] + [str(i) for i in ids],
                                check=True, capture_output=True, text=True).stdout)
want = np.array(out["logits"], dtype=np.float64)[-len(gen):]
got = tr["trace/logits"][()].astype(np.float64)
assert got.shape == want.shape, (got.shape, want.shape)
err = np.abs(got - want).max() / np.abs(want).max()
assert err < 1e-5, f"{m}: max relative difference {err}"
if m == "mix":  # the experts moe-lab chose at each generated token are the script's top-2
    for site, mod in (("blocks.0.attn.qkv", "transformer.h.0.attn.c_attn"), ("blocks.1.mlp.fc2", "transformer.h.1.mlp.c_proj")):
        ours = tr[f"trace/sites/{site}/experts"][()]
        theirs = np.array(out["experts"][mod])[-len(gen):]
        assert np.array_equal(np.sort(ours, 1), np.sort(theirs, 1)), (site, ours, theirs)
print(f"{m}: PEFT's formula on the exported files gives moe-lab's logits (max relative difference {err:.2e})")
PY
    done
    "$PYTHON" - "$TMP" "$MOE_SRC/tests/tools/peft_gpt2_reference.py" <<'PY' || fail "the merged checkpoint's logits"
import json, subprocess, sys
import h5py, numpy as np
tmp, ref = sys.argv[1:3]
tr = h5py.File(f"{tmp}/lora.trace.h5", "r")
gen = [int(t) for t in tr["trace/tokens"][()]]
ids = [256] + list(b"the cat") + gen[:-1]
out = json.loads(subprocess.run([sys.executable, ref, f"{tmp}/lora.hf", "-"] + [str(i) for i in ids],
                                check=True, capture_output=True, text=True).stdout)
want = np.array(out["logits"])[-len(gen):]
err = np.abs(tr["trace/logits"][()] - want).max() / np.abs(want).max()
assert err < 1e-5, f"merged: max relative difference {err}"
print(f"the merged checkpoint alone gives the LoRA run's logits (max relative difference {err:.2e})")
PY
else
    echo "SKIP (part): python3-torch not installed; the logits check by PEFT's formula did not run"
fi
# in again: the exports import with the same logits, bit for bit
for m in lora mix; do
    "$PYTHON" - "$TMP/$m.json" "$TMP/$m.peft" "$TMP/imp_$m.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["adapters"] = {"peft": [sys.argv[2]]}
s["routing"] = {}
s["exp"]["name"] = "imp"
s["train"]["max_steps"] = 0
json.dump(s, open(sys.argv[3], "w"))
PY
    expect_rc 0 "$MOE_BIN/moe-train" "$TMP/imp_$m.json" -q -o "$TMP/imp_$m.h5"
    expect_rc 0 "$MOE_BIN/moe-eval" generate "$TMP/imp_$m.h5" --prompt "the cat" --max-tokens 6 --temperature 0 \
        --no-stop --trace "$TMP/imp_$m.trace.h5"
done
"$PYTHON" - "$TMP" <<'PY' || fail "imported adapters"
import json, sys
import h5py, numpy as np
tmp = sys.argv[1]
for m in ("lora", "mix"):
    a, b = h5py.File(f"{tmp}/{m}.trace.h5", "r"), h5py.File(f"{tmp}/imp_{m}.trace.h5", "r")
    assert np.array_equal(a["trace/logits"][()], b["trace/logits"][()]), m
    r, i = h5py.File(f"{tmp}/{m}.h5", "r"), h5py.File(f"{tmp}/imp_{m}.h5", "r")
    for k in r["params"]:
        assert np.array_equal(r["params"][k][()], i["params"][k][()]), (m, k)
    s = json.loads(i["spec"][()])
    assert s["adapters"]["experts"] == (1 if m == "lora" else 3) and s["adapters"]["rank"] == 2, s["adapters"]
    if m == "mix":
        assert s["adapters"]["sites"] == ["blocks.0.attn.qkv", "blocks.0.mlp.fc2", "blocks.1.attn.qkv", "blocks.1.mlp.fc2"]
        assert s["routing"]["router"] == "topk" and s["routing"]["k"] == 2, s["routing"]
print("imported: the exporting runs' parameters and logits, bit for bit")
PY
# a library of single adapters as the experts of a new router, which alone trains
cat >"$TMP/lib.json" <<EOF
{"exp": {"name": "lib", "seed": 4, "threads": 1}, "base": "$TMP/bytes_gpt2",
 "data": {"source": "text", "text": {"block_size": 16, "cache_dir": "$TMP/cache",
   "domains": [{"name": "alpha", "paths": ["$C/alpha"]}, {"name": "code", "paths": ["$C/code"]}]}},
 "model": {"kind": "gpt"}, "adapters": {"peft": ["$TMP/lora.peft", "$TMP/mix.peft/expert_1"]},
 "routing": {"router": "topk", "k": 1},
 "train": {"epochs": 0, "max_steps": 10, "batch_size": 4, "optimizer": "adamw", "lr": 0.02, "freeze": ["*.experts.*"]},
 "eval": {"val": false, "test": true, "batch_size": 8}, "log": {"every": 10}}
EOF
expect_rc 0 "$MOE_BIN/moe-train" "$TMP/lib.json" -q -o "$TMP/lib.h5"
"$PYTHON" - "$TMP" <<'PY' || fail "a library of adapters"
import sys
import h5py, numpy as np
tmp = sys.argv[1]
f, lo, mx = (h5py.File(f"{tmp}/{n}.h5", "r") for n in ("lib", "lora", "mix"))
a = f["params/blocks.1.attn.proj.experts.lora_a"][()]
assert np.array_equal(a[0], lo["params/blocks.1.attn.proj.experts.lora_a"][0])
assert not a[1].any(), "expert 1 (from the mixture's expert_1) does not adapt attn.proj: zeros there"
assert np.array_equal(f["params/blocks.0.attn.qkv.experts.lora_b"][1], mx["params/blocks.0.attn.qkv.experts.lora_b"][1])
w = f["params/blocks.0.attn.qkv.router.weight"][()]
assert w.shape == (2, 16) and np.all(np.isfinite(f["metrics/train/loss"][()]))
print("a library of PEFT adapters routed by a new router")
PY
# adapters of another rank and scale: padded, each one's scale folded into its B
"$PYTHON" - "$TMP" <<'PY'
import json, os, sys
import numpy as np
tmp = sys.argv[1]
sys.path.insert(0, os.path.join(os.environ["MOE_SRC"], "tests", "tools"))
from st_numpy import read as st_read
def st(path): return st_read(path)[1]
from st_numpy import write
os.makedirs(f"{tmp}/r3.peft")
t = st(f"{tmp}/lora.peft/adapter_model.safetensors")
r3 = {}
for k, v in t.items():  # rank 3 with the same product: a row of A that meets a zero column of B
    r3[k] = np.vstack([v, np.full((1, v.shape[1]), 0.5, "<f4")]) if "lora_A" in k else np.hstack([v, np.zeros((v.shape[0], 1), "<f4")])
write(f"{tmp}/r3.peft/adapter_model.safetensors", r3)
c = json.load(open(f"{tmp}/lora.peft/adapter_config.json")); c["r"] = 3; c["lora_alpha"] = 9
json.dump(c, open(f"{tmp}/r3.peft/adapter_config.json", "w"))
PY
"$PYTHON" - "$TMP/lib.json" "$TMP/fold.json" "$TMP/lora.peft" "$TMP/r3.peft" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); s["adapters"] = {"peft": sys.argv[3:5]}; s["train"]["max_steps"] = 0
json.dump(s, open(sys.argv[2], "w"))
PY
expect_rc 0 "$MOE_BIN/moe-train" "$TMP/fold.json" -q -o "$TMP/fold.h5"
"$PYTHON" - "$TMP" <<'PY' || fail "adapters of two ranks and scales"
import json, sys
import h5py, numpy as np
tmp = sys.argv[1]
f, lo = h5py.File(f"{tmp}/fold.h5", "r"), h5py.File(f"{tmp}/lora.h5", "r")
s = json.loads(f["spec"][()])["adapters"]
assert s["rank"] == 3 and s["alpha"] == 3 and not s["rslora"], s  # the largest rank, scale 1
for site in ("blocks.0.attn.qkv", "blocks.1.mlp.fc2"):
    a, b = f[f"params/{site}.experts.lora_a"][()], f[f"params/{site}.experts.lora_b"][()]
    a0, b0 = lo[f"params/{site}.experts.lora_a"][0], lo[f"params/{site}.experts.lora_b"][0]
    assert np.array_equal(a[0, :2], a0) and not a[0, 2].any() and not b[0, :, 2].any()
    assert np.allclose(b[0, :, :2], b0 * 2.0, rtol=1e-6) and np.allclose(b[1, :, :2], b0 * 3.0, rtol=1e-6)  # 4/2, 9/3
    assert np.all(a[1, 2] == 0.5)
print("adapters of ranks 2 and 3, scales 2 and 3: padded, scales folded")
PY
# LLaMA: PEFT's names (model.layers...) and MoE-PEFT's MoLA layout
spec llama "$TMP/bytes_llama" '["blocks.*.attn.q", "blocks.*.attn.v", "blocks.*.mlp.gate"]' 2 '{"router": "topk", "k": 1}'
expect_rc 0 "$MOE_BIN/moe-train" "$TMP/llama.json" -q -o "$TMP/llama.h5"
expect_rc 0 "$MOE_BIN/moe-eval" export "$TMP/llama.h5" "$TMP/llama.peft"
expect_rc 0 "$MOE_BIN/moe-eval" export "$TMP/llama.h5" "$TMP/llama.moepeft" --format moe-peft
"$PYTHON" - "$TMP" <<'PY' || fail "the LLaMA exports"
import json, os, sys
import h5py, numpy as np
tmp = sys.argv[1]
sys.path.insert(0, os.path.join(os.environ["MOE_SRC"], "tests", "tools"))
from st_numpy import read as st_read
def st(path): return st_read(path)[1]
f = h5py.File(f"{tmp}/llama.h5", "r")
p = st(f"{tmp}/llama.peft/expert_1/adapter_model.safetensors")
assert np.array_equal(p["base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight"],
                      f["params/blocks.0.attn.v.experts.lora_b"][1])
assert json.load(open(f"{tmp}/llama.peft/expert_1/adapter_config.json"))["fan_in_fan_out"] is False
c = json.load(open(f"{tmp}/llama.moepeft/adapter_config.json"))
assert c["peft_type"] == "MOLA" and c["routing_strategy"] == "mola" and c["num_experts"] == 2 and c["top_k"] == 1, c
assert c["lora_alpha"] == 4 and isinstance(c["lora_alpha"], int) and c["lora_dropout"] > 0, c
assert c["target_modules"] == ["gate_proj", "q_proj", "v_proj"], c
t = st(f"{tmp}/llama.moepeft/adapter_model.safetensors")
assert np.array_equal(t["mola.layers.1.mlp.gate_proj.moe_gate.weight"], f["params/blocks.1.mlp.gate.router.weight"][()])
assert np.array_equal(t["mola.layers.0.self_attn.q_proj.experts.1.lora_A.weight"], f["params/blocks.0.attn.q.experts.lora_a"][1])
assert len(t) == 2 * 3 * (1 + 2 * 2), len(t)
print("LLaMA: PEFT names per expert, MoE-PEFT's MoLA layout")
PY
[ -f "$TMP/llama.moepeft/to_moe_peft.py" ] || fail "the MoE-PEFT export has no converter to adapter_model.bin"
# mistakes, named; nothing written
expect_rc 2 "$MOE_BIN/moe-eval" export "$TMP/lora.h5" "$TMP/lora.peft"
expect_out "lora.peft exists; --force replaces it"
expect_rc 0 "$MOE_BIN/moe-eval" export "$TMP/lora.h5" "$TMP/lora.peft" --force
expect_rc 2 "$MOE_BIN/moe-eval" export "$TMP/mix.h5" "$TMP/x.peft" --format moe-peft
expect_out "MoE-PEFT has no GPT-2 models"
spec bneck "$TMP/bytes_gpt2" '["blocks.*.mlp.fc1"]' 1 '{"router": "none"}'
sed -i 's/"kind": "lora"/"kind": "bottleneck"/; s/"max_steps": 25/"max_steps": 2/' "$TMP/bneck.json"
expect_rc 0 "$MOE_BIN/moe-train" "$TMP/bneck.json" -q -o "$TMP/bneck.h5"
expect_rc 2 "$MOE_BIN/moe-eval" export "$TMP/bneck.h5" "$TMP/x.peft"
expect_out "its experts are 'bottleneck'; PEFT's adapter format holds LoRA experts only"
[ ! -e "$TMP/x.peft" ] || fail "a refused export left its directory"
ls "$TMP" | grep -q "\.part-" && fail "an export left its temporary directory"
mkdir "$TMP/not_adapter"
expect_rc 3 "$MOE_BIN/moe-train" "$TMP/lib.json" -o "$TMP/bad.h5" --set "adapters.peft=[\"$TMP/not_adapter\"]"
expect_out "not_adapter: no adapter_config.json"
expect_rc 2 "$MOE_BIN/moe-train" "$TMP/lib.json" -o "$TMP/bad.h5" --set adapters.rank=4
expect_out "adapters.rank: 4, but the adapters of adapters.peft give 2"
cp -r "$TMP/lora.peft" "$TMP/odd.peft"
"$PYTHON" - "$TMP/odd.peft/adapter_model.safetensors" <<'PY'
import json, struct, sys
p = sys.argv[1]; b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = b[8:8 + n].decode()
h = h.replace("transformer.h.0.mlp.c_fc.lora_A", "transformer.h.0.mlp.c_xx.lora_A")
open(p, "wb").write(struct.pack("<Q", len(h.encode())) + h.encode() + b[8 + n:])
PY
expect_rc 3 "$MOE_BIN/moe-train" "$TMP/lib.json" -o "$TMP/bad.h5" --set "adapters.peft=[\"$TMP/odd.peft\"]"
expect_out "'transformer.h.0.mlp.c_xx' is not a Linear module of the GPT-2 model"
[ ! -e "$TMP/bad.h5" ] || fail "a refused import left its run file"
echo "ok: LoRA experts exported to PEFT / MoE-PEFT and imported back"
