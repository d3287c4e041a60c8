#!/usr/bin/python3
"""compact_run.py SRC DST [--claim-huge] — a small seed for fuzz_run_file from a moe-train run file.

A moe-train run file of a tiny model is still ~250 KB: every metric series is chunked by 1024
values, mostly empty. The copy keeps what the reader looks at (root attributes, /spec, /params
with their attributes, two metric series) and re-chunks the series by 4, so libFuzzer's
mutations land on HDF5 structure rather than on zero padding. Uses h5py (a make deps package).
The copy gets moe-lab's integrity header (a 512-byte user block with size and CRC-32; see
reseal() in tests/bad_input/make_inputs.py), so the reader's default, checked path accepts it.
--claim-huge adds params/claims_huge, a chunked float32 dataset of 2^40 values with no chunk
written (a 16 KB file claiming 4 TB): the reader must refuse it instead of allocating.
"""
import os
import sys

import h5py

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bad_input"))
from make_inputs import HEADER, reseal  # noqa: E402


def main(src, dst, claim_huge=False):
    with h5py.File(src, "r") as f, h5py.File(dst, "w", userblock_size=HEADER) as g:
        for k, v in f.attrs.items():
            g.attrs[k] = v
        f.copy(f["spec"], g, "spec")
        f.copy(f["params"], g, "params")  # contiguous float32 datasets + attr trainable
        for name in ("step", "loss"):
            src_ds = f["metrics/train/" + name]
            g.create_dataset("metrics/train/" + name, data=src_ds[()], chunks=(4,), maxshape=(None,))
        if claim_huge:
            g.create_dataset("params/claims_huge", shape=(2**40,), dtype="f4", chunks=(1024,), maxshape=(None,))
    reseal(dst)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--claim-huge"]
    if len(args) != 2:
        sys.exit("usage: compact_run.py SRC DST [--claim-huge]")
    main(args[0], args[1], claim_huge="--claim-huge" in sys.argv[1:])
