#!/usr/bin/env bash
# moe-sweep run under GNU parallel: a sweep file of 8 tiny runs (a grid x seeds) completes; a
# run killed with SIGKILL after its first checkpoint fails the sweep (collect lists it as
# missing, exit 3), and --resume runs only that one, from its checkpoint. Also: --dry-run, a bad
# sweep file (exit 2, every problem with its JSON path) and a bad --set key refused before
# anything runs.
source "$(dirname "$0")/lib.sh"
command -v parallel >/dev/null || { echo "SKIP: GNU parallel is not installed (apt-get install parallel, or make deps)"; exit 0; }
SWEEP="$MOE_BIN/moe-sweep"
# sweep_file OUT_DIR: 2 learning rates x 2 widths x 2 seeds of the tiny MLP
sweep_file() {
    cat <<JSON
{ "version": 1, "name": "tiny", "spec": "$MOE_SRC/tests/fixtures/tiny_mlp.json", "out_dir": "$1",
  "set":  { "train.epochs": 6, "log.checkpoint_every": 5, "log.progress": "lines" },
  "grid": { "train.lr": [0.003, 0.001], "model.mlp.hidden": [[16], [32]] },
  "seeds": [1, 2] }
JSON
}
sweep_file "$TMP/runs" >"$TMP/sweep.json"

# the run list, without running anything
expect_rc 0 "$SWEEP" run "$TMP/sweep.json" --dry-run
[ "$(grep -c moe-train "$TMP/out")" = 8 ] || { cat "$TMP/out"; fail "--dry-run lists 8 runs"; }
expect_out "lr0.003_hidden16_s1.h5"
expect_out "'--set' 'exp.seed=2'"
[ ! -e "$TMP/runs" ] || fail "--dry-run writes nothing"

# a bad sweep file: every problem with its JSON path, exit 2
echo '{"spec": "x.json", "out_dir": "o", "grid": {"train.lr": []}, "seed": [1]}' >"$TMP/bad.json"
expect_rc 2 "$SWEEP" run "$TMP/bad.json"
expect_out "grid.train.lr: must be a non-empty list"
expect_out "seed: unknown key"
# a --set key the spec does not have: refused before any run starts
sed 's/"train.lr"/"train.lrr"/' "$TMP/sweep.json" >"$TMP/badkey.json"
expect_rc 2 "$SWEEP" run "$TMP/badkey.json"
expect_out "train.lrr"
[ ! -e "$TMP/runs" ] || fail "a refused sweep runs nothing"

# the sweep files of experiments/ expand and pass the spec checks (their bases stand in as empty
# files: a sweep needs its base before it runs)
mkdir -p "$TMP/repo/runs/lm"
ln -s "$MOE_SRC/experiments" "$TMP/repo/experiments"
touch "$TMP"/repo/runs/{pretrain_mlp_fmnist,cl_base_mlp,cl_base_vit}.h5 "$TMP/repo/runs/lm/base3.h5"
for f in mole/sweep.json:12 lm/sweep_adapt.json:12 lm/sweep_demons.json:6 cl/sweep.json:15; do
    (cd "$TMP/repo" && expect_rc 0 "$SWEEP" run "experiments/${f%:*}" --dry-run)
    [ "$(grep -c "^'$MOE_BIN/moe-" "$TMP/out")" = "${f#*:}" ] || { cat "$TMP/out"; fail "experiments/${f%:*}: ${f#*:} runs"; }
done

# the sweep, with the first run killed (kill -9) once its first checkpoint exists; a run that
# finishes before the signal lands (a loaded machine) means starting over, up to three times
first="$TMP/runs/lr0.003_hidden16_s1.h5"
for attempt in 1 2 3; do
    rm -rf "$TMP/runs"
    start=$SECONDS
    "$SWEEP" run "$TMP/sweep.json" --jobs 2 --threads 1 >"$TMP/run1.out" 2>&1 &
    pid=$!
    end=$((SECONDS + 100))
    while [ ! -e "$first.ckpt" ] && [ ! -e "$first" ] && [ $SECONDS -lt $end ]; do sleep 0.01; done
    victim=$(cat "$first.lock" 2>/dev/null || true)
    [ -n "$victim" ] && [ ! -e "$first" ] && kill -9 "$victim" 2>/dev/null || true
    set +e; wait $pid; rc=$?; set -e
    [ -e "$first" ] || break
    echo "note: the run finished before the signal reached it (attempt $attempt)"
    [ $attempt = 3 ] && fail "the run finished before the signal reached it, three times"
done
echo "sweep with one run killed: $((SECONDS - start)) s, exit $rc"
[ "$rc" = 3 ] || { cat "$TMP/run1.out"; fail "a sweep with a killed run exits 3, got $rc"; }
grep -q "failed: lr0.003_hidden16_s1: killed by signal 9" "$TMP/run1.out" || { cat "$TMP/run1.out"; fail "the killed run is named"; }
[ -e "$first.ckpt" ] || fail "the killed run left its checkpoint"
[ "$(ls "$TMP"/runs/*.h5 | wc -l)" = 7 ] || fail "the 7 other runs finished: $(ls "$TMP/runs")"
# collect: the table of the 7, the missing one listed, exit 3
expect_rc 3 "$SWEEP" collect "$TMP/sweep.json"
expect_out "missing: lr0.003_hidden16_s1 (.*: unfinished, a checkpoint)"
expect_out "lr0.001_hidden32_s2.h5"
# a second run without --resume is refused (the joblog says it ran)
expect_rc 2 "$SWEEP" run "$TMP/sweep.json"
expect_out "resume"
# --resume: only the killed run, continued from its checkpoint; the others untouched
before=$(stat -c '%n %Y' "$TMP"/runs/*.h5 | sort)
start=$SECONDS
expect_rc 0 "$SWEEP" run "$TMP/sweep.json" --jobs 2 --resume
echo "resume: $((SECONDS - start)) s"
expect_out "8 of 8 runs finished"
[ "$(tail -n +2 "$TMP/runs/tiny.joblog" | wc -l)" = 9 ] || { cat "$TMP/runs/tiny.joblog"; fail "the joblog has 8 + 1 jobs"; }
[ "$(stat -c '%n %Y' "$TMP"/runs/*.h5 | grep -v '/lr0.003_hidden16_s1.h5' | sort)" = "$(echo "$before")" ] ||
    fail "--resume touched a finished run"
grep -q -- "'--resume'" "${first%.h5}.log" || {
    cat "${first%.h5}.log"; fail "the killed run continued with --resume"; }
[ -e "$first" ] && [ ! -e "$first.ckpt" ] || fail "the resumed run finished"
expect_rc 0 "$SWEEP" collect "$TMP/sweep.json" --csv "$TMP/table.csv"
[ "$(wc -l <"$TMP/table.csv")" = 9 ] || { cat "$TMP/table.csv"; fail "the table has 8 rows"; }
echo "1 passed"
