#!/usr/bin/env bash
# Fine-tuning a GPT-2-124M-shaped Hugging Face checkpoint with a LoRA mixture on this machine:
# training tokens/s and peak memory. The weights are random (N(0, 0.02^2), GPT-2's layout and
# names: C 768, L 12, H 12, V 50257, P 1024, written by numpy into WORK/gpt2_124m), so no download
# is needed; the tokenizer is GPT-2's own byte-level BPE (encoder.json + vocab.bpe, fetched by
# tests/fixtures/fetch_gpt2_vocab.sh into ~/.cache/moe-lab/gpt2). The text is two domains every
# Debian machine has: the licence texts and this repository's C++ sources.
#
#   experiments/lm/hf_gpt2_124m.sh [BUILD_DIR] [WORK_DIR]      (defaults: build, /tmp/moe-gpt2-124m)
set -euo pipefail
BIN=${1:-build}
WORK=${2:-/tmp/moe-gpt2-124m}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
VOCAB=${MOE_GPT2_VOCAB_DIR:-$HOME/.cache/moe-lab/gpt2}
[ -f "$VOCAB/encoder.json" ] || "$SRC/tests/fixtures/fetch_gpt2_vocab.sh"
mkdir -p "$WORK"
M=$WORK/gpt2_124m
if [ ! -f "$M/model.safetensors" ]; then
    mkdir -p "$M"
    cp "$VOCAB/encoder.json" "$VOCAB/vocab.bpe" "$M/"
    /usr/bin/python3 - "$M" <<'PY'
import json, struct, sys
import numpy as np
out = sys.argv[1]
V, P, C, L = 50257, 1024, 768, 12
rng = np.random.default_rng(0)
t = {"wte.weight": (V, C), "wpe.weight": (P, C), "ln_f.weight": (C,), "ln_f.bias": (C,)}
for l in range(L):
    h = f"h.{l}."
    t.update({h + "ln_1.weight": (C,), h + "ln_1.bias": (C,), h + "attn.c_attn.weight": (C, 3 * C),
              h + "attn.c_attn.bias": (3 * C,), h + "attn.c_proj.weight": (C, C), h + "attn.c_proj.bias": (C,),
              h + "ln_2.weight": (C,), h + "ln_2.bias": (C,), h + "mlp.c_fc.weight": (C, 4 * C),
              h + "mlp.c_fc.bias": (4 * C,), h + "mlp.c_proj.weight": (4 * C, C), h + "mlp.c_proj.bias": (C,)})
header, off, blobs = {"__metadata__": {"format": "pt"}}, 0, []
for name in sorted(t):
    shape = t[name]
    if name.endswith(".weight") and len(shape) == 1:
        a = np.ones(shape, np.float32)
    elif len(shape) == 1:
        a = np.zeros(shape, np.float32)
    else:
        a = (rng.standard_normal(shape) * 0.02).astype(np.float32)
    b = a.astype("<f4").tobytes()
    header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + len(b)]}
    off += len(b)
    blobs.append(b)
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(f"{out}/model.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    for b in blobs:
        f.write(b)
json.dump({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": V, "n_positions": P,
           "n_embd": C, "n_layer": L, "n_head": 12, "n_inner": None, "activation_function": "gelu_new",
           "layer_norm_epsilon": 1e-5}, open(f"{out}/config.json", "w"), indent=2)
PY
fi
cat >"$WORK/mole.json" <<EOF
{"exp": {"name": "gpt2_124m_mole", "seed": 1, "threads": 2}, "base": "$M",
 "data": {"source": "text", "text": {"block_size": 128, "tokenizer": "gpt2", "tokenizer_path": "$M",
   "cache_dir": "$WORK/cache",
   "domains": [{"name": "licenses", "paths": ["/usr/share/common-licenses"]},
               {"name": "cpp", "paths": ["$SRC/lib/src/**/*.cpp"]}]}},
 "model": {"kind": "gpt"},
 "adapters": {"sites": ["blocks.*.attn.qkv", "blocks.*.mlp.fc1"], "kind": "lora", "experts": 4, "rank": 8, "alpha": 16},
 "routing": {"router": "topk", "k": 2}, "loss": {"lbl": "mixtral", "lbl_coef": 0.01},
 "train": {"epochs": 0, "max_steps": 30, "batch_size": 8, "optimizer": "adamw", "lr": 0.0003},
 "eval": {"val": false, "test": false, "batch_size": 8}, "log": {"every": 10}}
EOF
/usr/bin/time -f %M -o "$WORK/rss" "$BIN/moe-train" "$WORK/mole.json" -o "$WORK/mole.h5" --force -q
/usr/bin/python3 - "$WORK/mole.h5" "$(tail -n 1 "$WORK/rss")" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
sps = f["metrics/train/samples_per_s"][()]
T = 128
steady = sps[1:] if len(sps) > 1 else sps  # the first log window holds the warm-up
print(f"GPT-2 124M shape, MoLE E=4 r=8 top-2 on c_attn + c_fc, batch 8 x 128 tokens, 2 threads:")
print(f"  training {np.median(steady) * T:,.0f} tokens/s (median of the log windows after the first)")
print(f"  peak RSS {int(sys.argv[2]) / 1024:,.0f} MiB")
PY
