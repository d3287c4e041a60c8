#!/usr/bin/env bash
# A Hugging Face checkpoint directory as the base of a run: a LoRA mixture on the committed tiny
# GPT-2 (BF16 weights, a 32-row position table, a 16-token context) and on the tiny untied LLaMA
# (RMSNorm, RoPE, grouped KV heads, SwiGLU), both over the byte tokenizer's 257 ids. The model comes
# from config.json; the frozen base in the run file is the checkpoint's tensors (Conv1D weights
# transposed); moe-eval needs only the run file; a run interrupted after its first checkpoint and
# resumed is bitwise the uninterrupted one; and the spec's mistakes are named.
source "$(dirname "$0")/lib.sh"
have_h5py || { echo "SKIP: python3-h5py not installed"; exit 0; }
FIX=$MOE_SRC/tests/fixtures/safetensors
C="$TMP/corpus"
two_domains "$C" 7
cp -r "$FIX/bytes_gpt2" "$FIX/bytes_llama" "$TMP/"
spec() { # spec NAME BASE SITES
    cat >"$TMP/$1.json" <<EOF
{"exp": {"name": "$1", "seed": 5, "threads": 1}, "base": "$2",
 "data": {"source": "text", "text": {"block_size": 16, "cache_dir": "$TMP/cache",
   "domains": [{"name": "alpha", "paths": ["$C/alpha"]}, {"name": "code", "paths": ["$C/code"]}]}},
 "model": {"kind": "gpt"},
 "adapters": {"sites": $3, "kind": "lora", "experts": 2, "rank": 2, "alpha": 4},
 "routing": {"router": "topk", "k": 1}, "loss": {"lbl": "mixtral", "lbl_coef": 0.01},
 "train": {"epochs": 0, "max_steps": 30, "batch_size": 4, "optimizer": "adamw", "lr": 0.01},
 "eval": {"val": false, "test": true, "batch_size": 8}, "log": {"every": 10, "checkpoint_every": 3}}
EOF
}
spec gpt2 "$TMP/bytes_gpt2" '["blocks.*.attn.qkv", "blocks.*.mlp.fc1"]'
spec llama "$TMP/bytes_llama" '["blocks.*.attn.q", "blocks.*.attn.v", "blocks.*.mlp.gate", "head"]'
for m in gpt2 llama; do
    expect_rc 0 "$MOE_BIN/moe-train" "$TMP/$m.json" -o "$TMP/$m.h5"
    expect_out "loaded .* base tensors from the .* checkpoint in $TMP/bytes_$m"
done
# the run files: the resolved model, the base's tensors as stored in the checkpoint
"$PYTHON" - "$TMP" <<'PY' || fail "the HF-based run files"
import json, struct, sys
import h5py, numpy as np
tmp = sys.argv[1]
def read_st(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__": continue
        raw = b[8 + n + v["data_offsets"][0]: 8 + n + v["data_offsets"][1]]
        if v["dtype"] == "BF16":
            a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(raw, "<f4")
        out[k] = a.reshape(v["shape"])
    return out
for m, pairs in (("gpt2", [("wte.weight", "tok_emb.weight", False), ("wpe.weight", "pos_emb.weight", False),
                           ("h.1.attn.c_attn.weight", "blocks.1.attn.qkv.weight", True),
                           ("h.0.mlp.c_proj.weight", "blocks.0.mlp.fc2.weight", True), ("ln_f.bias", "norm.bias", False)]),
                 ("llama", [("model.embed_tokens.weight", "tok_emb.weight", False),
                            ("model.layers.1.self_attn.k_proj.weight", "blocks.1.attn.k.weight", False),
                            ("model.layers.0.mlp.down_proj.weight", "blocks.0.mlp.down.weight", False),
                            ("lm_head.weight", "head.weight", False)])):
    st = read_st(f"{tmp}/bytes_{m}/model.safetensors")
    f = h5py.File(f"{tmp}/{m}.h5", "r")
    spec = json.loads(f["spec"][()])
    g = spec["model"]["gpt"]
    assert spec["model"]["kind"] == "gpt" and g["context"] == 16, g
    if m == "gpt2":
        assert g["max_positions"] == 32 and g["positions"] == "learned" and g["qkv"] == "fused", g
    else:
        assert g["norm"] == "rmsnorm" and g["positions"] == "rope" and g["kv_heads"] == 2 and g["mlp"] == "swiglu", g
        assert not g["tie_head"] and not g["bias"], g
    for hf, ours, tr in pairs:
        want = st[hf].T if tr else st[hf]
        got = f["params/" + ours][()]
        assert got.shape == want.shape and np.array_equal(got, want), (m, ours)
    losses = f["metrics/train/loss"][()]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], (m, losses)
print("HF-based run files: the model from config.json, the base tensors as in the checkpoint")
PY
# moe-eval and generation need only the run file
mv "$TMP/bytes_gpt2" "$TMP/moved"
expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/gpt2.h5"
expect_out "| alpha | "
expect_rc 0 "$MOE_BIN/moe-eval" generate "$TMP/gpt2.h5" --prompt "the cat" --max-tokens 8 --seed 1
mv "$TMP/moved" "$TMP/bytes_gpt2"
# interrupted after a checkpoint and resumed: bitwise the uninterrupted run
RUN=("$TMP/llama.json" -q)
signal_run "$TMP/int.h5" INT
[ "$rc" = 130 ] || { cat "$TMP/sig.err"; fail "SIGINT: expected exit 130, got $rc"; }
expect_rc 0 "$MOE_BIN/moe-train" "$TMP/llama.json" -q -o "$TMP/int.h5" --resume
same_run "$TMP/llama.h5" "$TMP/int.h5"
# model.base_storage bf16: the frozen Linear weights in bfloat16. On the BF16 GPT-2 it is lossless:
# the run (parameters, every metric) is the float32-storage run bit for bit, and moe-eval agrees.
# On the F32 LLaMA the weights are rounded; a run interrupted and resumed is still bitwise the
# uninterrupted one.
expect_rc 0 "$MOE_BIN/moe-train" "$TMP/gpt2.json" -o "$TMP/gpt2_bf16.h5" --set model.base_storage=bf16
expect_out "model.base_storage bf16: .* frozen weights in bfloat16; parameters "
"$PYTHON" - "$TMP/gpt2.h5" "$TMP/gpt2_bf16.h5" <<'PY' || fail "bf16 storage of a BF16 checkpoint is not lossless"
import json, sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
assert json.loads(b["spec"][()])["model"]["base_storage"] == "bf16"
clock = {"ms_per_step", "samples_per_s"}
n = 0
for g in ("params", "metrics"):
    def cmp(name, o):
        global n
        if isinstance(o, h5py.Dataset) and name.split("/")[-1] not in clock:
            x, y = a[g + "/" + name][()], o[()]
            assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), (g, name)
            if g == "params": assert x.dtype == np.float32, name  # run files store float32 as before
            n += 1
    b[g].visititems(cmp)
print(f"bf16 storage of the BF16 GPT-2: {n} datasets bitwise the float32-storage run")
PY
"$MOE_BIN/moe-eval" "$TMP/gpt2.h5" -o "$TMP/e32.h5" >"$TMP/e32.txt" 2>&1 || { cat "$TMP/e32.txt"; fail "moe-eval f32"; }
"$MOE_BIN/moe-eval" "$TMP/gpt2_bf16.h5" -o "$TMP/e16.h5" >"$TMP/e16.txt" 2>&1 || { cat "$TMP/e16.txt"; fail "moe-eval bf16"; }
diff <(grep '^|' "$TMP/e32.txt") <(grep '^|' "$TMP/e16.txt") || fail "moe-eval differs between f32 and bf16 storage"
# the memory estimate counts them at 2 bytes plus a float scratch as large as the largest: the
# LLaMA's 14 frozen block Linear weights (7 per block; the untied head stays f32) hold 3840
# elements, the largest 384 (gate, up, down: 24 x 16)
par() { "$MOE_BIN/moe-train" "$TMP/llama.json" --estimate-memory "$@" 2>/dev/null | awk '$1 == "parameters" {print $4}' | tr -d '('; }
p32=$(par) p16=$(par --set model.base_storage=bf16)
[ -n "$p32" ] && [ "$p16" = $((p32 - 2 * 3840 + 4 * 384)) ] || fail "the memory estimate's parameters: f32 $p32, bf16 $p16"
echo "memory estimate, parameters: $p32 bytes with f32 storage, $p16 with bf16"
RUN=("$TMP/llama.json" -q --set model.base_storage=bf16)
expect_rc 0 "$MOE_BIN/moe-train" "${RUN[@]}" -o "$TMP/llama_bf16.h5"
signal_run "$TMP/int16.h5" INT
[ "$rc" = 130 ] || { cat "$TMP/sig.err"; fail "SIGINT (bf16): expected exit 130, got $rc"; }
expect_rc 0 "$MOE_BIN/moe-train" "${RUN[@]}" -o "$TMP/int16.h5" --resume
same_run "$TMP/llama_bf16.h5" "$TMP/int16.h5"
"$PYTHON" - "$TMP/llama.h5" "$TMP/llama_bf16.h5" <<'PY' || fail "bf16 storage of an F32 checkpoint"
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
w = b["params/blocks.0.attn.q.weight"][()]
assert w.dtype == np.float32 and not np.any(w.view(np.uint32) & 0xFFFF), "frozen Linear weights are bfloat16 values"
assert not np.array_equal(a["params/blocks.0.attn.q.weight"][()], w), "the F32 weights were rounded"
assert np.array_equal(a["params/tok_emb.weight"][()], b["params/tok_emb.weight"][()]), "embeddings stay float32"
la, lb = a["metrics/train/loss"][()], b["metrics/train/loss"][()]
assert np.all(np.abs(la - lb) < 2e-2), (la, lb)
print(f"bf16 storage of the F32 LLaMA: weights rounded, losses within {np.abs(la - lb).max():.2e} of float32 storage")
PY
expect_rc 2 "$MOE_BIN/moe-train" "$TMP/gpt2.json" -o "$TMP/bad.h5" --set model.base_storage=fp8
expect_out "model.base_storage: 'fp8' is not one of: f32 bf16"
# the spec's mistakes, named with their keys
expect_rc 2 "$MOE_BIN/moe-train" "$TMP/gpt2.json" -o "$TMP/bad.h5" --set model.gpt.width=32
expect_out "model.gpt.width: 32, but the base's config.json ($TMP/bytes_gpt2) gives 16"
expect_rc 2 "$MOE_BIN/moe-train" "$TMP/gpt2.json" -o "$TMP/bad.h5" --set data.text.block_size=64
expect_out "data.text.block_size: 64 exceeds the 32 positions of the base's config.json"
expect_rc 2 "$MOE_BIN/moe-train" "$TMP/gpt2.json" -o "$TMP/bad.h5" --set model.kind=mlp
expect_out "it needs model.kind 'gpt', not 'mlp'"
mkdir "$TMP/empty_dir"
expect_rc 2 "$MOE_BIN/moe-train" "$TMP/gpt2.json" -o "$TMP/bad.h5" --set base="$TMP/empty_dir"
expect_out "is a directory without a config.json"
[ ! -e "$TMP/bad.h5" ] || fail "a refused run left its output"
echo "ok: Hugging Face bases (GPT-2, LLaMA) fine-tuned, evaluated, resumed"
