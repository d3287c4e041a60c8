#!/usr/bin/python3
# Regenerates the literals in tests/unit/test_numpy_rng.cpp from the installed numpy (legacy RandomState).
import numpy as np
print("numpy", np.__version__)
for seed, n in [(0, 10), (1, 10), (42, 10), (1993, 10), (2**32 - 1, 10), (1993, 100), (7, 1), (7, 0)]:
    np.random.seed(seed); print(seed, n, ", ".join(map(str, np.random.permutation(n))))
np.random.seed(1993); p = np.random.permutation(1000)
print(1993, 1000, "head", p[:5].tolist(), "tail", p[-5:].tolist(), "sum(i*p[i])", int((np.arange(1000) * p).sum()))
print("raw u32 seed 1993:", np.random.RandomState(1993)._bit_generator.random_raw(3).tolist())
