#!/usr/bin/env python3
"""Generate the bad-input corpus files that cannot be static (tests/bad_input/README in tests/README.md).

  make_inputs.py data DIR      tiny IDX directories (valid, .gz, truncated, mislabelled, ...),
                               HDF5 data files (valid, NaN feature, float labels, ...) and
                               specs too large to commit (deeply nested arrays and objects)
  make_inputs.py runs RUN DIR [REPRO]
                               damaged copies of the valid run file RUN (truncated, corrupt,
                               without its integrity header, edited by h5py; and, resealed with a
                               valid header so that the semantic checks are reached: bad /spec,
                               missing or reshaped or non-finite parameters) and the libhdf5 crash
                               reproducers REPRO/*.h5.gz unpacked
  make_inputs.py hf FIXTURES DIR
                               damaged copies of the Hugging Face checkpoint FIXTURES/bytes_gpt2
                               (config.json + BF16 model.safetensors) in DIR/hf/: safetensors
                               headers and layouts broken one rule at a time, NaN and Inf weights,
                               config.json contradicting the tensors or malformed, tensors missing
                               or extra, a sharded index naming a missing shard; and DIR/hf/lm.json,
                               a LoRA mixture on DIR/text (make_inputs.py data DIR first)
  make_inputs.py checkpoints CKPT STREAM DIR
                               edited and resealed copies of moe-train's checkpoint CKPT and of
                               moe-expand's finished run STREAM (what a resume reads from a
                               checkpoint): every field a resume reads, broken one at a time

Only the standard library is needed for the IDX files; the HDF5 files need h5py and numpy
(when they are missing, the files needing them are simply not written and the runner skips
their cases).
"""
import glob
import gzip
import json
import os
import random
import shutil
import struct
import sys
import zlib

N_TRAIN, N_TEST, H, W = 48, 16, 6, 6


def idx_images(n, h=H, w=W, magic=0x803, seed=1):
    pix = bytes(((i * 37 + seed * 11) % 251) for i in range(n * h * w))
    return struct.pack(">IIII", magic, n, h, w) + pix


def idx_labels(n, magic=0x801):
    return struct.pack(">II", magic, n) + bytes(i % 4 for i in range(n))


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def idx_dir(root, name, train_img=None, train_lbl=None, test_img=None, test_lbl=None, gz=False):
    """A Fashion-MNIST-like directory; None = the valid file, False = no file."""
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    files = {
        "train-images-idx3-ubyte": idx_images(N_TRAIN) if train_img is None else train_img,
        "train-labels-idx1-ubyte": idx_labels(N_TRAIN) if train_lbl is None else train_lbl,
        "t10k-images-idx3-ubyte": idx_images(N_TEST, seed=2) if test_img is None else test_img,
        "t10k-labels-idx1-ubyte": idx_labels(N_TEST) if test_lbl is None else test_lbl,
    }
    for fname, data in files.items():
        if data is False:
            continue
        if gz:
            write(os.path.join(d, fname + ".gz"), gzip.compress(data, mtime=0))
        else:
            write(os.path.join(d, fname), data)
    return d


def make_data(root):
    good_img = idx_images(N_TRAIN)
    idx_dir(root, "idx_ok")
    idx_dir(root, "idx_ok_gz", gz=True)
    idx_dir(root, "idx_missing_labels", train_lbl=False)
    idx_dir(root, "idx_trunc_payload", train_img=good_img[: len(good_img) - 100])
    idx_dir(root, "idx_trunc_header", train_img=good_img[:10])
    idx_dir(root, "idx_tiny", train_img=good_img[:3])
    idx_dir(root, "idx_empty_file", train_img=b"")
    idx_dir(root, "idx_oversized", train_img=good_img + b"\0" * 7)
    # mislabelled: the labels file where the images file should be (and vice versa)
    idx_dir(root, "idx_swapped", train_img=idx_labels(N_TRAIN), train_lbl=good_img)
    idx_dir(root, "idx_count_mismatch", train_lbl=idx_labels(N_TRAIN - 1))
    idx_dir(root, "idx_zero_images", train_img=idx_images(0), train_lbl=idx_labels(0))
    idx_dir(root, "idx_zero_rows", train_img=struct.pack(">IIII", 0x803, N_TRAIN, 0, W))
    idx_dir(root, "idx_huge_dims", train_img=struct.pack(">IIII", 0x803, 0xFFFFFFFF, 0xFFFF, 0xFFFF) + b"\0" * 64)
    # the test split is the broken one
    idx_dir(root, "idx_test_trunc", test_img=idx_images(N_TEST, seed=2)[:40])
    # test images of another geometry than the training images
    idx_dir(root, "idx_test_geometry", test_img=idx_images(N_TEST, h=5, w=5, seed=2))
    # gzip: cut short, and garbage in the middle of the deflate stream
    gz = gzip.compress(good_img, mtime=0)
    d = idx_dir(root, "idx_gz_trunc", gz=True)
    write(os.path.join(d, "train-images-idx3-ubyte.gz"), gz[: len(gz) // 2])
    d = idx_dir(root, "idx_gz_corrupt", gz=True)
    bad = bytearray(gz)
    for i in range(20, min(len(bad) - 8, 60)):
        bad[i] ^= 0x5A
    write(os.path.join(d, "train-images-idx3-ubyte.gz"), bytes(bad))
    # a directory standing where a file should be
    d = idx_dir(root, "idx_dir_as_file", train_img=False)
    os.makedirs(os.path.join(d, "train-images-idx3-ubyte.gz"), exist_ok=True)
    # a FIFO where the images file should be: never opened (a read would block), reported
    d = idx_dir(root, "idx_fifo", train_img=False)
    os.mkfifo(os.path.join(d, "train-images-idx3-ubyte"))
    # no read permission (only effective when not running as root)
    d = idx_dir(root, "idx_unreadable")
    os.chmod(os.path.join(d, "train-images-idx3-ubyte"), 0)
    # a directory without any IDX file
    os.makedirs(os.path.join(root, "empty_dir"), exist_ok=True)
    # data.dir names a regular file
    write(os.path.join(root, "not_a_dir"), b"plain file\n")
    write(os.path.join(root, "not_hdf5.h5"), b"this is not an HDF5 file\n" * 4)
    # hostile specs: 200 KB of nested arrays under one key, and objects nested one a line
    # (the nesting limit is 64 levels; the old duplicate-key bookkeeping was quadratic in the depth)
    write(os.path.join(root, "spec_deep_arrays.json"), b'{"train": ' + b"[" * 100000 + b"]" * 100000 + b"}")
    write(os.path.join(root, "spec_deep_objects.json"), b'{"exp":\n' * 20000 + b"1" + b"}" * 20000)
    make_text(root)

    try:
        import h5py
        import numpy as np
    except ImportError:
        return
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5)).astype(np.float32)
    y = (np.arange(40) % 3).astype(np.int64)

    def h5(name, **dsets):
        with h5py.File(os.path.join(root, name), "w") as f:
            for k, v in dsets.items():
                f[k] = v

    h5("h5_ok.h5", features=x, labels=y)
    xn = x.copy()
    xn[7, 2] = np.nan
    h5("h5_nan.h5", features=xn, labels=y)
    xi = x.copy()
    xi[3, 0] = np.inf
    h5("h5_inf.h5", features=xi, labels=y)
    h5("h5_no_labels.h5", features=x)
    h5("h5_float_labels.h5", features=x, labels=y.astype(np.float32) + 0.5)
    h5("h5_short_labels.h5", features=x, labels=y[:30])
    h5("h5_negative_label.h5", features=x, labels=np.where(np.arange(40) == 5, -1, y))
    h5("h5_huge_task.h5", features=x, labels=y, task=np.where(np.arange(40) == 2, 2**31 - 1, 0).astype(np.int64))
    yu = y.astype(np.uint64)
    yu[1] = np.iinfo(np.uint64).max
    h5("h5_uint64_label.h5", features=x, labels=yu)
    h5("h5_string_features.h5", features=np.array([b"a", b"b"]), labels=y[:2])
    h5("h5_1d_features.h5", features=x[:, 0], labels=y)
    # a data set that declares 1e9 rows (20 GB of float32 features): chunked, with only the first
    # 200 rows written, so the file is a few kilobytes; read only with data.train_limit
    with h5py.File(os.path.join(root, "h5_declared_huge.h5"), "w") as f:
        n = 10**9
        fx = f.create_dataset("features", shape=(n, 5), dtype=np.float32, chunks=(256, 5))
        fy = f.create_dataset("labels", shape=(n,), dtype=np.int32, chunks=(256,))
        fx[:200] = rng.standard_normal((200, 5)).astype(np.float32)
        fy[:200] = np.arange(200) % 3


def make_text(root):
    """A tiny two-domain text corpus, an empty and a too-small domain, and the specs of a tiny GPT
    on it (absolute paths; the token cache goes to text/cache, built by the test's setup)."""
    rnd = random.Random(4)
    t = os.path.join(root, "text")
    for dom, ws in {"alpha": ["the", "cat", "sat", "on", "a", "mat"], "code": ["int", "x", "=", "0;", "{", "}"]}.items():
        for f in range(30):
            write(os.path.join(t, dom, f"doc{f:02d}.txt"), (" ".join(rnd.choice(ws) for _ in range(60)) + "\n").encode())
    write(os.path.join(t, "empty", "a.txt"), b"")
    write(os.path.join(t, "tiny", "a.txt"), b"tiny\n")

    def spec(domains, cache):
        return {"exp": {"name": "tiny_lm", "seed": 1, "threads": 1},
                "data": {"source": "text", "text": {"block_size": 16, "cache_dir": os.path.join(t, cache),
                         "domains": [{"name": d, "paths": [os.path.join(t, d)]} for d in domains]}},
                "model": {"kind": "gpt", "gpt": {"context": 16, "width": 16, "depth": 1, "heads": 2}},
                "train": {"epochs": 0, "max_steps": 3, "batch_size": 4},
                "eval": {"val": False, "test": True, "batch_size": 8}, "log": {"every": 1}}
    write(os.path.join(t, "lm.json"), json.dumps(spec(["alpha", "code"], "cache")).encode())
    # the cache of another corpus (alpha alone), which the setup overwrites with lm.json's
    write(os.path.join(t, "lm_alpha.json"), json.dumps(spec(["alpha"], "cache_swap")).encode())


def st_parse(b):
    """The tensors of safetensors bytes: {name: [dtype, shape, raw]} (the header is trusted)."""
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    h.pop("__metadata__", None)
    data = b[8 + n:]
    return {k: [v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]]] for k, v in h.items()}


def st_bytes(tensors, offsets=None, pad_data=b""):
    """Safetensors bytes of {name: [dtype, shape, raw]}, tensors laid out by name; offsets
    {name: [begin, end]} replaces the computed ones, pad_data is put before the first tensor."""
    hdr, at, data = {"__metadata__": {"format": "pt"}}, len(pad_data), pad_data
    for name in sorted(tensors):
        dtype, shape, raw = tensors[name]
        hdr[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [at, at + len(raw)]}
        at += len(raw)
        data += raw
    for name, off in (offsets or {}).items():
        hdr[name]["data_offsets"] = off
    text = json.dumps(hdr, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def make_hf(fixtures, root):
    """Broken copies of the BF16 GPT-2 checkpoint bytes_gpt2 (V=257, 32 positions, width 16, two
    blocks), one mistake each, in root/hf/<name>/, and root/hf/lm.json, a LoRA mixture whose base
    the cases set."""
    src = os.path.join(fixtures, "bytes_gpt2")
    cfg = json.load(open(os.path.join(src, "config.json")))
    model = open(os.path.join(src, "model.safetensors"), "rb").read()
    hf = os.path.join(root, "hf")

    def ckpt(name, st=model, config=None, config_text=None, files=None):
        d = os.path.join(hf, name)
        if config_text is None:
            config_text = json.dumps(cfg if config is None else config, indent=2).encode()
        write(os.path.join(d, "config.json"), config_text)
        if st is not None:
            write(os.path.join(d, "model.safetensors"), st)
        for f, data in (files or {}).items():
            write(os.path.join(d, f), data)

    def edited(edit):
        t = st_parse(model)
        edit(t)
        return st_bytes(t)

    def cfg_with(**kv):
        c = dict(cfg)
        c.update(kv)
        return c

    def bf16_at(name, index, bits):
        def edit(t):
            raw = bytearray(t[name][2])
            raw[2 * index:2 * index + 2] = struct.pack("<H", bits)
            t[name][2] = bytes(raw)
        return edit

    n = struct.unpack("<Q", model[:8])[0]
    ckpt("ok")
    # the safetensors file itself
    ckpt("header_len_past_end", st=struct.pack("<Q", len(model)) + model[8:])
    ckpt("header_len_huge", st=struct.pack("<Q", 2**40) + model[8:])
    ckpt("truncated", st=model[:len(model) - 100])
    ckpt("truncated_header", st=model[:8 + n // 2])
    t = st_parse(model)
    ckpt("offsets_outside", st=st_bytes(t, {"h.1.mlp.c_proj.bias": [len(model), len(model) + 32]}))
    # two tensors of one size: the second laid over the first (its own bytes then belong to none)
    laid = st_bytes(t)
    offs = json.loads(laid[8:8 + struct.unpack("<Q", laid[:8])[0]])
    ckpt("overlap", st=st_bytes(t, {"h.1.ln_2.bias": offs["h.1.ln_1.bias"]["data_offsets"]}))
    ckpt("hole", st=st_bytes(t, pad_data=b"\0" * 8))
    ckpt("unknown_dtype", st=edited(lambda t: t["h.0.attn.c_proj.weight"].__setitem__(0, "BF17")))
    ckpt("int_dtype", st=edited(lambda t: t["h.0.attn.c_proj.weight"].__setitem__(0, "I16")))
    ckpt("nan_weight", st=edited(bf16_at("h.0.mlp.c_fc.weight", 37, 0x7FC0)))
    ckpt("inf_weight", st=edited(bf16_at("ln_f.weight", 3, 0xFF80)))
    # config.json against the tensors
    ckpt("config_n_embd", config=cfg_with(n_embd=12))
    ckpt("config_n_layer", config=cfg_with(n_layer=3))
    ckpt("shape_mismatch", st=edited(lambda t: t.__setitem__("h.1.mlp.c_fc.bias", ["BF16", [32], t["h.1.mlp.c_fc.bias"][2][:64]])))
    ckpt("missing_tensor", st=edited(lambda t: t.pop("h.1.ln_2.bias")))
    ckpt("extra_tensor", st=edited(lambda t: t.__setitem__("h.0.mlp.c_gate.weight", ["BF16", [16, 64], bytes(2048)])))
    ckpt("config_malformed", config_text=json.dumps(cfg, indent=2).encode()[:-30])
    ckpt("config_not_object", config_text=b"[1, 2, 3]\n")
    ckpt("config_n_head_string", config=cfg_with(n_head="two"))
    ckpt("config_model_type", config=cfg_with(model_type="bert"))
    ckpt("no_weights", st=None)
    # a sharded index: every tensor in shard 1 (a copy of model.safetensors), one name in a shard
    # that is not there
    wm = {k: "model-00001-of-00002.safetensors" for k in st_parse(model)}
    wm["lm_head.weight"] = "model-00002-of-00002.safetensors"
    ckpt("shard_missing", st=None, files={"model-00001-of-00002.safetensors": model,
                                          "model.safetensors.index.json": json.dumps({"metadata": {}, "weight_map": wm}).encode()})
    # the LoRA mixture on the text corpus of make_text (the same token cache as text/lm.json)
    t = os.path.join(root, "text")
    spec = {"exp": {"name": "hf_lm", "seed": 1, "threads": 1}, "base": os.path.join(hf, "ok"),
            "data": {"source": "text", "text": {"block_size": 16, "cache_dir": os.path.join(t, "cache"),
                     "domains": [{"name": d, "paths": [os.path.join(t, d)]} for d in ("alpha", "code")]}},
            "model": {"kind": "gpt"},
            "adapters": {"sites": ["blocks.*.attn.qkv"], "kind": "lora", "experts": 2, "rank": 2, "alpha": 4},
            "routing": {"router": "topk", "k": 1},
            "train": {"epochs": 0, "max_steps": 2, "batch_size": 4},
            "eval": {"val": False, "test": True, "batch_size": 8}, "log": {"every": 1}}
    write(os.path.join(hf, "lm.json"), json.dumps(spec).encode())


HEADER = 512  # moe-lab's integrity header in HDF5's user block (lib/src/io/integrity.cpp)


def reseal(path):
    """Rewrites the integrity header (size, CRC-32 of the bytes after it) of a run file."""
    b = bytearray(open(path, "rb").read())
    text = b"moe-lab run file\nformat 2\nbytes %d\ncrc32 %08x\n" % (len(b), zlib.crc32(b[HEADER:]) & 0xFFFFFFFF)
    b[:HEADER] = text + bytes(HEADER - len(text))
    write(path, bytes(b))


def make_runs(run, root, reproducers=None):
    os.makedirs(root, exist_ok=True)
    data = open(run, "rb").read()
    # a run file without the header (what moe-lab wrote before run-file format 2)
    write(os.path.join(root, "run_no_header.h5"), data[HEADER:])
    # garbage after a valid header: bytes and checksum sealed, so libhdf5 gets to read it
    sealed = os.path.join(root, "run_sealed_garbage.h5")
    write(sealed, data[:HEADER] + data[HEADER:HEADER + 8] + bytes((i * 131 + 7) & 0xFF for i in range(len(data) - HEADER - 8)))
    reseal(sealed)
    # the libhdf5 crash reproducers of tests/fuzz/libhdf5_inputs (run files without the header)
    for gz in sorted(glob.glob(os.path.join(reproducers or "", "*.h5.gz"))) if reproducers else []:
        with gzip.open(gz, "rb") as f:
            write(os.path.join(root, "libhdf5_" + os.path.basename(gz)[:-3]), f.read())
    for frac, name in ((0.5, "run_trunc_half.h5"), (0.9, "run_trunc_tail.h5")):
        write(os.path.join(root, name), data[: int(len(data) * frac)])
    write(os.path.join(root, "run_trunc_sb.h5"), data[:40])  # inside the superblock
    write(os.path.join(root, "run_empty.h5"), b"")
    # garbage over everything after the superblock: metadata and raw data alike
    bad = bytearray(data)
    for i in range(96, len(bad)):
        bad[i] = (i * 131 + 7) & 0xFF
    write(os.path.join(root, "run_corrupt.h5"), bytes(bad))
    try:
        import h5py
        import numpy as np
    except ImportError:
        return

    def variant(name, edit, seal=True):
        p = os.path.join(root, name)
        shutil.copyfile(run, p)
        with h5py.File(p, "r+") as f:
            edit(f)
        if seal:  # as if moe-lab had written these contents: the semantic checks are reached
            reseal(p)

    def bad_spec(f):
        del f["spec"]
        f["spec"] = "{ this is not json"

    def no_param(f):
        del f["params/head.weight"]

    def reshape(f):
        w = f["params/layers.0.weight"][:]
        del f["params/layers.0.weight"]
        f["params/layers.0.weight"] = w[:, :-1]

    def nan_param(f):
        w = f["params/head.bias"]
        v = w[:]
        v[0] = np.nan
        w[...] = v

    def not_a_run(f):
        del f.attrs["format"]

    def bad_format(f):
        f.attrs["format"] = "something-else"

    variant("run_bad_spec.h5", bad_spec)
    variant("run_no_param.h5", no_param)
    variant("run_reshaped.h5", reshape)
    variant("run_nan_param.h5", nan_param)
    variant("run_no_format.h5", not_a_run)
    variant("run_other_format.h5", bad_format)
    def newer_version(f):
        f.attrs["format_version"] = np.int32(99)

    def spec_overflow(f):
        del f["spec"]
        f["spec"] = '{"train": {"lr": 1e400}}'

    def spec_bad_value(f):
        import json
        sp = json.loads(f["spec"].asstr()[()])
        sp["train"]["lr"] = -1
        del f["spec"]
        f["spec"] = json.dumps(sp)

    def expand_tool(f):
        f.attrs["tool"] = "moe-expand"

    def relative_data(f):  # as runs written before moe-train stored paths absolute
        import json
        sp = json.loads(f["spec"].asstr()[()])
        sp["data"]["dir"] = "idx_ok"
        del f["spec"]
        f["spec"] = json.dumps(sp)

    variant("run_format_version99.h5", newer_version)
    variant("run_spec_overflow.h5", spec_overflow)
    variant("run_expand_tool.h5", expand_tool)
    variant("run_spec_bad_value.h5", spec_bad_value)
    variant("run_relative_data.h5", relative_data)
    variant("run_edited.h5", nan_param, seal=False)  # changed by h5py: the checksum no longer matches
    with h5py.File(os.path.join(root, "plain.h5"), "w") as f:
        f["x"] = np.zeros(3)


def make_checkpoints(ckpt, stream, root):
    """Tampered, resealed checkpoints: each breaks one field that a resume reads."""
    try:
        import h5py
        import numpy as np
    except ImportError:
        return
    os.makedirs(root, exist_ok=True)

    def variant(src, name, edit):
        p = os.path.join(root, name)
        shutil.copyfile(src, p)
        with h5py.File(p, "r+") as f:
            edit(f)
        reseal(p)

    def set_item(path, index, value):
        def edit(f):
            v = f[path][...]
            v.flat[index] = value
            f[path][...] = v
        return edit

    def set_attr(obj, name, value):
        def edit(f):
            f[obj].attrs[name] = value
        return edit

    def shorter(path):
        def edit(f):
            v = f[path][...]
            del f[path]
            f.create_dataset(path, data=v[:-1], maxshape=(None,) + v.shape[1:], chunks=True)
        return edit

    def reversed_steps(f):
        v = f["metrics/train/step"][...]
        f["metrics/train/step"][...] = v[::-1]

    def optim_steps_plus_one(f):
        f["optim"].attrs["steps"] = np.int64(int(f["checkpoint"].attrs["step"]) + 1)

    def epoch_minus_one(f):  # (plus one when the interrupt came in the first epoch: -1 is refused sooner)
        e = int(f["checkpoint"].attrs["epoch"])
        f["checkpoint"].attrs["epoch"] = np.int64(e - 1 if e > 0 else e + 1)

    def site(f):
        return "checkpoint/sites/" + sorted(f["checkpoint/sites"])[0]

    def load_negative(f):
        set_item(site(f) + "/load", 0, -3)(f)

    def sums_inf(f):
        set_item(site(f) + "/sums", 1, np.inf)(f)

    def first(f, group):
        return group + "/" + sorted(f[group])[0]

    def v_negative(f):
        set_item(first(f, "optim/v"), 0, -0.5)(f)

    def m_nan(f):
        set_item(first(f, "optim/m"), 0, np.nan)(f)

    variant(ckpt, "ck_window_nan.h5", set_item("checkpoint/window", 0, np.nan))
    variant(ckpt, "ck_window_negative_steps.h5", set_item("checkpoint/window", 3, -1))
    variant(ckpt, "ck_series_short.h5", shorter("metrics/train/loss"))
    variant(ckpt, "ck_series_steps_backwards.h5", reversed_steps)
    variant(ckpt, "ck_v_negative.h5", v_negative)
    variant(ckpt, "ck_m_nan.h5", m_nan)
    variant(ckpt, "ck_step_negative.h5", set_attr("checkpoint", "step", np.int64(-5)))
    variant(ckpt, "ck_seconds_nan.h5", set_attr("checkpoint", "seconds", np.float64(np.nan)))
    variant(ckpt, "ck_optim_steps.h5", optim_steps_plus_one)
    variant(ckpt, "ck_optim_kind.h5", set_attr("optim", "kind", "lion"))
    variant(ckpt, "ck_position.h5", epoch_minus_one)
    variant(ckpt, "ck_load_negative.h5", load_negative)
    variant(ckpt, "ck_sums_inf.h5", sums_inf)

    def sema_adapters(f):
        g = sorted(f["sema"])[0]
        del f["sema/" + g + "/adapters"]
        f["sema/" + g + "/adapters"] = np.float64(1.5)

    def records_inf(f):
        g = sorted(f["sema"])[0]
        set_item("sema/" + g + "/rd0/records", 0, np.inf)(f)

    def params_short(f):
        v = f["stream/params_added_total"][...]
        del f["stream/params_added_total"]
        f["stream/params_added_total"] = v[:-1]

    variant(stream, "ex_accuracy_nan.h5", set_item("stream/accuracy_matrix", 0, np.nan))
    variant(stream, "ex_accuracy_above_one.h5", set_item("stream/task_aware/accuracy_matrix", 1, 7.0))
    variant(stream, "ex_params_short.h5", params_short)
    variant(stream, "ex_adapters_fraction.h5", sema_adapters)
    variant(stream, "ex_records_inf.h5", records_inf)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "data":
        make_data(sys.argv[2])
    elif len(sys.argv) in (4, 5) and sys.argv[1] == "runs":
        make_runs(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) == 5 else None)
    elif len(sys.argv) == 4 and sys.argv[1] == "hf":
        make_hf(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "checkpoints":
        make_checkpoints(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
