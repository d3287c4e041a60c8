#!/usr/bin/python3
"""Compression baselines of a text corpus laid out by data/make_corpus.sh (one folder per
domain, one file per document, the document's key = its path relative to the domain folder).

    /usr/bin/python3 data/corpus_baselines.py data/corpus
    /usr/bin/python3 data/corpus_baselines.py data/corpus --train-cap-bytes 5MiB --test-cap-bytes 512KiB

Split: a document is test iff int(sha256(domain + ':' + key)[:8], 16) % 100 < 10, train
otherwise. Documents are taken in key order (ascending byte order of the UTF-8 keys). A cap
keeps the first documents of a split in key order until the cap: whole documents while they
fit, and the first document that does not fit cut at the cap, so a capped split holds exactly
min(cap, split size) bytes. Byte counts are document bytes (no separators).

On the test stream (the test documents joined by one b'\\n'; by nothing with --separator none)
it prints per domain, in bits per byte of that stream:
  unigram  add-one (Laplace) byte unigram fitted on the train documents:
           -sum log2 p(b) / stream length, p(b) = (count(b) + 1) / (train bytes + 256)
  gzip-9   gzip.compress(stream, 9) size * 8 / stream length
  xz-9e    lzma.compress(stream, preset 9 | PRESET_EXTREME) size * 8 / stream length
Standard library only (Debian's python3). --list prints the documents of each split instead.
Exit codes: 2 bad usage, 3 a corpus folder that is missing or has no domains.
"""
import argparse
import gzip
import hashlib
import lzma
import math
import os
import re
import sys

UNITS = {"": 1, "K": 1 << 10, "KiB": 1 << 10, "M": 1 << 20, "MiB": 1 << 20, "G": 1 << 30, "GiB": 1 << 30}


def size_arg(text):
    m = re.fullmatch(r"(\d+)\s*(K|KiB|M|MiB|G|GiB)?", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"expected a byte count such as 524288, 512KiB or 5MiB, got '{text}'")
    return int(m.group(1)) * UNITS[m.group(2) or ""]


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(3)   # moe-lab's exit code of an I/O or bad data problem


def is_test(domain, key):
    return int(hashlib.sha256(f"{domain}:{key}".encode("utf-8", "surrogateescape")).hexdigest()[:8], 16) % 100 < 10


def documents(folder):
    """(key, path) of the regular files under folder (symlinks skipped), in key order."""
    out = []
    for dp, _, fns in os.walk(folder):
        for fn in fns:
            path = os.path.join(dp, fn)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            out.append((os.path.relpath(path, folder).replace(os.sep, "/"), path))
    out.sort(key=lambda kp: kp[0].encode("utf-8", "surrogateescape"))
    return out


def take(docs, cap):
    """The first documents until the cap: [(key, bytes)]; the one that crosses it is cut."""
    out, total = [], 0
    for key, path in docs:
        if cap is not None and total >= cap:
            break
        data = open(path, "rb").read()
        if cap is not None and total + len(data) > cap:
            data = data[: cap - total]
        out.append((key, data))
        total += len(data)
    return out


def unigram_bpb(train, test):
    counts = [1] * 256
    n = 256
    for _, data in train:
        n += len(data)
        for b, c in enumerate(byte_counts(data)):
            counts[b] += c
    bits = 0.0
    for b, c in enumerate(byte_counts(test)):
        if c:
            bits -= c * math.log2(counts[b] / n)
    return bits / len(test)


def byte_counts(data):
    return [data.count(bytes([b])) for b in range(256)]


def fmt(x):
    return f"{x:,d}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", help="corpus folder: one subfolder per domain (data/corpus)")
    ap.add_argument("--train-cap-bytes", type=size_arg, default=None, metavar="N",
                    help="keep the first N bytes of train per domain (whole documents in key order, the last one cut); e.g. 5MiB")
    ap.add_argument("--test-cap-bytes", type=size_arg, default=None, metavar="N",
                    help="the same for test; e.g. 512KiB")
    ap.add_argument("--domains", default=None, help="comma-separated domains (default: every subfolder)")
    ap.add_argument("--separator", choices=("newline", "none"), default="newline",
                    help="what joins the test documents: one b'\\n' (default, as the LM sees them) or nothing")
    ap.add_argument("--list", action="store_true",
                    help="print 'domain<TAB>split<TAB>key<TAB>bytes' for every document kept, no baselines")
    args = ap.parse_args()

    if not os.path.isdir(args.corpus):
        fail(f"corpus_baselines.py: {args.corpus}: expected a corpus folder (one subfolder per domain)")
    if args.domains:
        domains = args.domains.split(",")
        for d in domains:
            if not os.path.isdir(os.path.join(args.corpus, d)):
                fail(f"corpus_baselines.py: {os.path.join(args.corpus, d)}: no such domain folder")
    else:
        domains = sorted(d for d in os.listdir(args.corpus)
                         if os.path.isdir(os.path.join(args.corpus, d)) and not os.path.islink(os.path.join(args.corpus, d)))
    if not domains:
        fail(f"corpus_baselines.py: {args.corpus}: no domain folders")

    sep = b"\n" if args.separator == "newline" else b""
    caps = []
    if args.train_cap_bytes is not None:
        caps.append(f"train capped at {fmt(args.train_cap_bytes)} bytes")
    if args.test_cap_bytes is not None:
        caps.append(f"test capped at {fmt(args.test_cap_bytes)} bytes")
    if not args.list:
        print(f"Corpus {args.corpus}: {', '.join(caps) if caps else 'full domains, uncapped'}; "
              f"bpb on the test split (documents joined by {'one newline' if sep else 'nothing'})\n")
        print("| domain | documents | train / test documents | train bytes | test bytes | unigram bpb | gzip-9 bpb | xz-9e bpb |")
        print("|---|---|---|---|---|---|---|---|")
    for d in domains:
        docs = documents(os.path.join(args.corpus, d))
        train = take([kp for kp in docs if not is_test(d, kp[0])], args.train_cap_bytes)
        test = take([kp for kp in docs if is_test(d, kp[0])], args.test_cap_bytes)
        if args.list:
            for split, part in (("train", train), ("test", test)):
                for key, data in part:
                    print(f"{d}\t{split}\t{key}\t{len(data)}")
            continue
        ntrain, ntest = sum(len(x) for _, x in train), sum(len(x) for _, x in test)
        if test and ntest:
            stream = sep.join(x for _, x in test)
            uni = f"{unigram_bpb(train, stream):.3f}"
            gz = f"{len(gzip.compress(stream, compresslevel=9, mtime=0)) * 8 / len(stream):.3f}"
            xz = f"{len(lzma.compress(stream, preset=9 | lzma.PRESET_EXTREME)) * 8 / len(stream):.3f}"
        else:
            uni = gz = xz = "n/a"
        print(f"| {d} | {fmt(len(train) + len(test))} | {fmt(len(train))} / {fmt(len(test))} | "
              f"{fmt(ntrain)} | {fmt(ntest)} | {uni} | {gz} | {xz} |", flush=True)


if __name__ == "__main__":
    main()
