#!/usr/bin/env bash
# The memory guard (docs/memory.md): for every class of shipped spec (a pre-training MLP, an MLP
# MoLE on that base, a ViT, the language model, a moe-expand stream) on tiny inputs, the estimate
# --estimate-memory prints against the peak RSS of the same run (GNU time's %M), within a factor
# of 1.5 either way; then a run the estimate refuses (exit 2, the keys named), and a refusal under
# a low ulimit -v that names the limit, without hanging.
source "$(dirname "$0")/lib.sh"
TIME=/usr/bin/time
[ -x "$TIME" ] || fail "GNU time is not installed (Debian package time, in the Makefile's DEB_PKGS)"
FM=${MOE_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
[ -d "$FM" ] || { echo "SKIP: no Fashion-MNIST in $FM"; exit 0; }
GEN=$TMP/gen
"$PYTHON" "$MOE_SRC/tests/bad_input/make_inputs.py" data "$GEN" >/dev/null
EXP=$MOE_SRC/experiments
SMALL_FM=(--set data.train_limit=2000 --set data.test_limit=500 --set train.max_steps=8 --set train.epochs=1)

# measure NAME BIN ARGS...: --estimate-memory, then the run itself under GNU time
measure() {
    local name=$1 bin=$2; shift 2
    expect_rc 0 "$bin" "$@" --estimate-memory
    local est
    est=$(sed -n 's/^  total .*(\([0-9]*\) bytes)$/\1/p' "$TMP/out")
    [ -n "$est" ] || { cat "$TMP/out" >&2; fail "$name: no total in the --estimate-memory output"; }
    expect_rc 0 "$TIME" -f %M -o "$TMP/rss" "$bin" "$@" -q
    local rss_kb
    rss_kb=$(tail -n 1 "$TMP/rss")
    "$PYTHON" - "$name" "$est" "$rss_kb" <<'PY'
import sys
name, est, rss = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) * 1024
r = est / rss
print(f"{name:10s} estimate {est / 2**20:8.1f} MiB   peak RSS {rss / 2**20:8.1f} MiB   estimate/RSS {r:.2f}")
sys.exit(0 if 1 / 1.5 <= r <= 1.5 else 1)
PY
    [ $? = 0 ] || fail "$name: the estimate is more than a factor 1.5 from the peak RSS"
}

# AddressSanitizer's shadow memory and quarantine add hundreds of MiB of RSS the estimate does not
#  model, and it cannot start under a low ulimit -v: that build checks the refusals only
SAN=0
[ "${MOE_SANITIZED:-OFF}" != ON ] || { SAN=1; echo "AddressSanitizer build: estimate/RSS and ulimit -v checks skipped"; }
[ $SAN = 1 ] || {
measure mlp "$MOE_BIN/moe-train" "$EXP/pretrain_mlp_fmnist.json" -o "$TMP/mlp.h5" "${SMALL_FM[@]}" \
    --set 'model.mlp.hidden=[256,256]'
measure mole "$MOE_BIN/moe-train" "$EXP/mole/topk.json" -o "$TMP/mole.h5" "${SMALL_FM[@]}" \
    --set base="$TMP/mlp.h5" --set 'model.mlp.hidden=[256,256]'
measure vit "$MOE_BIN/moe-train" "$EXP/pretrain_vit_fmnist.json" -o "$TMP/vit.h5" "${SMALL_FM[@]}" \
    --set train.max_steps=2 --set eval.batch_size=100 --set data.test_limit=100
measure gpt "$MOE_BIN/moe-train" "$GEN/text/lm.json" -o "$TMP/lm.h5"
sed "s|BASE_RUN|$TMP/tiny_base.h5|" "$MOE_SRC/tests/fixtures/tiny_stream.json" >"$TMP/stream.json"
expect_rc 0 "$MOE_BIN/moe-train" "$MOE_SRC/tests/fixtures/tiny_mlp.json" -o "$TMP/tiny_base.h5" -q
measure expand "$MOE_BIN/moe-expand" "$TMP/stream.json" -o "$TMP/stream.h5"
}

# refused before allocating: an absurd width (exit 2, the keys that size it, largest first)
expect_rc 2 "$MOE_BIN/moe-train" "$EXP/pretrain_mlp_fmnist.json" -o "$TMP/big.h5" "${SMALL_FM[@]}" \
    --set 'model.mlp.hidden=[1000000,1000000]'
expect_out "error: memory: the run needs about"
expect_out "by part: optimizer"
expect_out "model.mlp.hidden"
[ ! -e "$TMP/big.h5" ] || fail "a refused run left its output"
# --estimate-memory says it does not fit, and exits 0 without training
expect_rc 0 "$MOE_BIN/moe-train" "$EXP/pretrain_mlp_fmnist.json" --set 'model.mlp.hidden=[1000000,1000000]' --estimate-memory
expect_out "^fits: no"
[ $SAN = 1 ] && { echo "ok: refusals named"; exit 0; }
# under a low address-space limit: refused at once, naming the limit
expect_rc 2 timeout 20 bash -c "ulimit -v 300000; exec \"\$@\"" _ "$MOE_BIN/moe-train" \
    "$MOE_SRC/tests/fixtures/tiny_mlp.json" -o "$TMP/low.h5"
expect_out "ulimit -v"
echo "ok: memory estimates within a factor 1.5 of the peak RSS; refusals named"
