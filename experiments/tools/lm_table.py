#!/usr/bin/env python3
"""Tabulate language-model runs: test bits per byte (pooled over the domains, the mean of the
domains, and per domain), the trained parameters, and for adapted runs the expert-load balance
(coefficient of variation of the last training log window's load, mean over sites), the
domain-expert NMI over the final test evaluation's tokens (mean over sites), experts per token and
adapter FLOPs relative to running every expert densely.

usage: lm_table.py [--base EVAL.h5] [--by spec.key] RUN.h5 [RUN.h5 ...]   (Markdown on stdout)
  --base EVAL.h5   a moe-eval file of the base on the same domains, as the first row
  --by KEY         group the runs by a spec key (e.g. loss.lbl_scope): mean and sample standard
                   deviation over each group (seeds)
Needs h5py (Debian: /usr/bin/python3 with python3-h5py).
"""
import argparse
import json
import sys

import h5py
import numpy as np


def spec_value(spec, key):
    v = spec
    for part in key.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    return v


def run_row(path):
    with h5py.File(path, "r") as f:
        spec = json.loads(f["spec"].asstr()[()])
        m = f["metrics"].attrs
        domains = [d["name"] for d in spec["data"]["text"]["domains"]]
        row = {
            "run": spec["exp"]["name"], "spec": spec,
            "router": spec["routing"]["router"] if spec["adapters"]["sites"] else "(base)",
            "bpb": float(m["final/test/bpb"]), "bpb_mean": float(m["final/test/bpb_mean"]),
            "domains": {d: float(m[f"final/test/{d}/bpb"]) for d in domains},
            "trained": int(sum(np.prod(ds.shape) for ds in f["params"].values() if ds.attrs.get("trainable", 0))),
            "seconds": float(m["seconds"]),
        }
        cvs, nmis, flops, active = [], [], [], []
        for site in f["routing"].keys() if "routing" in f else []:
            g = f["routing"][site]
            load = g["load"][-1]
            mean = load.mean()
            cvs.append(float(load.std() / mean) if mean > 0 else 0.0)
            flops.append(float(g["flops_ratio"][-1]))
            active.append(float(g["active"][-1]))
            # (a router that mixes every expert for a task, e.g. task = Poly, selects none: its
            #  token counts are all zero and the NMI is left out, not shown as 0)
            aff = f.get(f"affinity/test/{site}")
            if aff is not None and np.asarray(aff).sum() > 0:
                nmis.append(float(aff.attrs["nmi"]))
        nan = float("nan")
        row.update(cv=np.mean(cvs) if cvs else nan, nmi=np.mean(nmis) if nmis else nan,
                   flops=np.mean(flops) if flops else nan, active=np.mean(active) if active else nan)
        return row


def base_row(path):
    with h5py.File(path, "r") as f:
        e = f["eval"]
        names = e.attrs["tasks"].split(",")
        bpb = e["task_bpb"][:]
        nan = float("nan")
        return {"run": "base (" + str(f.attrs["run"]) + ")", "router": "-", "bpb": float(e.attrs["bpb"]),
                "bpb_mean": float(e.attrs["bpb_mean"]), "domains": dict(zip(names, map(float, bpb))),
                "trained": 0, "cv": nan, "nmi": nan, "flops": nan, "active": nan}


def fmt(v, d=3):
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{d}f}"


def per_run(rows):
    names = list(rows[-1]["domains"].keys())
    head = ["run", "router", "trained params", "test bpb", "mean of domains"] + names + [
        "load CV", "domain-expert NMI", "experts/token", "adapter FLOPs vs dense"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        cells = [r["run"], r["router"], f'{r["trained"]:,}' if r["trained"] else "-", fmt(r["bpb"]), fmt(r["bpb_mean"])]
        cells += [fmt(r["domains"].get(d, float("nan"))) for d in names]
        cells += [fmt(r["cv"]), fmt(r["nmi"]), fmt(r["active"], 2), fmt(r["flops"])]
        print("| " + " | ".join(cells) + " |")


def grouped(rows, key):
    groups = {}
    for r in rows:
        groups.setdefault(json.dumps(spec_value(r["spec"], key)), []).append(r)
    names = list(rows[0]["domains"].keys())
    head = [key, "runs", "test bpb", "mean of domains"] + names + ["load CV", "domain-expert NMI"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))

    def ms(vals, d=3):
        a = np.array(vals, dtype=float)
        return f"{a.mean():.{d}f} ± {a.std(ddof=1):.{d}f}" if len(a) > 1 else f"{a.mean():.{d}f}"

    for k, g in groups.items():
        cells = [json.loads(k) if isinstance(json.loads(k), str) else k, str(len(g)),
                 ms([r["bpb"] for r in g]), ms([r["bpb_mean"] for r in g])]
        cells += [ms([r["domains"][d] for r in g]) for d in names]
        cells += [ms([r["cv"] for r in g]), ms([r["nmi"] for r in g])]
        print("| " + " | ".join(cells) + " |")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--base")
    p.add_argument("--by")
    a = p.parse_args()
    try:
        rows = [run_row(r) for r in a.runs]
        if a.by:
            grouped(rows, a.by)
            return 0
        if a.base:
            rows.insert(0, base_row(a.base))
        per_run(rows)
    except (OSError, KeyError) as e:
        print(f"error: {e} (is every file a moe-lab language-model run?)", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
