#!/usr/bin/env bash
# Language models end to end on a tiny three-domain corpus the test writes: a gpt base trained on
# two domains, a LoRA mixture on the frozen base over all three, bits per byte per domain in the
# run file and in moe-eval (routing affinity, NMI, overrides, ablation), generation (seeded,
# the KV cache equal to recomputation, a trace of the experts), and the bad inputs of text runs.
source "$(dirname "$0")/lib.sh"
C="$TMP/corpus"
"$PYTHON" - "$C" <<'PY'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(5)
words = {"alpha": ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran"],
         "code": ["int", "x", "=", "0;", "for", "(i)", "{", "}", "return"],
         "shout": ["HEY", "YOU", "STOP", "GO", "NOW", "WAIT", "RUN", "YES", "NO"]}
for dom, ws in words.items():
    for f in range(40):
        p = os.path.join(root, dom, "sub" if f % 2 else "", f"doc{f:02d}.txt")
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as fh:
            fh.write(" ".join(rnd.choice(ws) for _ in range(150)) + "\n")
PY
cat >"$TMP/base.json" <<EOF
{"exp": {"name": "lm_base", "seed": 3, "threads": 1},
 "data": {"source": "text", "text": {"block_size": 32, "cache_dir": "$TMP/cache",
   "domains": [{"name": "alpha", "paths": ["$C/alpha"]}, {"name": "code", "paths": ["$C/code"]}]}},
 "model": {"kind": "gpt", "gpt": {"context": 32, "width": 32, "depth": 2, "heads": 2}},
 "train": {"epochs": 0, "max_steps": 60, "batch_size": 8, "optimizer": "adamw", "lr": 0.003,
   "schedule": "cosine", "warmup_steps": 5, "clip_grad_norm": 1.0},
 "eval": {"val": false, "test": true, "batch_size": 16}, "log": {"every": 20}}
EOF
expect_rc 0 "$MOE_BIN/moe-train" "$TMP/base.json" -o "$TMP/base.h5" -q
expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/base.h5"
expect_out "| domain | tokens | bpb | loss (nats) | perplexity | accuracy |"
expect_out "| alpha | "
cat >"$TMP/mole.json" <<EOF
{"exp": {"name": "lm_mole", "seed": 3, "threads": 1}, "base": "$TMP/base.h5",
 "data": {"source": "text", "text": {"block_size": 32, "cache_dir": "$TMP/cache",
   "domains": [{"name": "alpha", "paths": ["$C/alpha"]}, {"name": "code", "paths": ["$C/code"]},
               {"name": "shout", "paths": ["$C/shout/**/*.txt"]}]}},
 "model": {"kind": "gpt", "gpt": {"context": 32, "width": 32, "depth": 2, "heads": 2}},
 "adapters": {"sites": ["blocks.*.attn.qkv", "blocks.*.mlp.fc1"], "kind": "lora", "experts": 3, "rank": 4, "alpha": 8},
 "routing": {"router": "topk", "k": 1}, "loss": {"lbl": "mixtral", "lbl_coef": 0.01},
 "train": {"epochs": 0, "max_steps": 60, "batch_size": 8, "optimizer": "adamw", "lr": 0.003, "clip_grad_norm": 1.0},
 "eval": {"val": false, "test": true, "batch_size": 16}, "log": {"every": 20}}
EOF
expect_rc 0 "$MOE_BIN/moe-train" "$TMP/mole.json" -o "$TMP/mole.h5" -q
expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/mole.h5" -o "$TMP/eval.h5" --ablate
expect_out "bits per byte"
expect_out "| shout | "
expect_out "affinity blocks.0.attn.qkv"
expect_out "ablation: bits-per-byte change per domain"
for flags in "--uniform" "--oracle" "--disable 0"; do
    expect_rc 0 "$MOE_BIN/moe-eval" "$TMP/mole.h5" $flags -q
done
if have_h5py; then
    "$PYTHON" - "$TMP/base.h5" "$TMP/mole.h5" "$TMP/eval.h5" <<'PY' || fail "LM run and eval files"
import math, sys, h5py
base, mole, ev = (h5py.File(p, "r") for p in sys.argv[1:])
t = "metrics/eval/test/"
for d in ("alpha", "code"):
    nats, nbytes = base[t + f"tasks/{d}/nats"][-1], base[t + f"tasks/{d}/bytes"][-1]
    bpb = base[t + f"tasks/{d}/bpb"][-1]
    assert abs(bpb - nats / (math.log(2) * nbytes)) < 1e-9 * bpb, (d, bpb)
    assert bpb < 8.0, (d, bpb)                       # better than a uniform byte predictor
    assert abs(base["metrics"].attrs[f"final/test/{d}/bpb"] - bpb) < 1e-12
pooled = sum(base[t + f"tasks/{d}/nats"][-1] for d in ("alpha", "code")) / math.log(2) / \
         sum(base[t + f"tasks/{d}/bytes"][-1] for d in ("alpha", "code"))
assert abs(base[t + "bpb"][-1] - pooled) < 1e-9 * pooled
assert len(base["data"].attrs["text/alpha/sha256"]) == 64
assert int(base["data"].attrs["text/code/test_documents"]) >= 0
# moe-eval's per-domain sums give its bpb; the adapted run's own last evaluation agrees
bpb = ev["eval/task_bpb"][:]
assert abs(bpb[2] - ev["eval/task_nats"][2] / (math.log(2) * ev["eval/task_bytes"][2])) < 1e-9
assert abs(mole[t + "tasks/shout/bpb"][-1] - bpb[2]) < 1e-6
aff = ev["eval/sites/blocks.0.attn.qkv/affinity"][:]
assert aff.shape == (3, 3) and abs(aff.sum(axis=1) - 1).max() < 1e-9
assert 0 <= ev["eval/sites/blocks.0.attn.qkv"].attrs["nmi"] <= 1
assert ev["eval/ablation_bpb/blocks.0.attn.qkv/expert_0"].shape == (3,)
PY
fi
# generation: a fixed seed gives the same text; the KV cache gives what recomputation gives
gen() { "$MOE_BIN/moe-eval" generate "$TMP/mole.h5" --prompt "the cat" --max-tokens 20 --seed 4 "$@"; }
gen >"$TMP/g1" 2>/dev/null || fail "generate"
gen >"$TMP/g2" 2>/dev/null
gen --recompute >"$TMP/g3" 2>/dev/null
cmp -s "$TMP/g1" "$TMP/g2" || fail "generation with one seed differs between runs"
cmp -s "$TMP/g1" "$TMP/g3" || fail "generation with the KV cache differs from recomputation"
head -c 7 "$TMP/g1" | grep -q "the cat" || fail "the generated text does not start with the prompt"
expect_rc 0 "$MOE_BIN/moe-eval" generate "$TMP/mole.h5" --prompt "HEY" --max-tokens 10 --temperature 0 \
    --domain shout --trace "$TMP/trace.h5"
expect_out "trace file: $TMP/trace.h5"
if have_h5py; then
    "$PYTHON" - "$TMP/trace.h5" <<'PY' || fail "generation trace"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
n = f["trace/tokens"].shape[0]
assert 1 <= n <= 10
e = f["trace/sites/blocks.1.mlp.fc1/experts"][:]
assert e.shape == (n, 1) and ((e >= 0) & (e < 3)).all()
PY
fi
# an existing trace is replaced only with --force
expect_rc 2 "$MOE_BIN/moe-eval" generate "$TMP/mole.h5" --prompt "HEY" --max-tokens 3 --trace "$TMP/trace.h5"
expect_out "exists; --force replaces it"
expect_rc 0 "$MOE_BIN/moe-eval" generate "$TMP/mole.h5" --prompt "HEY" --max-tokens 3 --trace "$TMP/trace.h5" --force
# bad inputs: clear messages, the documented exit codes, no output left behind
expect_rc 2 "$MOE_BIN/moe-eval" generate "$TMP/mole.h5" --prompt "$(printf 'x%.0s' $(seq 40))"
expect_out "do not fit the model's context of 32 positions"
expect_rc 2 "$MOE_BIN/moe-eval" generate "$TMP/mole.h5" --prompt "a" --max-tokens 0 --trace "$TMP/t0.h5"
expect_out "max-tokens: must be at least 1"
[ ! -e "$TMP/t0.h5" ] || fail "a refused generation left its trace file"
expect_rc 2 "$MOE_BIN/moe-eval" generate "$TMP/mole.h5" --domain nope
expect_out "the run's domains are alpha, code, shout"
bad() { # bad CODE MESSAGE --set ...
    local code=$1 msg=$2; shift 2
    expect_rc "$code" "$MOE_BIN/moe-train" "$TMP/base.json" -o "$TMP/bad.h5" -q "$@"
    expect_out "$msg"
    [ ! -e "$TMP/bad.h5" ] || fail "a failed run left its run file"
}
bad 3 "data.text.domains\[1\].paths\[0\]: '$C/nope' does not exist" \
    --set "data.text.domains=[{\"name\":\"alpha\",\"paths\":[\"$C/alpha\"]},{\"name\":\"x\",\"paths\":[\"$C/nope\"]}]"
mkdir -p "$TMP/empty" && : >"$TMP/empty/a.txt"
bad 3 "domain 'x' is empty" \
    --set "data.text.domains=[{\"name\":\"alpha\",\"paths\":[\"$C/alpha\"]},{\"name\":\"x\",\"paths\":[\"$TMP/empty\"]}]"
printf 'tiny\n' >"$TMP/empty/a.txt"
bad 3 "fewer than one block" \
    --set "data.text.domains=[{\"name\":\"alpha\",\"paths\":[\"$C/alpha\"]},{\"name\":\"x\",\"paths\":[\"$TMP/empty\"]}]"
bad 2 "data.text.block_size: must equal model.gpt.context (32)" --set data.text.block_size=16
bad 2 "needs model.kind 'gpt'" --set model.kind=mlp
for f in "$TMP"/cache/text-*.tok; do truncate -s -9 "$f"; done
bad 3 "is truncated or damaged" 
expect_out "delete it and run again to rebuild it"
for f in "$TMP"/cache/text-*.tok; do rm "$f"; done
expect_rc 0 "$MOE_BIN/moe-train" "$TMP/base.json" -o "$TMP/again.h5" -q --set train.max_steps=2
echo "ok"
