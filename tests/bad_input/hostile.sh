#!/usr/bin/env bash
# Hostile surroundings for one command of the bad-input corpus (cases.tsv): what others may have
# put beside an output, or do at the same time. Each mode records the MD5 sums of the files it
# plants links to (or copies), runs CMD, checks that every one of them is byte-identical after
# it, removes what it planted, and exits with CMD's exit code (99: a file changed; 98, 97: the
# setup failed). CMD's words moe-train, moe-eval, moe-expand are the built binaries (the runner
# replaces them).
#
#   hostile.sh links OUT SYM HARD -- CMD...   a symbolic link to SYM at OUT.tmp-PID and a hard link
#                                             to HARD at OUT.ckpt.tmp-PID, the names older versions
#                                             opened with O_TRUNC (PID: CMD's own, as it is exec'd)
#   hostile.sh hardlink FILE OUT -- CMD...    OUT is a hard link to FILE (removed after CMD unless
#                                             CMD replaced it)
#   hostile.sh checkpoint FILE OUT -- CMD...  a copy of FILE at OUT.ckpt: an unfinished run's
#   hostile.sh second OUT -- CMD...           CMD writes OUT in the background; once it holds OUT's
#                                             lock it is stopped (SIGSTOP) and CMD runs again: that
#                                             second run's exit code and output are this script's;
#                                             the first must then finish (exit 0, OUT written),
#                                             and its PID must be the one the second named
#   hostile.sh fsize KIB -- CMD...            CMD under ulimit -f KIB (its output through a pipe)
set -u
mode=$1
shift
sums() { md5sum "$@" 2>/dev/null; }
case "$mode" in
links)
    out=$1 sym=$2 hard=$3
    shift 4
    before=$(sums "$sym" "$hard")
    (ln -s "$sym" "$out.tmp-$BASHPID" && ln "$hard" "$out.ckpt.tmp-$BASHPID" && exec "$@")
    rc=$?
    planted=("$out".tmp-* "$out".ckpt.tmp-*)
    [ -L "${planted[0]}" ] && [ -f "${planted[1]}" ] || { echo "hostile.sh: the planted links went"; rc=99; }
    rm -f "${planted[@]}"
    ;;
hardlink)
    file=$1 out=$2
    shift 3
    sym=$file hard=$file
    before=$(sums "$sym" "$hard")
    ln "$file" "$out" || exit 98
    "$@"
    rc=$?
    [ "$out" -ef "$file" ] && rm -f "$out" # still the link (refused); else the new output stays
    ;;
checkpoint)
    file=$1 out=$2
    shift 3
    sym=$file hard=$file
    before=$(sums "$sym" "$hard")
    cp "$file" "$out.ckpt" || exit 98
    "$@"
    rc=$?
    cmp -s "$file" "$out.ckpt" || { echo "hostile.sh: $out.ckpt changed"; rc=99; }
    rm -f "$out.ckpt"
    ;;
second)
    out=$1
    shift 2
    for attempt in 1 2 3; do # a loaded machine may let the first writer finish before it is caught
        rm -f "$out"
        "$@" >/dev/null 2>&1 &
        first=$!
        end=$((SECONDS + 100))
        # the holder's PID is in the lock file once the lock is taken
        until [ -s "$out.lock" ] || ! kill -0 $first 2>/dev/null || [ $SECONDS -ge $end ]; do sleep 0.005; done
        kill -STOP $first 2>/dev/null && [ -s "$out.lock" ] && break
        kill -CONT $first 2>/dev/null
        wait $first
        [ $attempt = 3 ] && { echo "hostile.sh: the first writer ended three times before it was caught"; exit 98; }
    done
    "$@" >"$out.second" 2>&1
    rc=$?
    cat "$out.second"
    grep -q "(PID $first)" "$out.second" || { echo "hostile.sh: the second writer did not name PID $first"; rc=99; }
    rm -f "$out.second"
    kill -CONT $first
    wait $first || { echo "hostile.sh: the first writer failed"; rc=97; }
    [ -s "$out" ] && [ ! -e "$out.lock" ] || { echo "hostile.sh: the first writer left no output, or its lock file"; rc=97; }
    rm -f "$out"
    exit $rc
    ;;
fsize)
    kib=$1
    shift 2
    # through a pipe: the limit applies to every regular file CMD writes, its captured output too
    (ulimit -f "$kib" && exec "$@") 2>&1 | cat
    exit "${PIPESTATUS[0]}"
    ;;
*)
    echo "hostile.sh: unknown mode $mode" >&2
    exit 98
    ;;
esac
after=$(sums "$sym" "$hard")
[ "$after" = "$before" ] || { echo "hostile.sh: a file was written through a planted link: $before -> $after"; rc=99; }
exit $rc
