"""Node pool figures of the engine bench (issue #17): what one more worker costs in a pool stack.

One stack's every step rewrites its whole state, so a change to one node costs more the bigger
the stack (docs/scale.md). A pool stack (docs/nodes.md "Node pools", components/node_pool.py)
holds only its workers and reads its cluster through the cluster stack's secret `pool` output.
For each cluster size N that bench/engine.py measured, once the N-node stack is up (and has
had its worker added) and the fake API still serves it:

1. a pool stack, `bench-pool`, is made in the same project folder and backend: `pool.cluster`
   is the bench cluster stack (`bench`), `nodes` its `--pool-size` workers (p1..pP, addresses in
   10.22.0.0/16, put on the fake site's loopback: its sshd answers them as it answers the
   cluster's), `ssh` the cluster's, its private key the same one, set as a secret by the CLI;
2. `pool_preview`: `pulumi preview` of the fresh pool stack;
3. `pool_up`: `pulumi up --skip-preview`, the whole pool against the fake hosts and API (its
   tokens and allow lists are created in the cluster's API; the join steps "wait" on fake hosts
   that answer every command with success); `state` is the pool stack's saved state;
4. `pool_noop_up`: the same again, nothing changed: `changed` must be empty;
5. `pool_add_worker_up`: one more worker in the pool (with_pool_worker_added), `pulumi up
   --skip-preview`: `own` its resources, `others` any other resource changed (must be none,
   bench.graph_diff.owned_by as for add_worker_up), `only_that_worker`.

What the figures are for: a pool's costs should not depend on N (the same pool at N = 10 and
N = 50 costs the same), and `pool_add_worker_up` should cost about what `add_worker_up` costs
on a 10-node stack (a pool of 20 is about as many resources). `summarise_pool` puts them by
operation beside the others (`pool_<op>_seconds_by_nodes`...) and `pool_scaling` says how far
each pool figure moved between the smallest and the largest N.

The pool's `-forget` steps (one per worker: create `true`, delete a local python3 that deletes
the Node through the API) are created and never run: the bench never destroys.
"""

from __future__ import annotations

import copy
from typing import Any

from bench.engine import (
    Bench,
    Step,
    _line,
    changes,
    classify_add_worker,
    state_figures,
)
from bench.stacks import SSH_KEY, STACK

POOL_STACK = f"{STACK}-pool"
# The pool's figures, by phase; each is engine.sizes.N.pool.<phase>.
PHASES = ("pool_preview", "pool_up", "pool_noop_up", "pool_add_worker_up")
FIGURES = ("seconds", "cpu_seconds", "peak_mb", "engine_peak_mb")
POOL_LABEL = {"bench.example.com/pool": "bench-pool"}


# --- the pool stack's config (pure) -----------------------------------------------------------


def pool_worker_name(i: int) -> str:
    return f"p{i}"


def pool_worker_address(i: int) -> str:
    """10.22.0.0/16: apart from the cluster's nodes (10.20/16, 10.21/16), its pod range
    (10.240.0.0/14) and the default service range (10.96.0.0/12)."""
    return f"10.22.{i // 250}.{i % 250 + 1}"


def pool_worker(i: int, labels: dict[str, str] | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {
        "name": pool_worker_name(i),
        "address": pool_worker_address(i),
        "roles": ["worker"],
    }
    if labels:
        node["labels"] = labels
    return node


def pool_config(cluster: str, size: int) -> tuple[dict[str, Any], set[str]]:
    """(raw config, keys set as secrets) of a pool stack of `size` workers joining the stack
    `cluster`: what a pool sets, pool.cluster, nodes and ssh (spec.pool.POOL_KEYS)."""
    if size < 1:
        raise ValueError("a pool needs at least one worker")
    raw = {
        "pool": {"cluster": cluster},
        "nodes": [pool_worker(i, POOL_LABEL) for i in range(1, size + 1)],
        "ssh": {"user": "root", "privateKey": SSH_KEY},
    }
    return raw, {"ssh"}


def with_pool_worker_added(raw: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The same pool with one more worker at the end of its list, labelled as the pool's (a
    later config listing it with the label changes nothing of it); returns its name."""
    changed = copy.deepcopy(raw)
    taken = {n["name"] for n in changed["nodes"]}
    i = 1
    while pool_worker_name(i) in taken:
        i += 1
    changed["nodes"].append(pool_worker(i, POOL_LABEL))
    return changed, pool_worker_name(i)


def addresses(raw: dict[str, Any]) -> list[str]:
    return [n["address"] for n in raw["nodes"]]


# --- the figures (pure) ---------------------------------------------------------------------------


def noop_figures(figures: dict[str, Any], steps: list[Step]) -> dict[str, Any]:
    return {**figures, "changed": [f"{s.op} {s.name}" for s in changes(steps)]}


def summarise_pool(sizes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """By operation, like bench.engine.summarise_engine: `pool_<op>_seconds_by_nodes`,
    `..._cpu_seconds_by_nodes`, `..._peak_mb_by_nodes` (N: the cluster's size), the pool's
    resources and state bytes by N, and `pool_scaling`."""
    pools = {n: r["pool"] for n, r in sizes.items() if isinstance(r.get("pool"), dict)}
    out: dict[str, Any] = {}
    for op in PHASES:
        for figure in ("seconds", "cpu_seconds", "peak_mb"):
            out[f"{op}_{figure}_by_nodes"] = {
                n: p[op][figure] for n, p in pools.items() if figure in p.get(op, {})
            }
    out["pool_resources_by_nodes"] = {
        n: p["pool_preview"]["resources"]
        for n, p in pools.items()
        if "resources" in p.get("pool_preview", {})
    }
    out["pool_state_bytes_by_nodes"] = {n: p["state"]["bytes"] for n, p in pools.items() if "state" in p}
    out["pool_scaling"] = pool_scaling(sizes)
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(b / a, 2) if a and b is not None else None


def pool_scaling(sizes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What the pool's figures show: for each pool phase, the ratio of its figures at the largest
    cluster size to the smallest (`by_cluster_size`: 1.0 is "does not depend on N"), and adding a
    worker to the pool beside adding one to the smallest single stack measured
    (`add_worker_vs_stack`: pool / stack, per N, and the smallest stack's own figures)."""
    measured = sorted((int(n) for n, r in sizes.items() if isinstance(r.get("pool"), dict)))
    out: dict[str, Any] = {"cluster_sizes": [str(n) for n in measured]}
    if len(measured) >= 2:
        low, high = sizes[str(measured[0])]["pool"], sizes[str(measured[-1])]["pool"]
        out["by_cluster_size"] = {
            op: {f: _ratio(low[op].get(f), high[op].get(f)) for f in FIGURES}
            for op in PHASES
            if op in low and op in high
        }
    stacks = sorted(int(n) for n, r in sizes.items() if "seconds" in r.get("add_worker_up", {}))
    if stacks:
        base = str(stacks[0])
        stack = sizes[base]["add_worker_up"]
        out["add_worker_vs_stack"] = {
            "stack_nodes": base,
            "stack": {f: stack.get(f) for f in FIGURES},
            "pool_over_stack": {
                str(n): {
                    f: _ratio(stack.get(f), sizes[str(n)]["pool"]["pool_add_worker_up"].get(f))
                    for f in FIGURES
                }
                for n in measured
                if "pool_add_worker_up" in sizes[str(n)]["pool"]
            },
        }
    return out


def pool_table(engine: dict[str, Any]) -> list[str]:
    """The pool's lines of print_engine: per cluster size, each pool phase's seconds / peak MB,
    beside the single stack's add_worker_up."""
    rows = [(n, r["pool"]) for n, r in (engine.get("sizes") or {}).items() if isinstance(r.get("pool"), dict)]
    if not rows:
        return []
    size = rows[0][1].get("size", "?")
    heads = ("preview", "up", "no-op up", "add worker", "stack: add")
    lines = [
        f"node pool of {size} workers beside each cluster (N: seconds / peak MB of the process tree)",
        f"  {'N':>5} {'resources':>9} " + " ".join(f"{h:>15}" for h in heads),
    ]
    for n, pool in rows:
        stack = engine["sizes"][n].get("add_worker_up") or {}
        cells = [_cell(pool.get(op) or {}) for op in PHASES] + [_cell(stack)]
        resources = (pool.get("pool_preview") or {}).get("resources", "-")
        lines.append(f"  {n:>5} {resources:>9} " + " ".join(f"{c:>15}" for c in cells))
        if (pool.get("pool_noop_up") or {}).get("changed"):
            lines.append(f"        pool no-op up changed: {', '.join(pool['pool_noop_up']['changed'][:8])}")
        add = pool.get("pool_add_worker_up") or {}
        if add:
            lines.append(
                f"        pool add {add['node']}: own {add['own']}, others {add['others'][:8] or 'none'}"
            )
    return lines


def _cell(f: dict[str, Any]) -> str:
    return f"{f['seconds']:7.1f}/{f['peak_mb']:6.0f}" if "seconds" in f else f"{'-':>14}"


# --- running it -----------------------------------------------------------------------------------


class PoolBench(Bench):
    """The pool stack's commands: the cluster bench's project folder, backend, site and deadline,
    `--stack bench-pool`. Its phases are named `pool_*` (Bench.preview's `preview` is
    `pool_preview`): a timeout or an error names the pool's phase."""

    stack = POOL_STACK

    @property
    def phase(self) -> str:
        return self._phase

    @phase.setter
    def phase(self, value: str) -> None:
        self._phase = value if value.startswith("pool_") else f"pool_{value}"


def pool_bench(cluster: Bench) -> PoolBench:
    pool = PoolBench(cluster.cli, cluster.workdir, cluster.site, cluster.deadline)
    pool.started = cluster.started  # a timeout says how long the whole size ran
    return pool


def measure_pool(bench: PoolBench, size: int, private_key: str, result: dict[str, Any]) -> None:
    """The pool phases, each recorded in result["pool"] as it finishes (a timeout or an error
    is the caller's to record, as for the cluster's phases)."""
    nodes = result["nodes"]
    raw, _ = pool_config(STACK, size)
    added_raw, new_worker = with_pool_worker_added(raw)
    cluster_nodes = nodes + (1 if "add_worker_up" in result else 0)  # what the pool output lists
    pool: dict[str, Any] = {"stack": POOL_STACK, "size": size, "cluster_nodes": cluster_nodes}
    result["pool"] = pool
    bench.site.add_addresses(addresses(added_raw))
    bench.init_stack(raw, private_key)

    def say(what: str, text: str) -> None:
        print(f"  {nodes:>4} nodes: pool of {size}: {what} {text}", flush=True)

    pool["pool_preview"], _ = bench.preview()
    say("preview", _line(pool["pool_preview"]))

    figures, _ = bench.up("pool_up")
    pool["pool_up"] = figures
    say("up", _line(figures))
    pool["state"] = state_figures(bench.export())

    figures, steps = bench.up("pool_noop_up")
    pool["pool_noop_up"] = noop_figures(figures, steps)
    say("no-op up", f"{_line(figures)}, {len(pool['pool_noop_up']['changed'])} changed")

    bench.write_config(added_raw)
    figures, steps = bench.up("pool_add_worker_up")
    pool["pool_add_worker_up"] = {**figures, **classify_add_worker(steps, new_worker)}
    verdict = "only its own" if pool["pool_add_worker_up"]["only_that_worker"] else "OTHERS TOO"
    say("add a worker", f"{_line(figures)}, {verdict}")
