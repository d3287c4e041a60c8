"""F32 safetensors files as numpy arrays, for the CLI tests' checks (standard library + numpy).

    read(path) -> (metadata dict, {name: array})      write(path, {name: array})
"""
import json
import struct

import numpy as np


def read(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop("__metadata__", {})
    return meta, {k: np.frombuffer(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], "<f4").reshape(v["shape"])
                  for k, v in h.items()}


def write(path, tensors):
    h, off, data = {}, 0, b""
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k], "<f4")
        h[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
        data += a.tobytes()
    j = json.dumps(h).encode()
    j += b" " * (-len(j) % 8)
    open(path, "wb").write(struct.pack("<Q", len(j)) + j + data)
