#!/usr/bin/env bash
# The structure rules, from the sources themselves:
#  - a module includes only modules below it (lib/floors.txt, lowest first): no cycle;
#  - only lib/src/blas includes <cblas.h>, only lib/*/io includes <hdf5.h> (the one HDF5 wrapper);
#  - no source file over 600 lines unless its opening comment says why ("Long: ...");
#  - code and docs cite public sources: no "../shared" paths, no issue numbers.
source "$(dirname "$0")/lib.sh"
"$PYTHON" - "$MOE_SRC" <<'PY' || fail "structure rules"
import os, re, sys
root = sys.argv[1]
floors = [l.strip() for l in open(os.path.join(root, "lib/floors.txt")) if l.strip() and not l.startswith("#")]
rank = {m: i for i, m in enumerate(floors)}
problems = []
def files(*dirs, exts=(".hpp", ".cpp", ".h")):
    for d in dirs:
        for dp, _, fs in os.walk(os.path.join(root, d)):
            for f in fs:
                if f.endswith(exts):
                    yield os.path.join(dp, f)
inc = re.compile(r'#\s*include\s*[<"]([^>"]+)[>"]')
for path in files("lib"):
    rel = os.path.relpath(path, root)
    parts = rel.split(os.sep)
    mod = parts[3] if parts[1] == "include" else parts[2]   # lib/include/moe/<m>/... | lib/src/<m>/...
    if mod not in rank:
        problems.append(f"{rel}: module '{mod}' is not in lib/floors.txt")
        continue
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        m = inc.search(line)
        if not m:
            continue
        target = m.group(1)
        if target.startswith("moe/"):
            dep = target.split("/")[1]
            if dep not in rank:
                problems.append(f"{rel}:{n}: includes {target} of an unknown module")
            elif rank[dep] > rank[mod]:
                problems.append(f"{rel}:{n}: {mod} includes {target}, a module above it ({dep})")
        if target == "cblas.h" and not rel.startswith("lib/src/blas/"):
            problems.append(f"{rel}:{n}: only lib/src/blas includes <cblas.h>")
        if target.startswith("hdf5") and mod != "io":
            problems.append(f"{rel}:{n}: only the io module includes <{target}> (moe/io/h5.hpp is the wrapper)")
for path in files("apps", "experiments", "tests"):
    rel = os.path.relpath(path, root)
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        m = inc.search(line)
        if m and m.group(1) == "cblas.h":
            problems.append(f"{rel}:{n}: only lib/src/blas includes <cblas.h>")
for path in files("lib", "apps", "experiments/bench"):
    rel = os.path.relpath(path, root)
    lines = open(path, encoding="utf-8").read().split("\n")
    head = "\n".join(lines[:12])
    if len(lines) > 600 and "Long:" not in head:
        problems.append(f"{rel}: {len(lines)} lines (over 600) without a 'Long: <reason>' in its opening comment")
cite = re.compile(r"\.\./shared|shared/reference|\bissues? #?\d+\b", re.I)
for path in files("lib", "apps", "tests", "experiments", "docs", exts=(".hpp", ".cpp", ".h", ".py", ".sh", ".md", ".json", ".txt")):
    rel = os.path.relpath(path, root)
    if rel == "tests/cli/test_floors.sh":
        continue
    for n, line in enumerate(open(path, encoding="utf-8", errors="replace"), 1):
        if cite.search(line):
            problems.append(f"{rel}:{n}: cites '{cite.search(line).group(0)}' (cite the public source)")
for readme in ("README.md",):
    for n, line in enumerate(open(os.path.join(root, readme), encoding="utf-8"), 1):
        if cite.search(line):
            problems.append(f"{readme}:{n}: cites '{cite.search(line).group(0)}'")
for p in problems:
    print(p)
print(f"{len(problems)} problems")
sys.exit(1 if problems else 0)
PY
echo "structure rules hold"
