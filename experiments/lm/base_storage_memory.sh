#!/usr/bin/env bash
# model.base_storage f32 against bf16 on a GPT-2-124M-shaped checkpoint: the memory estimate's
# parameter part and the peak RSS of a short LoRA-mixture fine-tune. The checkpoint has GPT-2's
# names and shapes (C 768, L 12, H 12, P 1024) with random F32 weights (N(0, 0.02^2)) and a
# 257-token vocabulary, so the byte tokenizer fits and nothing is downloaded; the text is the
# licence texts every Debian machine has.
#
#   experiments/lm/base_storage_memory.sh [BUILD_DIR] [WORK_DIR]   (defaults: build, /tmp/moe-base-storage)
set -euo pipefail
BIN=${1:-build}
WORK=${2:-/tmp/moe-base-storage}
mkdir -p "$WORK"
M=$WORK/gpt2_124m_bytes
if [ ! -f "$M/model.safetensors" ]; then
    mkdir -p "$M"
    /usr/bin/python3 - "$M" <<'PY'
import json, struct, sys
import numpy as np
out = sys.argv[1]
V, P, C, L = 257, 1024, 768, 12
rng = np.random.default_rng(0)
t = {"wte.weight": (V, C), "wpe.weight": (P, C), "ln_f.weight": (C,), "ln_f.bias": (C,)}
for l in range(L):
    h = f"h.{l}."
    t.update({h + "ln_1.weight": (C,), h + "ln_1.bias": (C,), h + "attn.c_attn.weight": (C, 3 * C),
              h + "attn.c_attn.bias": (3 * C,), h + "attn.c_proj.weight": (C, C), h + "attn.c_proj.bias": (C,),
              h + "ln_2.weight": (C,), h + "ln_2.bias": (C,), h + "mlp.c_fc.weight": (C, 4 * C),
              h + "mlp.c_fc.bias": (4 * C,), h + "mlp.c_proj.weight": (4 * C, C), h + "mlp.c_proj.bias": (C,)})
header, off = {"__metadata__": {"format": "pt"}}, 0
for name in sorted(t):
    n = int(np.prod(t[name])) * 4
    header[name] = {"dtype": "F32", "shape": list(t[name]), "data_offsets": [off, off + n]}
    off += n
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(f"{out}/model.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    for name in sorted(t):
        shape = t[name]
        if len(shape) == 1:
            a = (np.ones if name.endswith(".weight") else np.zeros)(shape, np.float32)
        else:
            a = (rng.standard_normal(shape) * 0.02).astype(np.float32)
        f.write(a.astype("<f4").tobytes())
json.dump({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": V, "n_positions": P,
           "n_embd": C, "n_layer": L, "n_head": 12, "n_inner": None, "activation_function": "gelu_new",
           "layer_norm_epsilon": 1e-5}, open(f"{out}/config.json", "w"), indent=2)
PY
fi
cat >"$WORK/mole.json" <<EOF
{"exp": {"name": "base_storage", "seed": 1, "threads": 2}, "base": "$M",
 "data": {"source": "text", "text": {"block_size": 64, "cache_dir": "$WORK/cache",
   "domains": [{"name": "licenses", "paths": ["/usr/share/common-licenses"]}]}},
 "model": {"kind": "gpt"},
 "adapters": {"sites": ["blocks.*.attn.qkv", "blocks.*.mlp.fc1"], "kind": "lora", "experts": 4, "rank": 8, "alpha": 16},
 "routing": {"router": "topk", "k": 2},
 "train": {"epochs": 0, "max_steps": 3, "batch_size": 4, "optimizer": "adamw", "lr": 0.0003},
 "eval": {"val": false, "test": false, "batch_size": 4}, "log": {"every": 1}}
EOF
for s in f32 bf16; do
    est=$("$BIN/moe-train" "$WORK/mole.json" --set model.base_storage=$s --estimate-memory 2>/dev/null | grep -E '^ +(parameters|total) ' | awk '{printf "%s %s %s; ", $1, $2, $3}')
    /usr/bin/time -f %M -o "$WORK/rss_$s" "$BIN/moe-train" "$WORK/mole.json" -o "$WORK/run_$s.h5" --force -q \
        --set model.base_storage=$s
    echo "base_storage $s: estimate ${est}peak RSS $(( $(tail -n 1 "$WORK/rss_$s") / 1024 )) MiB"
done
