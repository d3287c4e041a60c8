#!/usr/bin/env python3
"""Plot a moe-lab run file (and optionally its moe-eval file) to PNG files.

usage: plot_run.py RUN.h5 [--eval EVAL.h5] [--out DIR]

Writes, when the data is present:
  <name>_curves.png        training loss / accuracy and evaluation accuracy per split
  <name>_load_<site>.png   expert load over log steps (heatmap), one per adapted site
  <name>_affinity_<site>.png  task x expert affinity (from the moe-eval file)
  <name>_accuracy_matrix.png  R[i][j] of a moe-expand stream (/stream/accuracy_matrix)
Needs python3-h5py and python3-matplotlib (Debian packages).
"""
import argparse
import json
import os
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def safe(name):
    return name.replace("/", "_").replace(".", "_")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--eval", dest="eval_file")
    ap.add_argument("--out", default=None, help="output directory (default: beside the run file)")
    a = ap.parse_args()
    out = a.out or os.path.dirname(os.path.abspath(a.run))
    os.makedirs(out, exist_ok=True)
    base = os.path.splitext(os.path.basename(a.run))[0]
    written = []
    with h5py.File(a.run, "r") as f:
        name = json.loads(f["spec"].asstr()[()])["exp"]["name"] if "spec" in f else base
        if "metrics/train/loss" in f:
            fig, ax = plt.subplots(1, 2, figsize=(11, 4))
            st = f["metrics/train/step"][:]
            ax[0].plot(st, f["metrics/train/loss"][:], label="train loss")
            if "metrics/train/aux_loss" in f:
                ax[0].plot(st, f["metrics/train/aux_loss"][:], label="aux loss")
            ax[0].set_xlabel("step"); ax[0].set_yscale("log"); ax[0].legend(); ax[0].set_title(f"{name}: loss")
            ax[1].plot(st, f["metrics/train/accuracy"][:], label="train")
            for split in ("val", "test"):
                g = f.get(f"metrics/eval/{split}")
                if g is not None and "accuracy" in g:
                    ax[1].plot(g["step"][:], g["accuracy"][:], "o-", label=split)
            ax[1].set_xlabel("step"); ax[1].set_title("accuracy"); ax[1].legend()
            fig.tight_layout()
            p = os.path.join(out, f"{base}_curves.png"); fig.savefig(p, dpi=90); plt.close(fig); written.append(p)
        for site in f.get("routing", {}):
            g = f["routing"][site]
            load = g["load"][:]
            fig, ax = plt.subplots(figsize=(8, 3.5))
            im = ax.imshow(load.T, aspect="auto", origin="lower", cmap="viridis",
                           extent=[g["step"][0], g["step"][-1], -0.5, load.shape[1] - 0.5])
            ax.set_xlabel("step"); ax.set_ylabel("expert"); ax.set_title(f"{name}: expert load at {site}")
            fig.colorbar(im, ax=ax, label="share of assignments")
            fig.tight_layout()
            p = os.path.join(out, f"{base}_load_{safe(site)}.png"); fig.savefig(p, dpi=90); plt.close(fig); written.append(p)
        if "stream/accuracy_matrix" in f:
            mats = [("accuracy matrix", f["stream/accuracy_matrix"][:])]
            if "stream/task_aware/accuracy_matrix" in f:   # the same with each sample's task given
                mats.append(("task-aware", f["stream/task_aware/accuracy_matrix"][:]))
            fig, axes = plt.subplots(1, len(mats), figsize=(5 * len(mats), 4.5), squeeze=False)
            for ax, (title, R) in zip(axes[0], mats):
                im = ax.imshow(R, cmap="magma", vmin=0, vmax=1)
                for i in range(R.shape[0]):
                    for j in range(R.shape[1]):
                        if j <= i:
                            ax.text(j, i, f"{R[i, j]:.2f}", ha="center", va="center", color="w", fontsize=8)
                ax.set_xlabel("evaluated on task j"); ax.set_ylabel("after training task i"); ax.set_title(f"{name}: {title}")
                fig.colorbar(im, ax=ax)
            fig.tight_layout()
            p = os.path.join(out, f"{base}_accuracy_matrix.png"); fig.savefig(p, dpi=90); plt.close(fig); written.append(p)
    if a.eval_file:
        with h5py.File(a.eval_file, "r") as e:
            tasks = e["eval"].attrs["tasks"].split(",")
            for site in e.get("eval/sites", {}):
                aff = e["eval/sites"][site]["affinity"][:]
                fig, ax = plt.subplots(figsize=(max(4.8, 1.2 + 0.6 * aff.shape[1]), 1.2 + 0.5 * aff.shape[0]))
                im = ax.imshow(aff, cmap="Blues", vmin=0, vmax=1)
                for i in range(aff.shape[0]):
                    for j in range(aff.shape[1]):
                        ax.text(j, i, f"{aff[i, j]:.2f}", ha="center", va="center", fontsize=8,
                                color="w" if aff[i, j] > 0.5 else "k")
                ax.set_yticks(range(len(tasks)), tasks); ax.set_xticks(range(aff.shape[1]), [f"e{j}" for j in range(aff.shape[1])])
                nmi = e["eval/sites"][site].attrs.get("nmi", float("nan"))
                ax.set_title(f"task x expert affinity at {site} (NMI {nmi:.2f})", fontsize=9)
                fig.colorbar(im, ax=ax)
                fig.tight_layout()
                p = os.path.join(out, f"{base}_affinity_{safe(site)}.png"); fig.savefig(p, dpi=90); plt.close(fig); written.append(p)
    for p in written:
        print(p)
    if not written:
        sys.exit("nothing to plot in " + a.run)


if __name__ == "__main__":
    main()
