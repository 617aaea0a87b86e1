"""latest.png: seconds and peak memory against node count, log-log: the program under the mocks
and, next to it, the real engine (bench/engine.py) by operation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# The engine's operations: (key in results["engine"], label, marker, colour: the same in both panels).
ENGINE_OPS = (
    ("preview", "engine: preview (fresh)", "s-", "tab:green"),
    ("initial_up", "engine: initial up (its runs, the crash included)", "^-", "tab:brown"),
    ("noop_up", "engine: no-op up", "D-", "tab:purple"),
    ("add_worker_up", "engine: add a worker", "v-", "tab:cyan"),
    # A pool stack beside the N-node cluster (bench/engine_pool.py): flat if N does not matter.
    ("pool_noop_up", "engine: pool no-op up (x: cluster nodes)", "D--", "tab:pink"),
    ("pool_add_worker_up", "engine: add a worker to a pool (x: cluster nodes)", "v--", "tab:olive"),
)
ENGINE_SECONDS_BUDGET = 60  # issue 17: preview, no-op up of 500 nodes
ENGINE_MB_BUDGET = 2048


def _by_nodes(figures: dict[str, Any]) -> dict[int, float]:
    return {int(k): v for k, v in figures.items()}


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: write the file only
    import matplotlib.pyplot as plt

    seconds = _by_nodes(results["eval_seconds_by_nodes"])
    peak = _by_nodes(results["peak_mb_by_nodes"])
    nodes = sorted(seconds)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    left.loglog(nodes, [seconds[n] for n in nodes], "o-", color="tab:blue", label="mocks: evaluation")
    cpu = _by_nodes(results.get("eval_cpu_seconds_by_nodes", {}))
    if cpu:
        left.loglog(nodes, [cpu[n] for n in nodes], "x--", color="tab:orange", label="mocks: CPU")
    if len(nodes) > 1:  # slope 1 through 50 nodes (the requirement's base): what linear looks like
        base = 50 if 50 in seconds else nodes[0]
        left.loglog(
            nodes, [seconds[base] * n / base for n in nodes], ":", color="grey", label=f"linear from {base}"
        )
    left.axhline(30, color="red", linewidth=0.8, linestyle="--", label="30 s budget (mocks)")
    right.loglog(nodes, [peak[n] for n in nodes], "o-", color="tab:blue", label="mocks: evaluation")

    engine = results.get("engine") or {}
    if "sizes" in engine:
        _plot_engine(engine, left, right)
        budget = {"color": "darkred", "linewidth": 0.8, "linestyle": "-."}
        left.axhline(ENGINE_SECONDS_BUDGET, label="60 s budget (engine)", **budget)
        right.axhline(ENGINE_MB_BUDGET, label="2 GB budget (engine)", **budget)
    left.set(xlabel="nodes", ylabel="seconds", title="time: mocks vs the real engine")
    right.set(xlabel="nodes", ylabel="MB (peak; engine: whole process tree, RSS)", title="peak memory")
    for ax in (left, right):
        ax.grid(True, which="both", linewidth=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_engine(engine: dict[str, Any], left: Any, right: Any) -> None:
    for op, label, style, colour in ENGINE_OPS:
        secs = _by_nodes(engine.get(f"{op}_seconds_by_nodes", {}))
        mb = _by_nodes(engine.get(f"{op}_peak_mb_by_nodes", {}))
        if secs:
            xs = sorted(secs)
            left.loglog(xs, [secs[n] for n in xs], style, color=colour, label=label, markersize=4)
        if mb:
            xs = sorted(mb)
            right.loglog(xs, [mb[n] for n in xs], style, color=colour, label=label, markersize=4)
    timed_out = timed_out_points(engine)
    if timed_out:
        xs = sorted(timed_out)
        label = "engine: timed out (at least)"
        left.loglog(xs, [timed_out[n] for n in xs], "X", color="red", markersize=9, label=label)


def timed_out_points(engine: dict[str, Any]) -> dict[int, float]:
    """The sizes that ran out of time, and after how long; a size whose node pool (its pool_*
    phases, bench/engine_pool.py) ran out has its cluster's figures: not one of them."""
    return {
        int(n): t["after_seconds"]
        for n, t in (engine.get("timed_out") or {}).items()
        if not str(t.get("phase", "")).startswith("pool_")
    }
