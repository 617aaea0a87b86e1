"""The `lab` section: wall-clock seconds of up, a no-op up, adding a worker and destroy on the
local lab's dev stack.

With a `pulumi` CLI on PATH (the lab's `make up` puts the toolchain's there), each phase is a
pulumi command in a throw-away stack state, so that it never touches the developer's dev stack.
Without one (the Go module proxy here refuses the CLI), the same phases run through the engine
stand-in, tests/harness/replay.py: the program under the mocks, providers seeded with the
previous state, and only the resources that differ created, updated or deleted on the hosts.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def lab_timings() -> dict[str, Any]:
    if os.geteuid() != 0:
        return {"skipped": "the lab needs root (systemd-nspawn, network namespaces)"}
    cli = shutil.which("pulumi")
    if cli is None:
        return replay_timings()
    with tempfile.TemporaryDirectory(prefix="k8sfs-bench-") as tmp:
        state = Path(tmp) / "state"
        state.mkdir()
        config = Path(tmp) / "Pulumi.dev.yaml"
        shutil.copy(REPO / "Pulumi.dev.yaml", config)
        env = {
            **os.environ,
            "PULUMI_BACKEND_URL": f"file://{state}",
            "PULUMI_CONFIG_PASSPHRASE": "k8s-from-scratch-bench",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        }

        def run(*args: str) -> float:
            start = time.monotonic()
            subprocess.run(args, cwd=REPO, env=env, check=True, capture_output=True, text=True, timeout=3600)
            return round(time.monotonic() - start, 1)

        def pulumi(*args: str) -> float:
            return run(cli, *args, "--stack", "dev", "--config-file", str(config), "--non-interactive")

        timings: dict[str, Any] = {}
        try:
            pulumi("stack", "init", "dev")
            run("make", "lab-mirror")
            run("bash", "lab/lab.sh", "base")
            timings["up_seconds"] = pulumi("up", "--yes")
            timings["noop_up_seconds"] = pulumi("up", "--yes", "--expect-no-changes")
            workers = 3  # Pulumi.dev.yaml has 2
            pulumi("config", "set", "--path", "lab.workers", str(workers))
            timings["add_worker_seconds"] = pulumi("up", "--yes")
        except subprocess.CalledProcessError as err:
            timings["error"] = f"{' '.join(map(str, err.cmd))}: {(err.stderr or '')[-2000:]}"
        finally:
            try:
                timings["destroy_seconds"] = pulumi("destroy", "--yes")
            except subprocess.CalledProcessError as err:
                timings["destroy_error"] = (err.stderr or "")[-2000:]
        return timings


def replay_timings() -> dict[str, Any]:
    """The same phases with the engine stand-in (a fresh lab; it is torn down afterwards)."""
    from bench.graph_diff import owned_by
    from lab import mirror
    from spec import load_spec
    from tests.harness import mocks
    from tests.harness.program import Graph, preset_config, run_program
    from tests.harness.replay import Changes, Replay, apply_changes, kubectl_path, seed_providers

    for tool in ("systemd-nspawn", "debootstrap", "ip"):
        if shutil.which(tool) is None:
            return {"skipped": f"{tool} missing: run lab/install-deps.sh"}
    if not Path(kubectl_path()).is_file():
        return {"skipped": "no kubectl: run toolchain/build.sh kubernetes"}
    path = REPO / "Pulumi.dev.yaml"
    raw, secret = preset_config(path)
    spec, _ = load_spec(raw, "dev", frozenset(secret))
    out = Path(f"{spec.lab.work_dir}/mirror")
    if mirror.main(["build", "--stack-file", str(path), "--out", str(out)]) != 0:
        return {"skipped": "the lab mirror could not be built: run toolchain/build.sh"}
    subprocess.run([str(REPO / "lab" / "lab.sh"), "base"], check=True, timeout=1800, capture_output=True)
    os.environ["K8SFS_LAB_MIRROR_DIR"] = str(out)
    mocks._memo.clear()  # the graph checks' memo: this stack's providers start empty

    def evaluate(config: dict[str, Any]) -> Graph:
        return run_program(config, "dev", secret)

    quiet: dict[str, Any] = {"log": lambda line: None}
    timings: dict[str, Any] = {"engine": "tests/harness/replay.py (no pulumi CLI here)"}
    start = time.monotonic()
    graph = evaluate(raw)
    first = Replay(graph, kubectl_path(), **quiet)
    live: list[tuple[Graph, set[str]]] = [(graph, first.created)]
    try:
        first.up()
        done = time.monotonic()
        timings["up_seconds"] = round(done - start, 1)
        booted = max(r.ended for n, r in first.results.items() if n.startswith("dev-lab-host-"))
        timings["up_from_booted_hosts_seconds"] = round(done - booted, 1)

        start = time.monotonic()
        seed_providers(graph)
        again = evaluate(raw)
        same = Changes.between(graph, again)
        apply_changes(graph, again, same, created=first.created, **quiet)
        timings["noop_up_seconds"] = round(time.monotonic() - start, 1)
        timings["noop_up_changes"] = same.count

        bigger_raw = copy.deepcopy(raw)
        bigger_raw["lab"]["workers"] += 1
        new = f"lab-worker-{bigger_raw['lab']['workers']}"
        start = time.monotonic()
        bigger = evaluate(bigger_raw)
        added = Changes.between(graph, bigger)
        _, ahead = apply_changes(graph, bigger, added, created=first.created, **quiet)
        live = [(bigger, ahead.created)]
        timings["add_worker_seconds"] = round(time.monotonic() - start, 1)
        names = added.names(graph, bigger)
        timings["add_worker_resources"] = len(names["create"])
        timings["add_worker_other_resources_touched"] = [
            n for verb in ("create", "update", "delete") for n in names[verb] if not owned_by(n, new)
        ]
    except Exception as err:  # the figures so far, and the reason, are the result
        timings["error"] = str(err)[-2000:]
    finally:
        final, created = live[-1]
        start = time.monotonic()
        Replay(final, kubectl_path(), created=created, **quiet).down()
        timings["destroy_seconds"] = round(time.monotonic() - start, 1)
    return timings
