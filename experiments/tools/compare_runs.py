#!/usr/bin/env python3
"""Compare the run files of two directories bitwise, dataset by dataset.

    compare_runs.py OLD_DIR NEW_DIR [--expect FILE=REASON ...]

Every dataset of every OLD_DIR/*.h5 must exist in the NEW_DIR file of the same name with the same
dtype, shape and bytes (NaN equals NaN: bytes are compared). Skipped: the wall-clock series
(ms_per_step, samples_per_s) and /spec (it names each side's own files and gains the keys a new
build adds); attributes are not compared (they hold times, versions and hosts). A step or
whole-epoch series stored as float64 on one side and int64 on the other with the same values
is equal (moe-lab writes them as integers now).
Prints one line per file and exits 1 when anything differs, but for the files named with
--expect (a change the new build makes on purpose; the reason is printed).
"""
import os
import sys

import h5py
import numpy as np

SKIP = ("ms_per_step", "samples_per_s")


def datasets(f):
    out = {}
    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and name != "spec" and not name.endswith(SKIP):
            out[name] = obj
    f.visititems(visit)
    return out


def retyped(name, x, y):
    """The step and whole-epoch series moe-lab writes as int64 since it stopped writing them as
    float64 (metrics/*/step, metrics/eval/<split>/epoch, routing/<site>/step): the same values in
    the other type are equal."""
    leaf = name.split("/")[-1]
    if leaf not in ("step", "epoch") or name == "metrics/train/epoch" or x.shape != y.shape:
        return False
    kinds = {x.dtype.kind, y.dtype.kind}
    return kinds == {"f", "i"} and np.array_equal(x.astype(np.float64), y.astype(np.float64))


def main():
    args = sys.argv[1:]
    expect = {}
    while "--expect" in args:
        i = args.index("--expect")
        name, reason = args[i + 1].split("=", 1)
        expect[name] = reason
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    a_dir, b_dir = args
    files = sorted(n for n in os.listdir(a_dir) if n.endswith(".h5"))
    bad = 0
    for name in files:
        pa, pb = os.path.join(a_dir, name), os.path.join(b_dir, name)
        if not os.path.exists(pb):
            print(f"{name:40s} MISSING in {b_dir}")
            bad += 1
            continue
        with h5py.File(pa, "r") as fa, h5py.File(pb, "r") as fb:
            da, db = datasets(fa), datasets(fb)
            diffs, notes = [], []
            for k in sorted(set(da) | set(db)):
                if k not in da or k not in db:
                    diffs.append(f"{k}: only in {'old' if k in da else 'new'}")
                    continue
                x, y = da[k][()], db[k][()]
                xa, ya = np.asarray(x), np.asarray(y)
                if retyped(k, xa, ya):
                    notes.append(f"{k}: {xa.dtype} -> {ya.dtype}, the same values")
                elif xa.dtype != ya.dtype or xa.shape != ya.shape or xa.tobytes() != ya.tobytes():
                    diffs.append(f"{k}: {xa.dtype}{xa.shape} vs {ya.dtype}{ya.shape}")
            n = len(set(da) | set(db))
            if diffs and name in expect:
                print(f"{name:40s} differs as expected in {len(diffs)} of {n} datasets ({expect[name]}): " +
                      "; ".join(d.split(":")[0] for d in diffs[:4]) + (" ..." if len(diffs) > 4 else ""))
            elif diffs:
                bad += 1
                print(f"{name:40s} DIFFERENT in {len(diffs)} of {n} datasets: " + "; ".join(diffs[:4]) +
                      (" ..." if len(diffs) > 4 else ""))
            else:
                print(f"{name:40s} equal ({n} datasets)" + (f"; {len(notes)} step/epoch series now int64" if notes else ""))
    print(f"{len(files) - bad} of {len(files)} run files bitwise equal or differing only as expected")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
