#!/usr/bin/env python3
"""Tabulate mixture-of-LoRA runs: test accuracy (overall and per task), expert-load balance and
adapter FLOPs, from the run files' last routing record of every adapted site.

usage: mole_table.py RUN.h5 [RUN.h5 ...]      (Markdown on stdout; needs python3-h5py)
"""
import json
import sys

import h5py
import numpy as np


def row(path):
    with h5py.File(path, "r") as f:
        spec = json.loads(f["spec"].asstr()[()])
        acc = float(f["metrics/eval/test/accuracy"][-1])
        tasks = {k: float(f[f"metrics/eval/test/tasks/{k}/accuracy"][-1]) for k in f["metrics/eval/test/tasks"].keys()}
        cvs, maxmean, flops, active = [], [], [], []
        for site in f["routing"].keys():
            g = f["routing"][site]
            load = g["load"][-1]            # share of (token, expert) assignments, last log window
            m = load.mean()
            cvs.append(float(load.std() / m) if m > 0 else 0.0)
            maxmean.append(float(load.max() / m) if m > 0 else 0.0)
            flops.append(float(g["flops_ratio"][-1]))
            active.append(float(g["active"][-1]))
        return {
            "run": spec["exp"]["name"], "router": spec["routing"]["router"],
            "lbl": f'{spec["loss"]["lbl"]}:{spec["loss"]["lbl_coef"]}', "acc": acc, "tasks": tasks,
            "cv": np.mean(cvs), "maxmean": np.mean(maxmean), "flops": np.mean(flops), "active": np.mean(active),
        }


def main(paths):
    rows = [row(p) for p in paths]
    task_names = list(rows[0]["tasks"].keys()) if rows else []
    head = ["run", "router", "lbl", "test acc"] + task_names + ["load CV", "max/mean load", "experts/token", "adapter FLOPs vs dense"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        cells = [r["run"], r["router"], r["lbl"], f'{r["acc"]:.4f}'] + [f'{r["tasks"].get(t, float("nan")):.4f}' for t in task_names]
        cells += [f'{r["cv"]:.3f}', f'{r["maxmean"]:.3f}', f'{r["active"]:.2f}', f'{r["flops"]:.3f}']
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
