#!/usr/bin/env python3
"""Markdown table of moe-expand runs: A_N, A_bar, forgetting, BWT, the task-aware A_N and forgetting
(each test sample's task given: argmax within its own logits), adapters and parameters added; one
row per run file, then (when some stream and strategy have runs with several seeds) the mean and
sample standard deviation over seeds.

    python3 experiments/tools/cl_table.py runs/cl/*.h5
"""
import json
import statistics
import sys

import h5py

ORDER = ["sema", "adapter_per_task", "single_adapter", "head_only", "mole_joint"]


def stream_name(exp_name, strategy):
    """cl_<stream>_<strategy> (run_all.sh's names; a spec's own name cl_<stream>_sema when run with
    --set expand.strategy=... only) -> <stream>; anything else as it is."""
    for suffix in [strategy] + ORDER:
        if exp_name.startswith("cl_") and exp_name.endswith("_" + suffix):
            return exp_name[3:-len(suffix) - 1]
    return exp_name


def row(path):
    with h5py.File(path, "r") as f:
        s = f["stream"]
        spec = json.loads(f["spec"][()])
        sites = s["sites"][()].decode() if isinstance(s["sites"][()], bytes) else s["sites"][()]
        ad = s["adapters"][-1] if s["adapters"].shape[1] else []
        names = s["task_names"][()]
        names = names.decode() if isinstance(names, bytes) else names
        exp = s["expansions"][:]
        tasks = names.split(",")
        site_list = sites.split(",") if sites else []
        where = ", ".join(f"{tasks[int(t)]}@{site_list[int(k)]}" for t, k in exp) if len(exp) else "-"
        return {
            "stream": stream_name(spec["exp"]["name"], s.attrs["strategy"]),
            "strategy": s.attrs["strategy"],
            "seed": int(spec["exp"]["seed"]),
            "tasks": len(tasks),
            "A_N": 100 * s["A_N"][()],
            "A_bar": 100 * s["A_bar"][()],
            "forgetting": 100 * s["forgetting"][()],
            "bwt": 100 * s["bwt"][()],
            "ta_A_N": 100 * s["task_aware/A_N"][()] if "task_aware" in s else float("nan"),
            "ta_forg": 100 * s["task_aware/forgetting"][()] if "task_aware" in s else float("nan"),
            "adapters": "/".join(str(int(a)) for a in ad) if len(ad) else "0",
            "p_inf": int(s["params_added_inference"][-1]),
            "p_tot": int(s["params_added_total"][-1]),
            "where": where,
        }


def main():
    rows = [row(p) for p in sys.argv[1:]]
    key = lambda r: (r["stream"], ORDER.index(r["strategy"]) if r["strategy"] in ORDER else 99, r["strategy"])
    rows.sort(key=lambda r: key(r) + (r["seed"],))
    print("| stream | strategy | seed | A_N % | Ā % | forgetting % | BWT % | task-aware A_N % | task-aware forgetting % "
          "| adapters per site | params added (inference / total) | expansions (task@site) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |")
    for r in rows:
        print(f"| {r['stream']} | {r['strategy']} | {r['seed']} | {r['A_N']:.2f} | {r['A_bar']:.2f} | {r['forgetting']:.2f} | "
              f"{r['bwt']:.2f} | {r['ta_A_N']:.2f} | {r['ta_forg']:.2f} | "
              f"{r['adapters']} | {r['p_inf']:,} / {r['p_tot']:,} | {r['where']} |")
    groups = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    if all(len(g) < 2 for g in groups.values()):
        return

    def ms(g, k):
        v = [r[k] for r in g]
        return f"{statistics.mean(v):.2f} ± {statistics.stdev(v):.2f}" if len(v) > 1 else f"{v[0]:.2f}"

    print()
    print("| stream | strategy | seeds | A_N % | Ā % | forgetting % | task-aware A_N % | task-aware forgetting % |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for k in sorted(groups):   # only the stream/strategy pairs run with several seeds
        g = groups[k]
        if len(g) < 2:
            continue
        print(f"| {g[0]['stream']} | {g[0]['strategy']} | {','.join(str(r['seed']) for r in g)} | {ms(g, 'A_N')} | "
              f"{ms(g, 'A_bar')} | {ms(g, 'forgetting')} | {ms(g, 'ta_A_N')} | {ms(g, 'ta_forg')} |")


if __name__ == "__main__":
    main()
