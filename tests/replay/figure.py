"""The replay's figure: the runs on shared axes (availability, PLEG-sick
nodes, pods per node) over the time since the rollout, from the CSVs
replay.py wrote. Needs matplotlib (Debian python3-matplotlib; `make replay`
installs it).

Usage: figure.py DIR [MODE...]   (writes DIR/replay.png)
"""

import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"none": "#c0392b", "naive": "#e67e22", "nodeguard": "#2471a3"}
LABELS = {"none": "no remediation", "naive": "naive: reboot every sick node at once",
          "nodeguard": "nodeguard (incident-workers policy)"}
CLOCK = 10.0  # replay.CLOCK: incident seconds per wall second


def load(path):
    with open(path) as f:
        rows = [r for r in csv.DictReader(f) if r["since_rollout"] != ""]
    return rows


def draw(out_dir, modes, png):
    fig, axes = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    for mode in modes:
        rows = load(os.path.join(out_dir, f"replay-{mode}.csv"))
        x = [float(r["since_rollout"]) * CLOCK / 60 for r in rows]
        colour = COLOURS.get(mode)
        label = LABELS.get(mode, mode)
        axes[0].plot(x, [100 * float(r["availability"]) for r in rows], color=colour, label=label)
        axes[1].step(x, [int(r["pleg_sick_nodes"]) for r in rows], where="post", color=colour,
                     label=label)
        axes[2].plot(x, [int(r["max_pods_per_node"]) for r in rows], color=colour, label=label)
    axes[0].set_ylabel("available replicas (%)")
    axes[0].set_ylim(0, 105)
    axes[0].axhline(90, color="grey", linewidth=0.6, linestyle=":")
    axes[0].legend(loc="lower left", fontsize=8)
    axes[1].set_ylabel("nodes NotReady\n(PLEG is not healthy)")
    axes[2].set_ylabel("most pods on a node")
    axes[2].axhline(110, color="grey", linewidth=0.6, linestyle=":")
    axes[2].set_xlabel("minutes since the rollout (incident time; the replay runs 10 times faster)")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle("The PLEG incident replayed: the same cluster, workload and seed")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    directory = sys.argv[1]
    draw(directory, sys.argv[2:] or ["none", "naive", "nodeguard"],
         os.path.join(directory, "replay.png"))
