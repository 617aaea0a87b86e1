"""`make bench`: evaluation time and memory by node count, blast radius, determinism, critical path,
and the real engine on the same stacks (bench/engine.py).

Writes bench/results/latest.json and latest.png and prints the figures. Options shrink a run
(tests, quick checks): --sizes 1,10 --blast-nodes 10 --no-presets --no-plot --no-lab
--engine-sizes 10,50 --engine-timeout 600 --engine-interrupt-at 0.5 (0: no crash)
--engine-pool-size 20 (0: no pool; or --no-engine) --out DIR.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import engine as engine_bench
from bench.critical_path import HOST_STEPS, critical_path
from bench.graph_diff import blast_radius, diff_graphs, owned_by
from bench.lab_timings import lab_timings
from bench.stacks import STACK, bench_config, with_labels_changed, with_worker_added

REPO = Path(__file__).resolve().parents[1]
SIZES = (1, 10, 50, 200, 500)
BLAST_NODES = 50
MAX_RATIO_500_50 = 12.0
MAX_SECONDS_500 = 30.0
REPEAT = 3


def _evaluate_once(nodes: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.evaluate", str(nodes)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure_sizes(sizes: list[int], repeat: int = REPEAT) -> list[dict[str, Any]]:
    """Each size `repeat` times, each in a fresh interpreter (its own imports, its own memory
    peak); the run with the median wall time stands for the size, with every run's seconds kept:
    the machine is shared, and one run can be slowed by other work."""
    out = []
    for nodes in sizes:
        runs = sorted((_evaluate_once(nodes) for _ in range(repeat)), key=lambda r: r["seconds"])
        result = {**runs[len(runs) // 2], "runs_seconds": [r["seconds"] for r in runs]}
        print(
            f"  {nodes:>4} nodes: {result['seconds']:7.2f} s ({result['cpu_seconds']:.2f} s CPU)  "
            f"{result['peak_mb']:7.1f} MB  "
            f"{result['resources']} resources  runs {result['runs_seconds']}",
            flush=True,
        )
        out.append(result)
    return out


def _memoising_mocks() -> None:
    """Same type + name + inputs -> same key/certificate/token within this process."""
    from mockrun import mocks

    mocks.MEMO_ENABLED = True


def graph_checks(nodes: int, presets: bool) -> dict[str, Any]:
    """Blast radius, nondeterminism and the critical path, all on an `nodes`-node stack."""
    _memoising_mocks()
    from bench.evaluate import evaluate

    raw, secret = bench_config(nodes)
    base, _ = evaluate(raw, secret)
    again, _ = evaluate(raw, secret)
    nondeterministic = diff_graphs(base.registrations, again.registrations)
    added_raw, new_worker = with_worker_added(raw)
    added, _ = evaluate(added_raw, secret)
    relabelled_raw, relabelled = with_labels_changed(raw)
    relabelled_graph, _ = evaluate(relabelled_raw, secret)
    workers = [n["name"] for n in raw["nodes"] if n["roles"] == ["worker"]]
    own = [r.name for r in base.registrations if owned_by(r.name, workers[0])]
    chain = critical_path(
        base.registrations,
        lambda r: r.type in HOST_STEPS and any(owned_by(r.name, w) for w in workers),
    )
    result: dict[str, Any] = {
        "blast_radius_add_worker": {"nodes": nodes, "node": new_worker}
        | blast_radius(base.registrations, added.registrations, new_worker),
        "blast_radius_change_labels": {"nodes": nodes, "node": relabelled}
        | blast_radius(base.registrations, relabelled_graph.registrations, relabelled),
        "nondeterministic_resources": {
            f"bench-{nodes}": nondeterministic.changed + nondeterministic.added + nondeterministic.removed
        },
        "critical_path_steps": {"nodes": nodes, "steps": len(chain), "chain": chain},
        # What one more worker costs the evaluation: its own resources.
        "worker_resources": {"node": workers[0], "count": len(own), "names": own},
    }
    if presets:
        result["nondeterministic_resources"].update(preset_nondeterminism())
    return result


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The presets' own warnings (weave archived, aescbc...) are not the bench's output."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def preset_nondeterminism() -> dict[str, Any]:
    from mockrun.program import presets, run_preset
    from spec import SpecError

    out: dict[str, Any] = {}
    for path in presets():
        name = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        try:
            with _quiet():
                first, second = run_preset(path), run_preset(path)
        except SpecError as err:  # the dev (lab) preset needs a built lab mirror
            out[name] = {"skipped": str(err).splitlines()[-1].strip()}
            continue
        diff = diff_graphs(first.registrations, second.registrations)
        out[name] = diff.changed + diff.added + diff.removed
    return out


def summarise(
    sizes: list[dict[str, Any]],
    checks: dict[str, Any],
    lab: dict[str, Any],
    engine: dict[str, Any] | None = None,
) -> dict[str, Any]:
    by = {str(s["nodes"]): s for s in sizes}
    results: dict[str, Any] = {
        "eval_seconds_by_nodes": {k: v["seconds"] for k, v in by.items()},  # the median run
        "eval_seconds_runs_by_nodes": {k: v.get("runs_seconds", [v["seconds"]]) for k, v in by.items()},
        "eval_cpu_seconds_by_nodes": {k: v["cpu_seconds"] for k, v in by.items()},
        "peak_mb_by_nodes": {k: v["peak_mb"] for k, v in by.items()},
        "resources_by_nodes": {k: v["resources"] for k, v in by.items()},
        "host_steps_by_nodes": {k: v["host_steps"] for k, v in by.items()},
        # The cost of one registered resource: flat when evaluation is linear in resources.
        "cpu_ms_per_resource_by_nodes": {
            k: round(1000 * v["cpu_seconds"] / v["resources"], 2) for k, v in by.items()
        },
        "load_avg_by_nodes": {k: v["load"] for k, v in by.items()},
    }
    if "50" in by and "500" in by:
        ratio = by["500"]["seconds"] / by["50"]["seconds"]
        results["linearity"] = {
            "ratio_500_to_50": round(ratio, 2),
            "cpu_ratio_500_to_50": round(by["500"]["cpu_seconds"] / by["50"]["cpu_seconds"], 2),
            "max_ratio": MAX_RATIO_500_50,
            "seconds_500": by["500"]["seconds"],
            "max_seconds_500": MAX_SECONDS_500,
            "ok": ratio <= MAX_RATIO_500_50 and by["500"]["seconds"] <= MAX_SECONDS_500,
        }
    results.update(checks)
    results["lab"] = lab
    results["engine"] = engine if engine is not None else {"skipped": "not run"}
    results["machine"] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "system": platform.system(),
    }
    return results


def print_figures(results: dict[str, Any]) -> None:
    print("\nevaluation under mocks (nodes: seconds, peak MB, resources)")
    for n, s in results["eval_seconds_by_nodes"].items():
        cpu = results["eval_cpu_seconds_by_nodes"][n]
        print(
            f"  {n:>4}: {s:7.2f} s ({cpu:7.2f} s CPU) {results['peak_mb_by_nodes'][n]:8.1f} MB "
            f"{results['resources_by_nodes'][n]:6} resources"
        )
    if "linearity" in results:
        lin = results["linearity"]
        verdict = "ok" if lin["ok"] else "NOT MET"
        print(f"  500/50 = {lin['ratio_500_to_50']}x (max {lin['max_ratio']}), ", end="")
        print(f"500 nodes {lin['seconds_500']} s (max {lin['max_seconds_500']}): {verdict}")
    for key in ("blast_radius_add_worker", "blast_radius_change_labels"):
        if key in results:
            b = results[key]
            print(f"{key}: {b['count']} (node {b['node']} of {b['nodes']}; own: {b['own']})")
            for kind in ("changed", "added", "removed"):
                if b[kind]:
                    print(f"  {kind}: {', '.join(b[kind][:12])}{' ...' if len(b[kind]) > 12 else ''}")
    if "nondeterministic_resources" in results:
        print("nondeterministic_resources:")
        for stack, found in results["nondeterministic_resources"].items():
            if isinstance(found, dict):  # skipped, with the reason
                print(f"  {stack}: {found}")
            else:
                print(f"  {stack}: {len(found)} {', '.join(found[:5])}")
    if "worker_resources" in results:
        w = results["worker_resources"]
        print(f"worker_resources: {w['count']} of {w['node']}'s own")
    if "critical_path_steps" in results:
        c = results["critical_path_steps"]
        print(f"critical_path_steps: {c['steps']} ({c['nodes']} nodes)")
        for step in c["chain"]:
            print(f"  {step}")
    print(f"lab: {results['lab']}")
    engine_bench.print_engine(results.get("engine") or {"skipped": "not run"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--repeat", type=int, default=REPEAT, help="evaluations per size (median kept)")
    parser.add_argument("--blast-nodes", type=int, default=BLAST_NODES)
    parser.add_argument("--no-presets", action="store_true")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--no-lab", action="store_true")
    parser.add_argument(
        "--engine-sizes",
        default=",".join(map(str, engine_bench.SIZES)),
        help="node counts for the real engine (bench/engine.py)",
    )
    parser.add_argument(
        "--engine-timeout",
        type=float,
        default=engine_bench.TIMEOUT_SECONDS,
        help="seconds per engine size before it is recorded as timed out",
    )
    parser.add_argument(
        "--engine-interrupt-at",
        type=float,
        default=engine_bench.INTERRUPT_AT,
        help="kill the engine's first up after this share of its creates (0: no crash)",
    )
    parser.add_argument(
        "--engine-pool-size",
        type=int,
        default=engine_bench.POOL_SIZE,
        help="workers of the node pool stack measured beside each engine size (0: none)",
    )
    parser.add_argument("--no-engine", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(f"evaluating the {STACK} stack at {sizes} nodes, a process each", flush=True)
    measured = measure_sizes(sizes, args.repeat)
    print(f"blast radius, nondeterminism and critical path at {args.blast_nodes} nodes", flush=True)
    checks = graph_checks(args.blast_nodes, presets=not args.no_presets)
    lab = {"skipped": "--no-lab"} if args.no_lab else lab_timings()
    engine_sizes = [int(s) for s in args.engine_sizes.split(",") if s]
    if args.no_engine or not engine_sizes:
        engine = {"skipped": "--no-engine"}
    else:
        limit = f"at most {args.engine_timeout:.0f} s each"
        print(f"the real engine at {engine_sizes} nodes ({limit})", flush=True)
        engine = engine_bench.engine_timings(
            engine_sizes,
            args.engine_timeout,
            interrupt_at=args.engine_interrupt_at,
            pool_size=args.engine_pool_size,
        )
    results = summarise(measured, checks, lab, engine)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    if not args.no_plot:
        from bench.plot import plot

        plot(results, args.out / "latest.png")
    print_figures(results)
    print(f"\nwrote {args.out / 'latest.json'}" + ("" if args.no_plot else f" and {args.out / 'latest.png'}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
