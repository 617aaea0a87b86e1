"""latest.png: evaluation seconds and peak memory against node count, log-log."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: write the file only
    import matplotlib.pyplot as plt

    seconds = {int(k): v for k, v in results["eval_seconds_by_nodes"].items()}
    peak = {int(k): v for k, v in results["peak_mb_by_nodes"].items()}
    nodes = sorted(seconds)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.loglog(nodes, [seconds[n] for n in nodes], "o-", label="wall")
    cpu = {int(k): v for k, v in results.get("eval_cpu_seconds_by_nodes", {}).items()}
    if cpu:
        left.loglog(nodes, [cpu[n] for n in nodes], "x--", label="CPU")
    if len(nodes) > 1:  # slope 1 through 50 nodes (the requirement's base): what linear looks like
        base = 50 if 50 in seconds else nodes[0]
        left.loglog(
            nodes, [seconds[base] * n / base for n in nodes], ":", color="grey", label=f"linear from {base}"
        )
    left.axhline(30, color="red", linewidth=0.8, linestyle="--", label="30 s budget")
    left.set(xlabel="nodes", ylabel="seconds", title="program evaluation under mocks")
    left.legend()
    right.loglog(nodes, [peak[n] for n in nodes], "o-", color="tab:orange")
    right.set(xlabel="nodes", ylabel="MB (peak RSS)", title="peak memory")
    for ax in (left, right):
        ax.grid(True, which="both", linewidth=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
