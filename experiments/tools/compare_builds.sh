#!/usr/bin/env bash
# Runs every shipped spec at a reduced size with two builds and compares the run files bitwise:
# every parameter and every metric series but the wall-clock ones (compare_runs.py).
#   experiments/tools/compare_builds.sh OLD_BUILD NEW_BUILD [WORK_DIR]
# Both builds read the specs of this checkout. A spec whose meaning changed between the builds
# gets the overrides that restore the old meaning (NEW_SET / OLD_SET below, with the reason), so
# what is compared is the same computation. Exit 0 when every file is equal.
set -euo pipefail
cd "$(dirname "$0")/../.."
OLD=${1:?usage: compare_builds.sh OLD_BUILD NEW_BUILD [WORK_DIR]}
NEW=${2:?usage: compare_builds.sh OLD_BUILD NEW_BUILD [WORK_DIR]}
WORK=${3:-$(mktemp -d /tmp/moe-compare.XXXXXX)}
THREADS=${THREADS:-1}
mkdir -p "$WORK/old" "$WORK/new"

# Reduced sizes: a few dozen steps on a few thousand samples.
SMALL=(--set data.train_limit=3000 --set data.test_limit=600 --set log.every=5)
MOLE=("${SMALL[@]}" --set train.max_steps=30 --set train.warmup_steps=5)
CL=(--set data.train_limit=1200 --set data.test_limit=300 --set expand.func_epochs=1 --set expand.rd_epochs=2
    --set expand.buffer_size=50)

# Overrides that give a build another build's meaning of a spec, one per line (--set key=value).
#  - DynMoLE's router loss is pooled over the sites by default since the reference computes it
#    over every layer's router outputs at once; loss.lbl_pool = site is the per-site form.
#  - The class order of stream.class_split is numpy's legacy permutation (SEMA's order); the
#    explicit order below is the one moe-lab drew before for order_seed 1993 and 10 classes.
new_set() {
    case "$1" in
    mole_dynmole) printf '%s\n' --set loss.lbl_pool=site ;;
    cl_class_*) printf '%s\n' --set 'stream.class_split.order=[0,7,5,3,4,1,9,6,8,2]' ;;
    cl_domain_vit_*) printf '%s\n' --set 'expand.sites=["blocks.*.mlp.fc1"]' --set 'expand.expandable=["blocks.2.mlp.fc1","blocks.3.mlp.fc1"]' ;;
    esac
}
#  - SEMA's adapters on the ViT sit at the block sites beside each MLP (experiments/cl/domain_vit.json);
#    the placement at the blocks' fc1 Linear is the old one.
old_set() {
    case "$1" in
    mole_dynmole) printf '%s\n' --set loss.lbl_pool=site ;;
    cl_domain_vit_*) printf '%s\n' --set 'expand.sites=["blocks.*.mlp.fc1"]' --set 'expand.expandable=["blocks.2.mlp.fc1","blocks.3.mlp.fc1"]' ;;
    esac
}

# run TOOL NAME SPEC [ARGS...]: the same run with both builds (in parallel, one thread each)
run() {
    local tool=$1 name=$2 spec=$3; shift 3
    local pids=()
    for side in old new; do
        local bin=$OLD; [ "$side" = new ] && bin=$NEW
        local extra=(); if [ "$side" = new ]; then mapfile -t extra < <(new_set "$name"); else mapfile -t extra < <(old_set "$name"); fi
        local args=("$@"); args=("${args[@]//@DIR@/$WORK/$side}")
        "$bin/$tool" "$spec" -o "$WORK/$side/$name.h5" --threads "$THREADS" -q "${args[@]}" "${extra[@]}" \
            > "$WORK/$side/$name.log" 2>&1 &
        pids+=($!)
    done
    local ok=0
    for p in "${pids[@]}"; do wait "$p" || ok=1; done
    if [ $ok != 0 ]; then echo "FAILED: $name (logs in $WORK/{old,new}/$name.log)"; return 1; fi
    echo "ran $name"
}
eval_run() { # eval_run NAME RUN [ARGS...]: moe-eval of a run with both builds
    local name=$1 runf=$2; shift 2
    for side in old new; do
        local bin=$OLD; [ "$side" = new ] && bin=$NEW
        "$bin/moe-eval" "$WORK/$side/$runf.h5" -o "$WORK/$side/$name.h5" --threads "$THREADS" -q "$@" \
            > "$WORK/$side/$name.log" 2>&1 || { echo "FAILED: $name"; return 1; }
    done
    echo "ran $name"
}

run moe-train pretrain_mlp experiments/pretrain_mlp_fmnist.json "${MOLE[@]}"
run moe-train pretrain_vit experiments/pretrain_vit_fmnist.json "${SMALL[@]}" --set train.max_steps=8
run moe-train synthetic_routing experiments/synthetic_routing.json --set train.max_steps=60 --set log.every=5
for spec in experiments/mole/*.json; do
    r=$(basename "$spec" .json)
    run moe-train "mole_$r" "$spec" "${MOLE[@]}" --set base=@DIR@/pretrain_mlp.h5
done
eval_run eval_topk mole_topk
eval_run eval_topk_k1 mole_topk --k 1
eval_run eval_topk_uniform mole_topk --uniform
eval_run eval_topk_ablate mole_topk --ablate
eval_run eval_soft_disable mole_soft --disable 1
eval_run eval_random_fixed mole_random_fixed
eval_run eval_synthetic synthetic_routing
run moe-train cl_base_mlp experiments/cl/base_mlp.json "${MOLE[@]}"
for stream in class domain; do
    for s in sema adapter_per_task single_adapter head_only mole_joint; do
        run moe-expand "cl_${stream}_$s" "experiments/cl/$stream.json" "${CL[@]}" --set expand.strategy=$s \
            --set base=@DIR@/cl_base_mlp.h5
    done
done
for s in sema single_adapter; do
    run moe-expand "cl_domain_vit_$s" experiments/cl/domain_vit.json "${CL[@]}" --set data.train_limit=600 \
        --set expand.strategy=$s --set base=@DIR@/pretrain_vit.h5
done
# changes of the new build on purpose, where no override gives the old meaning back
/usr/bin/python3 experiments/tools/compare_runs.py "$WORK/old" "$WORK/new" \
    --expect "eval_soft_disable.h5=a disabled expert gets no load, affinity or FLOPs under soft routing"
