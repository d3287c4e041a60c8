#!/usr/bin/env bash
# The bad-input corpus (tests/bad_input/cases.tsv, described in tests/README.md): every malformed
# spec, data file, run file, base checkpoint and output location must exit with its exact code,
# print its message fragments (naming the file or JSON path and what was expected), not be killed
# by a signal, print no sanitizer report, and leave no output file and no temporary file behind.
# Inputs that cannot be static are generated here: tiny IDX files and HDF5 data
# (tests/bad_input/make_inputs.py), a real run trained on them and damaged copies of it, a base
# run with other shapes, a read-only directory and full file systems (small tmpfs mounts).
source "$(dirname "$0")/lib.sh"
CASES=$MOE_SRC/tests/bad_input
GEN=$TMP/gen
RO=$TMP/ro
FULL=$TMP/full
SMALL=$TMP/small
MOUNTS=()
RO_CHATTR=0

cleanup() {
    local m
    for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
    [ "$RO_CHATTR" = 1 ] && chattr -i "$RO" 2>/dev/null
    chmod -R u+rwX "$TMP" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
T0=$(date +%s.%N)

# ---- facilities: a read-only directory, a full file system, a 16 KiB file system
declare -A SKIP
mkdir -p "$RO" "$FULL" "$SMALL"
if mount -t tmpfs -o size=64k,ro tmpfs "$RO" 2>/dev/null; then
    MOUNTS+=("$RO")
elif chattr +i "$RO" 2>/dev/null; then
    RO_CHATTR=1
elif [ "$(id -u)" != 0 ]; then
    chmod 555 "$RO"
fi
if ( : > "$RO/probe" ) 2>/dev/null; then
    rm -f "$RO/probe"
    SKIP[ro]="no read-only directory: cannot mount a read-only tmpfs, chattr +i is not supported and we run as root"
fi
if mount -t tmpfs -o size=64k tmpfs "$FULL" 2>/dev/null; then
    MOUNTS+=("$FULL")
    dd if=/dev/zero of="$FULL/filler" bs=4k 2>/dev/null || true
    if ( printf x > "$FULL/probe" ) 2>/dev/null; then SKIP[full]="could not fill the 64 KiB tmpfs"; fi
    rm -f "$FULL/probe"
else
    SKIP[full]="cannot mount a tmpfs (mount -t tmpfs needs CAP_SYS_ADMIN)"
fi
if mount -t tmpfs -o size=16k tmpfs "$SMALL" 2>/dev/null; then
    MOUNTS+=("$SMALL")
else
    SKIP[small]="cannot mount a tmpfs (mount -t tmpfs needs CAP_SYS_ADMIN)"
fi
have_h5py || SKIP[h5py]="python3 has no h5py: the HDF5 inputs were not generated"
[ "$(id -u)" != 0 ] || SKIP[nonroot]="running as root: file permissions do not stop reads"
[ "${MOE_SANITIZED:-OFF}" != ON ] || SKIP[nosan]="AddressSanitizer build: its shadow memory cannot be mapped under ulimit -v"

# ---- generated inputs: tiny IDX / HDF5 data, a real run, a base of other shapes, damaged copies
"$PYTHON" "$CASES/make_inputs.py" data "$GEN"
mkdir -p "$GEN/runs"
"$MOE_BIN/moe-train" "$CASES/tiny_idx.json" -o "$GEN/runs/ok.h5" -q --set data.dir="$GEN/idx_ok" >"$TMP/out" 2>&1 \
    || { cat "$TMP/out" >&2; fail "cannot train the reference run on the tiny IDX data"; }
"$MOE_BIN/moe-train" "$CASES/tiny_idx.json" -o "$GEN/runs/base_other.h5" -q --set data.dir="$GEN/idx_ok" \
    --set 'model.mlp.hidden=[6]' >"$TMP/out" 2>&1 || { cat "$TMP/out" >&2; fail "cannot train the other-shapes base run"; }
"$PYTHON" "$CASES/make_inputs.py" runs "$GEN/runs/ok.h5" "$GEN/runs" "$MOE_SRC/tests/fuzz/libhdf5_inputs"
# a tiny language model and its token cache; a truncated copy of the cache, and the cache of
# another corpus (alpha alone) holding this corpus's tokens
# a real checkpoint (moe-train interrupted by SIGINT) and a finished stream, tampered and resealed
if have_h5py; then
    CKARGS=(--set data.dir="$GEN/idx_ok" --set base="$GEN/runs/ok.h5" --set train.epochs=100000 --set log.checkpoint_every=2)
    "$MOE_BIN/moe-train" "$CASES/tiny_mole_idx.json" -o "$TMP/ck.h5" -q "${CKARGS[@]}" >"$TMP/out" 2>&1 &
    ckpid=$!
    for _ in $(seq 600); do [ -s "$TMP/ck.h5.ckpt" ] && break; sleep 0.05; done
    kill -INT $ckpid 2>/dev/null
    set +e; wait $ckpid; ckrc=$?; set -e
    [ "$ckrc" = 130 ] && [ -s "$TMP/ck.h5.ckpt" ] || { cat "$TMP/out" >&2; fail "no checkpoint from an interrupted run (exit $ckrc)"; }
    "$MOE_BIN/moe-expand" "$CASES/tiny_stream_idx.json" -o "$TMP/stream.h5" -q --set data.dir="$GEN/idx_ok" \
        --set base="$GEN/runs/ok.h5" >"$TMP/out" 2>&1 || { cat "$TMP/out" >&2; fail "cannot run the reference stream"; }
    "$PYTHON" "$CASES/make_inputs.py" checkpoints "$TMP/ck.h5.ckpt" "$TMP/stream.h5" "$GEN/ck"
    rm -f "$TMP/ck.h5.ckpt" "$TMP/stream.h5"
fi
"$MOE_BIN/moe-train" "$GEN/text/lm.json" -o "$GEN/runs/lm.h5" -q >"$TMP/out" 2>&1 \
    || { cat "$TMP/out" >&2; fail "cannot train the tiny language model"; }
"$MOE_BIN/moe-train" "$GEN/text/lm_alpha.json" -o "$TMP/lm_alpha.h5" -q >"$TMP/out" 2>&1 \
    || { cat "$TMP/out" >&2; fail "cannot build the alpha-only token cache"; }
# broken copies of a Hugging Face checkpoint (BF16 GPT-2) and a LoRA mixture on it (text/cache)
"$PYTHON" "$CASES/make_inputs.py" hf "$MOE_SRC/tests/fixtures/safetensors" "$GEN"
cp -r "$GEN/text/cache" "$GEN/text/cache_trunc"
for f in "$GEN"/text/cache_trunc/*.tok; do truncate -s -9 "$f"; done
for f in "$GEN"/text/cache_swap/*.tok; do cp "$GEN"/text/cache/*.tok "$f"; done
# outputs that must not be written over: a FIFO, a symbolic link, inputs (spec, CSV data)
mkfifo "$GEN/fifo"
ln -s runs/ok.h5 "$GEN/link.h5"
ln -s nowhere "$GEN/ck.h5.ckpt"   # a dangling link where a checkpoint would go
cp "$CASES/tiny_idx.json" "$GEN/spec.json"
cp "$CASES/csv_ok.csv" "$GEN/train.csv"
SUMS_BEFORE=$(cd "$GEN" && md5sum spec.json train.csv runs/ok.h5 idx_ok/*)

# Checks below avoid forks (bash globs and pattern matching): the machine may be busy.
shopt -s nullglob dotglob globstar
# Everything outside the case's working directory must stay as it is (no file appears or goes).
snapshot() { local f=("$GEN"/** "$RO"/** "$FULL"/** "$SMALL"/**); SNAP="${f[*]}"; }
snapshot
BEFORE=$SNAP
# The source tree must not change either (a case must not write beside its inputs).
SRC_BEFORE=$(ls -la "$CASES")
W=$TMP/work  # the working directory of every case, empty before and (exit != 0) after it
OUT=$W/out.h5
mkdir -p "$W"

pass=0 failed=0 skipped=0
SEP=' ;; '
while IFS=$'\t' read -r name needs want frags cmd; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    # (tabs are IFS whitespace: an empty column would shift the others, so none may be empty)
    [[ "$want" =~ ^[0-9]+$ && -n "$frags" && -n "$cmd" ]] || fail "cases.tsv: malformed line for case '$name'"
    if [ "$needs" != "-" ] && [ -n "${SKIP[$needs]:-}" ]; then
        echo "skipped: $name: ${SKIP[$needs]}"
        skipped=$((skipped + 1))
        continue
    fi
    eval "args=( $cmd )"
    out_arg="" out_existed=0
    for i in "${!args[@]}"; do
        case "${args[$i]}" in
            moe-train | moe-eval | moe-expand) args[i]=$MOE_BIN/${args[$i]} ;;
            -o | --out | --csv) out_arg=${args[$((i + 1))]:-} ;;
        esac
    done
    [ -n "$out_arg" ] && [ -e "$out_arg" ] && out_existed=1
    set +e
    (cd "$W" && exec timeout -k 5 120 "${args[@]}") >"$TMP/out" 2>&1 </dev/null
    rc=$?
    set -e
    mapfile -t lines <"$TMP/out"
    printf -v text '%s\n' "${lines[@]}"
    problems=()
    if [ "$rc" != "$want" ]; then
        if [ "$rc" = 124 ]; then problems+=("timed out")
        elif [ "$rc" -gt 128 ]; then problems+=("killed by signal $((rc - 128))")
        fi
        problems+=("exit $rc, expected $want")
    fi
    rest=$frags
    while [ -n "$rest" ]; do
        frag=${rest%%"$SEP"*}
        [ "$frag" = "$rest" ] && rest="" || rest=${rest#*"$SEP"}
        for v in CASES GEN OUT RO FULL SMALL W; do frag=${frag//"\$$v"/${!v}}; done
        [[ "$text" == *"$frag"* ]] || problems+=("output lacks: $frag")
    done
    for bad in AddressSanitizer LeakSanitizer "runtime error:" "internal error"; do
        [[ "$text" == *"$bad"* ]] && problems+=("output has '$bad'")
    done
    if [ "$want" = 0 ]; then
        [ -n "$out_arg" ] && [ ! -s "$out_arg" ] && problems+=("no output file $out_arg")
        rm -rf "$W" && mkdir "$W"
    else
        [ -n "$out_arg" ] && [ "$out_existed" = 0 ] && [ -e "$out_arg" ] && problems+=("output file left behind: $out_arg")
        left=("$W"/*)
        [ ${#left[@]} = 0 ] || { problems+=("files left in the working directory: ${left[*]}"); rm -rf "$W" && mkdir "$W"; }
    fi
    tmps=("$TMP"/**/*.tmp-*)
    [ ${#tmps[@]} = 0 ] || { problems+=("temporary files left behind: ${tmps[*]}"); rm -f "${tmps[@]}"; }
    snapshot
    [ "$SNAP" = "$BEFORE" ] || { problems+=("files appeared or went in the generated inputs or test mounts"); BEFORE=$SNAP; }
    first=""
    for l in "${lines[@]}"; do [[ "$l" == error:* ]] && { first=${l:0:140}; break; }; done
    if [ ${#problems[@]} -eq 0 ]; then
        printf 'ok      %-34s exit %s  %s\n' "$name" "$rc" "$first"
        pass=$((pass + 1))
    else
        printf 'FAIL    %-34s %s\n' "$name" "$(IFS='; '; echo "${problems[*]}")"
        printf '        | %s\n' "${lines[@]:0:20}"
        failed=$((failed + 1))
    fi
done <"$CASES/cases.tsv"

[ "$(ls -la "$CASES")" = "$SRC_BEFORE" ] || { failed=$((failed + 1)); echo "FAIL    files appeared in $CASES"; }
[ -p "$GEN/fifo" ] && [ -L "$GEN/link.h5" ] && [ -L "$GEN/ck.h5.ckpt" ] || { failed=$((failed + 1)); echo "FAIL    the FIFO or the symbolic link was replaced"; }
[ "$(cd "$GEN" && md5sum spec.json train.csv runs/ok.h5 idx_ok/*)" = "$SUMS_BEFORE" ] \
    || { failed=$((failed + 1)); echo "FAIL    an input (spec, CSV data or the reference run) was written over"; }
T1=$(date +%s.%N)
echo "bad-input corpus: $pass passed, $failed failed, $skipped skipped ($(awk "BEGIN{printf \"%.1f\", $T1 - $T0}") s)"
[ "$failed" = 0 ]
