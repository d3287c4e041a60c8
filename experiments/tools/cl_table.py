#!/usr/bin/env python3
"""Markdown table of moe-expand runs: A_N, A_bar, forgetting, BWT, adapters and parameters added.

    python3 experiments/tools/cl_table.py runs/cl/*.h5
"""
import json
import sys

import h5py

ORDER = ["sema", "adapter_per_task", "single_adapter", "head_only", "mole_joint"]


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
            "stream": spec["exp"]["name"].split("_")[1] if spec["exp"]["name"].startswith("cl_") else spec["exp"]["name"],
            "strategy": s.attrs["strategy"],
            "tasks": len(tasks),
            "A_N": 100 * s["A_N"][()],
            "A_bar": 100 * s["A_bar"][()],
            "forgetting": 100 * s["forgetting"][()],
            "bwt": 100 * s["bwt"][()],
            "adapters": "/".join(str(int(a)) for a in ad) if len(ad) else "0",
            "p_inf": int(s["params_added_inference"][-1]),
            "p_tot": int(s["params_added_total"][-1]),
            "where": where,
        }


def main():
    rows = [row(p) for p in sys.argv[1:]]
    rows.sort(key=lambda r: (r["stream"], ORDER.index(r["strategy"]) if r["strategy"] in ORDER else 99))
    print("| stream | strategy | A_N % | Ā % | forgetting % | BWT % | adapters per site | params added (inference / total) | expansions (task@site) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | --- |")
    for r in rows:
        print(f"| {r['stream']} | {r['strategy']} | {r['A_N']:.2f} | {r['A_bar']:.2f} | {r['forgetting']:.2f} | {r['bwt']:.2f} | "
              f"{r['adapters']} | {r['p_inf']:,} / {r['p_tot']:,} | {r['where']} |")


if __name__ == "__main__":
    main()
