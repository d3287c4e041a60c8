#!/usr/bin/env bash
# A language model with a GPT-2 byte-level BPE tokenizer end to end: a tiny gpt trained on a
# two-domain corpus with the hand-made BPE of tests/fixtures/tiny_bpe, its bits per byte (the
# bytes of the scored tokens, fewer tokens than bytes), moe-eval's per-domain bpb, and generation
# (the prompt encoded with the BPE, the output decoded through it).
source "$(dirname "$0")/lib.sh"
C="$TMP/corpus"
"$PYTHON" - "$C" <<'PY'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(5)
words = {"alpha": ["the", "cat", "sat", "on", "a", "mat", "and", "hello", "world", "there"],
         "code": ["int", "x", "=", "0;", "for", "(i)", "{", "}", "return", "aaa"]}
for dom, ws in words.items():
    for f in range(30):
        p = os.path.join(root, dom, f"doc{f:02d}.txt")
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as fh:
            fh.write(" ".join(rnd.choice(ws) for _ in range(120)) + "\n")
PY
cat >"$TMP/bpe.json" <<EOF
{"exp": {"name": "lm_bpe", "seed": 3, "threads": 1},
 "data": {"source": "text", "text": {"block_size": 32, "cache_dir": "$TMP/cache", "tokenizer": "gpt2",
   "tokenizer_path": "$MOE_SRC/tests/fixtures/tiny_bpe",
   "domains": [{"name": "alpha", "paths": ["$C/alpha"]}, {"name": "code", "paths": ["$C/code"]}]}},
 "model": {"kind": "gpt", "gpt": {"context": 32, "width": 32, "depth": 2, "heads": 2}},
 "train": {"epochs": 0, "max_steps": 40, "batch_size": 8, "optimizer": "adamw", "lr": 0.003,
   "schedule": "cosine", "warmup_steps": 5, "clip_grad_norm": 1.0},
 "eval": {"val": false, "test": true, "batch_size": 16}, "log": {"every": 20}}
EOF
expect_rc 0 "$MOE_BIN/moe-train" "$TMP/bpe.json" -o "$TMP/bpe.h5" -q
expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/bpe.h5" -o "$TMP/eval.h5"
expect_out "| domain | tokens | bpb | loss (nats) | perplexity | accuracy |"
expect_out "| alpha | "
if have_h5py; then
    "$PYTHON" - "$TMP/bpe.h5" "$TMP/eval.h5" <<'PY' || fail "BPE run and eval files"
import math, sys, h5py
run, ev = (h5py.File(p, "r") for p in sys.argv[1:])
t = "metrics/eval/test/"
for d in ("alpha", "code"):
    nats, nbytes, n = (run[t + f"tasks/{d}/{k}"][-1] for k in ("nats", "bytes", "tokens"))
    bpb = run[t + f"tasks/{d}/bpb"][-1]
    assert abs(bpb - nats / (math.log(2) * nbytes)) < 1e-9 * bpb, (d, bpb)
    assert nbytes > n, (d, nbytes, n)  # BPE tokens stand for more than a byte each
    a = run["data"].attrs
    assert int(a[f"text/{d}/train_tokens"]) < int(a[f"text/{d}/train_bytes"]), d
bpb = ev["eval/task_bpb"][:]
assert abs(bpb[0] - ev["eval/task_nats"][0] / (math.log(2) * ev["eval/task_bytes"][0])) < 1e-9
assert abs(run[t + "tasks/alpha/bpb"][-1] - bpb[0]) < 1e-6
PY
fi
gen() { "$MOE_BIN/moe-eval" generate "$TMP/bpe.h5" --prompt "hello the" --max-tokens 12 --seed 4 --no-stop "$@"; }
gen >"$TMP/g1" 2>/dev/null || fail "generate with the BPE tokenizer"
head -c 9 "$TMP/g1" | grep -q "hello the" || fail "the generated text does not start with the prompt"
gen >"$TMP/g2" 2>/dev/null || fail "generate again"
cmp -s "$TMP/g1" "$TMP/g2" || fail "generation is not deterministic"
gen --recompute >"$TMP/g3" 2>/dev/null || fail "generate --recompute"
cmp -s "$TMP/g1" "$TMP/g3" || fail "the KV cache and recomputation generate different text"
echo "ok"
