"""One evaluation of the Pulumi program under the mocks, timed; and one size per process.

`python -m bench.evaluate N` evaluates the N-node bench stack once in this (fresh) process and
prints {"nodes", "seconds", "cpu_seconds", "peak_mb", "rss_before_mb", "resources", "host_steps",
"load"} as JSON: a process per size, so that one size's memory peak never counts for another's.
The modules are imported before the clock starts: the figure is the program's evaluation, not
Python's imports.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from bench.critical_path import HOST_STEPS
from bench.stacks import STACK, bench_config
from mockrun.program import Graph, run_program


def evaluate(raw: dict[str, Any], secret_keys: set[str], stack: str = STACK) -> tuple[Graph, float]:
    graph, seconds, _ = evaluate_timed(raw, secret_keys, stack)
    return graph, seconds


def evaluate_timed(
    raw: dict[str, Any], secret_keys: set[str], stack: str = STACK
) -> tuple[Graph, float, float]:
    """(graph, wall seconds, CPU seconds of this process: every thread, less sensitive to load)."""
    start, cpu = time.perf_counter(), time.process_time()
    graph = run_program(raw, stack, secret_keys)
    return graph, time.perf_counter() - start, time.process_time() - cpu


def _rss_mb() -> float:
    """Peak resident memory of this process. VmHWM starts afresh at exec; ru_maxrss would carry
    the peak of the (large) parent this process was forked from."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(nodes: int) -> dict[str, Any]:
    import components.program  # noqa: F401  (imported before the clock, like the engine's host does)

    before = _rss_mb()
    load_before = os.getloadavg()[0]
    raw, secret = bench_config(nodes)
    graph, seconds, cpu_seconds = evaluate_timed(raw, secret)
    return {
        "nodes": nodes,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "peak_mb": round(_rss_mb(), 1),
        "rss_before_mb": round(before, 1),
        "resources": len(graph.registrations),
        "host_steps": sum(len(graph.of_type(t)) for t in HOST_STEPS),
        # 1-minute load average before and after: other work on the machine slows the figure.
        "load": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m bench.evaluate NODES", file=sys.stderr)
        return 2
    from components.program import tune_runtime

    tune_runtime()  # as the entry point (__main__.py) does, after the same imports
    print(json.dumps(measure(int(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
