#!/usr/bin/python3
"""triage.py [--timeout=S] [-FLAG=V...] TARGET ARTIFACT... — replay libFuzzer artifacts and say whose bug each one is.

Each artifact (crash-*, leak-*, timeout-*, oom-*, slow-unit-*) is run once more through the fuzz
target, with the run's -timeout and libFuzzer flags (e.g. -malloc_limit_mb=256). The first stack frame below the sanitizer / libFuzzer / libc / allocator frames decides:

  ours     the frame is in our code (lib/, tests/fuzz/, or the fuzz binary itself), or the
           harness reported a FINDING, or UBSan reported a line of ours — `make fuzz` fails;
  libhdf5  the frame is in libhdf5 (a crash, hang or bad memory access inside the HDF5 C
           library on a corrupt file; reported, not ours to fix);
  gone     the replay no longer fails (e.g. a fork-mode artifact of a job killed from outside).

Prints one line per artifact and, for libhdf5, a signature (the first three HDF5 functions) so
that repeats of one bug are counted once. Exit status 1 when any artifact is `ours`.
"""
import collections
import os
import re
import subprocess
import sys

# frames that say nothing about whose bug it is
SKIP = re.compile(
    r" in (__sanitizer|__asan|__ubsan|__lsan|__interceptor_|__interception|fuzzer::|"
    r"malloc|calloc|realloc|free|operator new|operator delete|posix_memalign|aligned_alloc|"
    r"_*mem(cpy|move|set|cmp)\w*|str\w+|__libc|__GI_|raise|abort|gsignal|"
    r"std::|__gnu_cxx::|__cxa)"
    r"|\(/lib/x86_64-linux-gnu/lib(c|stdc\+\+|gcc_s)\.so|sysdeps/"
    r"|<unknown module>"
)
FRAME = re.compile(r"^\s+#\d+ 0x[0-9a-f]+ (.*)$")


def classify(target, path, timeout, flags):
    env = dict(os.environ)
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    try:
        p = subprocess.run([target, f"-timeout={timeout}", "-rss_limit_mb=2048", *flags, path], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout * 6 + 60)
        out, rc = p.stdout.decode("utf-8", "replace"), p.returncode
    except subprocess.TimeoutExpired as e:
        out, rc = (e.stdout or b"").decode("utf-8", "replace"), -1
    if rc == 0:
        return "gone", "the replay passes", out
    if "FINDING" in out:
        line = next(l for l in out.splitlines() if "FINDING" in l)
        return "ours", line.strip(), out
    m = re.search(r"^(\S+:\d+:\d+): runtime error: (.*)$", out, re.M)
    if m and "/hdf5" not in m.group(1):
        return "ours", f"UBSan {m.group(1)}: {m.group(2)}", out
    frames = [FRAME.match(l).group(1) for l in out.splitlines() if FRAME.match(l)]
    kind = re.search(r"ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): ([^\n(]*)", out)
    what = (kind.group(1) + ": " + kind.group(2).strip()) if kind else f"exit {rc}"
    for fr in frames:
        if SKIP.search(" " + fr):
            continue
        if "libhdf5" in fr:
            # the first three named HDF5 functions (frames without a symbol vary by offset)
            sig = [m.group(1) for m in (re.match(r"in (\S+)", f) for f in frames if "libhdf5" in f) if m][:3]
            # one signature per bug: no addresses, sizes or seconds
            what = re.sub(r"(\s+on (unknown )?address|\s+at pc|: memory ranges)\b.*", "", what)
            what = re.sub(r"\d+", "N", re.sub(r"0x[0-9a-f]+", "N", what))
            return "libhdf5", what + " in " + (" < ".join(sig) or "libhdf5 (no symbol)"), out
        return "ours", what + " at " + fr, out
    return "ours", what + " (no stack frame; look at the log)", out


def main():
    args = sys.argv[1:]
    timeout = 10
    if args and args[0].startswith("--timeout="):
        timeout = int(args.pop(0).split("=", 1)[1])
    flags = []
    while args and args[0].startswith("-"):
        flags.append(args.pop(0))
    if not args:
        sys.exit("usage: triage.py [--timeout=S] [-FLAG=V...] TARGET [ARTIFACT...]")
    target, arts = args[0], args[1:]
    counts = collections.Counter()
    sigs = collections.Counter()
    for a in arts:
        verdict, why, log = classify(target, a, timeout, flags)
        counts[verdict] += 1
        if verdict == "libhdf5":
            sigs[why] += 1
        size = os.path.getsize(a)
        print(f"  {verdict:8s} {os.path.basename(a)} ({size} bytes): {why}")
        if verdict == "ours":
            with open(a + ".log", "w") as f:
                f.write(log)
    if sigs:
        print("  distinct libhdf5 failures:")
        for s, n in sigs.most_common():
            print(f"    {n} x {s}")
    print(f"  triage: {counts['ours']} ours, {counts['libhdf5']} libhdf5, {counts['gone']} not reproducible")
    return 1 if counts["ours"] else 0


if __name__ == "__main__":
    sys.exit(main())
