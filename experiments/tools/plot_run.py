#!/usr/bin/env python3
"""Plot moe-lab run files (and optionally their moe-eval files) to PNG files.

usage: plot_run.py RUN.h5 [RUN2.h5 ...] [--eval EVAL.h5 ...] [--out DIR]

Writes, when the data is present (DIR: --out, else the directory of the first run):
  <name>_curves.png           loss (train, val, test), accuracy (train, val, test) and the
                              accuracy of every task (test split, else val) over training;
                              with several runs: compare_curves.png, the runs overlaid, each
                              labelled by its exp.name (its file name when two share a name)
  <name>_load_<site>.png      expert load over log steps (heatmap), one per run and adapted site;
                              the colour scale runs from 0 to 2/E, so uniform load (1/E, marked on
                              the colour bar) sits in the middle; it widens to 0..1 when an expert
                              takes more than 2/E of the assignments
  <name>_affinity_<site>.png  task x expert affinity (from a moe-eval file; <name> is its run's)
  <name>_accuracy_matrix.png  R[i][j] of a moe-expand stream (/stream/accuracy_matrix), by task name
Needs h5py and matplotlib: Debian's /usr/bin/python3 with python3-h5py and python3-matplotlib
(`make plots` uses it), or `pip install h5py matplotlib` in a pyenv, conda or venv interpreter.
Exit codes: 0 ok, 2 bad usage or h5py/matplotlib missing, 3 a missing, unreadable or non-moe-lab
file, or nothing to plot.
"""
import argparse
import json
import os
import sys

try:
    import h5py
    import numpy as np
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: E402
    from matplotlib.ticker import MaxNLocator  # noqa: E402
except ImportError as e:  # another interpreter than Debian's (pyenv, conda, venv) without the packages
    sys.stderr.write(f"plot_run.py: {e}: run it with /usr/bin/python3 (Debian: apt-get install python3-h5py "
                     "python3-matplotlib), or pip install h5py matplotlib in this interpreter\n")
    sys.exit(2)


def die(msg, code=3):
    sys.stderr.write(f"plot_run.py: error: {msg}\n")
    sys.exit(code)


def safe(name):
    return name.replace("/", "_").replace(".", "_")


def attr_str(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def open_h5(path, what, tool=None):
    """Open a moe-lab file for reading, or exit 3 with a message naming it."""
    if not os.path.exists(path):
        die(f"{path}: no such file")
    if os.path.isdir(path):
        die(f"{path}: is a directory, not a moe-lab {what}")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        die(f"{path}: not an HDF5 file, or truncated ({e})")
    if attr_str(f.attrs.get("format", "")) != "moe-lab-run":
        die(f"{path}: not a moe-lab {what} (no format='moe-lab-run' attribute)")
    if tool and attr_str(f.attrs.get("tool", "")) != tool:
        die(f"{path}: written by {attr_str(f.attrs.get('tool', '?'))}, expected a {tool} {what}")
    return f


def run_name(f, path):
    try:
        return json.loads(f["spec"].asstr()[()])["exp"]["name"]
    except (KeyError, ValueError, TypeError):
        return os.path.splitext(os.path.basename(path))[0]


def series(f, path):
    return f[path][:] if path in f else None


def eval_split_for_tasks(f):
    for split in ("test", "val"):
        if f"metrics/eval/{split}/tasks" in f:
            return split
    return None


def plot_curves(runs, out, written):
    """runs: [(label, base, h5py.File)] with metrics/train/loss."""
    many = len(runs) > 1
    fig, ax = plt.subplots(1, 3, figsize=(16, 4.2))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for r, (label, base, f) in enumerate(runs):
        c = colours[r % len(colours)] if many else None
        pre = f"{label}: " if many else ""
        st = f["metrics/train/step"][:]
        ax[0].plot(st, f["metrics/train/loss"][:], color=c or colours[0], label=pre + "train loss")
        if not many and "metrics/train/aux_loss" in f:
            ax[0].plot(st, f["metrics/train/aux_loss"][:], color=colours[1], label="aux loss")
        ax[1].plot(st, f["metrics/train/accuracy"][:], color=c or colours[0], label=pre + "train")
        for i, (split, style) in enumerate((("val", "s--"), ("test", "o-"))):
            g = f.get(f"metrics/eval/{split}")
            if g is None or "step" not in g:
                continue
            col = c or colours[2 + i]
            if "loss" in g:
                ax[0].plot(g["step"][:], g["loss"][:], style, color=col, label=pre + f"{split} loss")
            if "accuracy" in g:
                ax[1].plot(g["step"][:], g["accuracy"][:], style, color=col, label=pre + split)
        split = eval_split_for_tasks(f)
        if split:
            g = f[f"metrics/eval/{split}"]
            markers = "o^sv<>DpP*"
            for t, task in enumerate(g["tasks"]):
                if "accuracy" not in g["tasks"][task]:
                    continue
                ax[2].plot(g["step"][:], g["tasks"][task]["accuracy"][:], markers[t % len(markers)] + "-",
                           color=c or colours[t % len(colours)], label=f"{pre}{task}", markersize=4)
            ax[2].set_title(f"accuracy per task ({split} split)")
    title = runs[0][0] if not many else f"{len(runs)} runs"
    ax[0].set_xlabel("step"); ax[0].set_yscale("log"); ax[0].set_title(f"{title}: loss")
    ax[1].set_xlabel("step"); ax[1].set_title("accuracy")
    ax[2].set_xlabel("step")
    if not ax[2].lines:
        ax[2].set_title("accuracy per task (no per-task evaluations)")
    for a in ax:
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
        if a.lines:
            a.legend(fontsize=7)
    fig.tight_layout()
    p = os.path.join(out, "compare_curves.png" if many else f"{runs[0][1]}_curves.png")
    fig.savefig(p, dpi=90); plt.close(fig); written.append(p)


def plot_load(label, base, f, out, written):
    for site in f.get("routing", {}):
        g = f["routing"][site]
        if "load" not in g or "step" not in g:
            continue
        load = g["load"][:]
        steps = g["step"][:]
        if load.ndim != 2 or load.shape[0] == 0:
            continue
        E = load.shape[1]
        lim = min(1.0, 2.0 / E)
        vmax = lim if load.max() <= lim + 1e-9 else 1.0
        x0, x1 = float(steps[0]), float(steps[-1])
        if x1 <= x0:
            x0, x1 = x0 - 0.5, x0 + 0.5
        fig, ax = plt.subplots(figsize=(8, 1.6 + 0.3 * E))
        im = ax.imshow(load.T, aspect="auto", origin="lower", cmap="viridis", vmin=0.0, vmax=vmax,
                       extent=[x0, x1, -0.5, E - 0.5], interpolation="nearest")
        ax.set_yticks(range(E))
        ax.set_yticklabels([str(e) for e in range(E)] if E <= 32 else [str(e) if e % 4 == 0 else "" for e in range(E)])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("step"); ax.set_ylabel("expert"); ax.set_title(f"{label}: expert load at {site}")
        cb = fig.colorbar(im, ax=ax, label="share of assignments")
        ticks = sorted({0.0, 1.0 / E, vmax} | ({lim} if vmax > lim else set()))
        cb.set_ticks(ticks)
        cb.set_ticklabels([f"{t:.3g}" + (" = 1/E" if abs(t - 1.0 / E) < 1e-12 else "") for t in ticks])
        cb.ax.axhline(1.0 / E, color="w", linewidth=1.5)
        fig.tight_layout()
        p = os.path.join(out, f"{base}_load_{safe(site)}.png")
        fig.savefig(p, dpi=90); plt.close(fig); written.append(p)


def plot_accuracy_matrix(label, base, f, out, written):
    if "stream/accuracy_matrix" not in f:
        return
    names = f["stream/task_names"].asstr()[()].split(",") if "stream/task_names" in f else None
    mats = [("accuracy matrix", f["stream/accuracy_matrix"][:])]
    if "stream/task_aware/accuracy_matrix" in f:  # the same with each sample's task given
        mats.append(("task-aware", f["stream/task_aware/accuracy_matrix"][:]))
    fig, axes = plt.subplots(1, len(mats), figsize=(5.5 * len(mats), 5), squeeze=False)
    for ax, (title, R) in zip(axes[0], mats):
        im = ax.imshow(R, cmap="magma", vmin=0, vmax=1)
        for i in range(R.shape[0]):
            for j in range(R.shape[1]):
                if j <= i:
                    ax.text(j, i, f"{R[i, j]:.2f}", ha="center", va="center", color="w", fontsize=8)
        cols = names if names and len(names) == R.shape[1] else [str(j) for j in range(R.shape[1])]
        ax.set_xticks(range(R.shape[1])); ax.set_xticklabels(cols, rotation=45, ha="right")
        ax.set_yticks(range(R.shape[0])); ax.set_yticklabels(cols[:R.shape[0]])
        ax.set_xlabel("evaluated on task"); ax.set_ylabel("after training on task")
        ax.set_title(f"{label}: {title}")
        fig.colorbar(im, ax=ax)
    fig.tight_layout()
    p = os.path.join(out, f"{base}_accuracy_matrix.png")
    fig.savefig(p, dpi=90); plt.close(fig); written.append(p)


def plot_affinity(path, e, out, written):
    tasks = attr_str(e["eval"].attrs["tasks"]).split(",")
    base = os.path.splitext(os.path.basename(attr_str(e.attrs.get("run", path))))[0]
    for site in e.get("eval/sites", {}):
        aff = e["eval/sites"][site]["affinity"][:]
        fig, ax = plt.subplots(figsize=(max(4.8, 1.2 + 0.6 * aff.shape[1]), 1.2 + 0.5 * aff.shape[0]))
        im = ax.imshow(aff, cmap="Blues", vmin=0, vmax=1)
        for i in range(aff.shape[0]):
            for j in range(aff.shape[1]):
                ax.text(j, i, f"{aff[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="w" if aff[i, j] > 0.5 else "k")
        ax.set_yticks(range(len(tasks))); ax.set_yticklabels(tasks)
        ax.set_xticks(range(aff.shape[1])); ax.set_xticklabels([f"e{j}" for j in range(aff.shape[1])])
        nmi = e["eval/sites"][site].attrs.get("nmi", float("nan"))
        ax.set_title(f"task x expert affinity at {site} (NMI {nmi:.2f})", fontsize=9)
        fig.colorbar(im, ax=ax)
        fig.tight_layout()
        p = os.path.join(out, f"{base}_affinity_{safe(site)}.png")
        fig.savefig(p, dpi=90); plt.close(fig); written.append(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", metavar="RUN.h5", help="run files of moe-train or moe-expand")
    ap.add_argument("--eval", dest="eval_files", action="append", default=[], metavar="EVAL.h5",
                    help="a moe-eval analysis file (repeatable)")
    ap.add_argument("--out", default=None, help="output directory (default: beside the first run file)")
    a = ap.parse_args()
    files = [(p, open_h5(p, "run file")) for p in a.runs]
    evals = [(p, open_h5(p, "analysis file", tool="moe-eval")) for p in a.eval_files]
    out = a.out or os.path.dirname(os.path.abspath(a.runs[0]))
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        die(f"--out {out}: {e.strerror}")
    names = [run_name(f, p) for p, f in files]
    bases = [os.path.splitext(os.path.basename(p))[0] for p, _ in files]
    # labels: exp.name, or the file name when two runs share a name
    labels = names if len(set(names)) == len(names) else bases
    written = []
    with_curves = [(lab, b, f) for lab, b, (_, f) in zip(labels, bases, files) if "metrics/train/loss" in f]
    if with_curves:
        plot_curves(with_curves, out, written)
    for lab, b, (_, f) in zip(labels, bases, files):
        plot_load(lab, b, f, out, written)
        plot_accuracy_matrix(lab, b, f, out, written)
    for p, e in evals:
        plot_affinity(p, e, out, written)
    for p in written:
        print(p)
    if not written:
        die("nothing to plot in " + ", ".join(a.runs) + " (no /metrics/train, /routing or /stream/accuracy_matrix)")


if __name__ == "__main__":
    main()
