"""Plots fleetpeers' JSON figures (-json; scripts/bench-fleet-peers runs both): one panel
per measure, P on the x axis."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src, dst):
    with open(src) as f:
        rows = json.load(f)
    contenders = list(dict.fromkeys(r["contender"] for r in rows))
    procs = sorted({r["procs"] for r in rows})
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    panels = [
        ("executions_median", "executions per stampede", False),
        ("last_waiter_p50_ms", "last waiter after the work ends, ms\n(p50, bar to p99)", True),
        ("commands_median", "Redis commands per stampede", True),
    ]
    styles = {c: (m, 9 - 1.5 * i) for i, (c, m) in enumerate(zip(contenders, "os^vD"))}
    for ax, (field, title, log) in zip(axes, panels):
        for c in contenders:
            marker, size = styles[c]
            rs = sorted((r for r in rows if r["contender"] == c), key=lambda r: r["procs"])
            xs = [r["procs"] for r in rs]
            ys = [r[field] for r in rs]
            if field == "last_waiter_p50_ms":
                err = [[0] * len(rs), [r["last_waiter_p99_ms"] - r[field] for r in rs]]
                ax.errorbar(xs, ys, yerr=err, marker=marker, markersize=size, capsize=3, label=c)
            else:
                ax.plot(xs, ys, marker=marker, markersize=size, label=c)
        ax.set_xscale("log", base=2)
        ax.set_xticks(procs)
        ax.set_xticklabels([str(p) for p in procs])
        ax.set_xlabel("processes stampeding one key")
        if log:
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
    axes[0].legend()
    fig.suptitle("Go: one hot key, P processes, loopback Redis (median of %d stampedes)" % rows[0]["stampedes"])
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
