"""Replays the program's resource graph on real hosts: a stand-in for the Pulumi engine.

The Pulumi CLI and its provider plugins cannot be built here (the Go module proxy refuses
them), so the end-to-end tier runs the program under the faithful mocks (real keys and
certificates from the tls mock) and then does what the engine would do with each recorded
resource, in dependency order and in parallel where the graph allows:
- command:local:Command / command:remote:Command: run `create` (or `delete`) with its stdin,
  locally or over SSH with the recorded connection;
- Kubernetes objects: server-side apply with kubectl and the admin kubeconfig (NodePatch too);
- tls, random and providers: nothing to do, the mocks produced their values.
An `up` over an earlier one does what the engine does with its state: the providers keep the
state of resources whose inputs did not change (`seed_providers`: the same keys, certificates
and tokens), and only what differs runs (`Changes`: create the added, update the changed with
their `update` or `create` script, delete the removed, in dependency order). What this cannot
show is the engine's own previews and replacement logic.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dill  # type: ignore[import-untyped]

from components.ssh import Target, run
from tests.harness.program import REPO, Graph
from tests.harness.recorder import Registration

COMMANDS = ("command:local:Command", "command:remote:Command")
DYNAMIC = "pulumi-python:dynamic"
NOTHING_TO_DO = ("tls:", "random:", "pulumi:providers:")


class ReplayError(RuntimeError):
    pass


@dataclass
class StepResult:
    name: str
    seconds: float
    stdout: str
    ended: float = 0.0  # time.monotonic() when the step finished


@dataclass
class Replay:
    graph: Graph
    kubectl: str
    parallel: int = 6
    log: Callable[[str], None] = print
    results: dict[str, StepResult] = field(default_factory=dict)
    # Names of the resources that exist (as Pulumi state would record): `down` deletes only these.
    created: set[str] = field(default_factory=set)
    state_file: Path | None = None
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # dynamic resources' state
    ids: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.customs = {r.urn: r for r in self.graph.registrations if r.custom}
        self.deps = {urn: self._direct_deps(r) for urn, r in self.customs.items()}
        self._lock = threading.Lock()

    def _direct_deps(self, reg: Registration) -> set[str]:
        deps = set(reg.dependencies)
        for urns in reg.property_dependencies.values():
            deps |= set(urns)
        if reg.provider:  # a resource waits for its provider (the URN before '::' + id)
            deps.add(reg.provider.rsplit("::", 1)[0])
        return {d for d in deps if d in self.customs and d != reg.urn}

    # --- scheduling ----------------------------------------------------------------------

    def _run_graph(
        self,
        order: dict[str, set[str]],
        action: Callable[[Registration], None],
        select: Callable[[Registration], bool],
    ) -> None:
        """Runs `action` on every selected resource once all of `order[urn]` are done."""
        pending = {u: set(d) for u, d in order.items()}
        done: set[str] = set()
        running: dict[Future[None], str] = {}
        with ThreadPoolExecutor(max_workers=self.parallel) as pool:
            while pending or running:
                ready = [u for u, d in pending.items() if d <= done]
                for urn in sorted(ready, key=self._position):
                    del pending[urn]
                    reg = self.customs[urn]
                    if select(reg):
                        running[pool.submit(self._timed, action, reg)] = urn
                    else:
                        done.add(urn)
                if not running:
                    if pending and not ready:
                        raise ReplayError(f"dependency cycle among {sorted(pending)[:5]}")
                    continue
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    urn = running.pop(fut)
                    fut.result()  # re-raises the step's failure: stop like the engine does
                    done.add(urn)

    def _position(self, urn: str) -> int:
        return next(i for i, r in enumerate(self.graph.registrations) if r.urn == urn)

    def _timed(self, action: Callable[[Registration], None], reg: Registration) -> None:
        start = time.monotonic()
        action(reg)
        seconds = time.monotonic() - start
        with self._lock:
            self.results.setdefault(reg.name, StepResult(reg.name, seconds, ""))
            self.results[reg.name].seconds = seconds
            self.results[reg.name].ended = time.monotonic()
        self.log(f"  {seconds:6.1f}s {reg.name}")

    # --- up and down ---------------------------------------------------------------------

    def up(self, select: Callable[[Registration], bool] = lambda r: True) -> None:
        self._run_graph(self.deps, self._create, select)

    def update(self, old: Graph, changed: set[str]) -> None:
        """The engine's update of each changed resource (by URN), in dependency order."""
        before = {r.urn: r for r in old.registrations}
        self._run_graph(self.deps, lambda reg: self._update(before[reg.urn], reg), lambda r: r.urn in changed)

    def down(self, select: Callable[[Registration], bool] = lambda r: True) -> None:
        reverse: dict[str, set[str]] = {u: set() for u in self.customs}
        for urn, deps in self.deps.items():
            for dep in deps:
                reverse[dep].add(urn)
        self._run_graph(reverse, self._delete, select)

    # --- actions -------------------------------------------------------------------------

    def _record(self, name: str, exists: bool) -> None:
        with self._lock:
            (self.created.add if exists else self.created.discard)(name)
            if self.state_file is not None:
                self.state_file.write_text("\n".join(sorted(self.created)) + "\n")

    def _create(self, reg: Registration) -> None:
        self._apply(reg)
        self._record(reg.name, True)

    def _delete(self, reg: Registration) -> None:
        if reg.name in self.created:
            self._remove(reg)
            self._record(reg.name, False)

    def dynamic(self, reg: Registration) -> tuple[Any, dict[str, Any]]:
        """A dynamic resource's provider (unpickled as the engine's dynamic host does) and props."""
        provider = dill.loads(base64.b64decode(reg.inputs["__provider"]))
        props = {k: v for k, v in reg.inputs.items() if k != "__provider"}
        return provider, props

    def _apply(self, reg: Registration) -> None:
        if reg.type.startswith(DYNAMIC):
            provider, props = self.dynamic(reg)
            result = provider.create(props)
            with self._lock:
                self.outputs[reg.name] = result.outs or props
                self.ids[reg.name] = result.id
        elif reg.type in COMMANDS:
            self._command(reg, reg.inputs.get("create") or "", reg.inputs.get("stdin") or "")
        elif reg.type.startswith("kubernetes:"):
            self._kubectl_apply(reg)
        elif not reg.type.startswith(NOTHING_TO_DO):
            raise ReplayError(f"no replay for {reg.type} ({reg.name})")

    def _update(self, old: Registration, reg: Registration) -> None:
        if reg.type.startswith(DYNAMIC):
            provider, props = self.dynamic(reg)
            _, olds = self.dynamic(old)
            result = provider.update(self.ids.get(reg.name, old.resource_id), olds, props)
            with self._lock:
                self.outputs[reg.name] = result.outs or props
        elif reg.type in COMMANDS:
            script = reg.inputs.get("update") or reg.inputs.get("create") or ""
            self._command(reg, script, reg.inputs.get("stdin") or "")
        else:
            self._apply(reg)
        self._record(reg.name, True)

    def _remove(self, reg: Registration) -> None:
        if reg.type.startswith(DYNAMIC):
            provider, props = self.dynamic(reg)
            provider.delete(self.ids.get(reg.name, reg.name), self.outputs.get(reg.name, props))
        elif reg.type in COMMANDS and reg.inputs.get("delete"):
            self._command(reg, reg.inputs["delete"])
        elif reg.type.startswith("kubernetes:") and reg.type != "kubernetes:core/v1:NodePatch":
            self._kubectl(["delete", "--ignore-not-found", "--wait=false", "-f", "-"], self._manifest(reg))

    def _command(self, reg: Registration, script: str, stdin: str = "") -> None:
        if reg.type == "command:local:Command":
            env = {**os.environ, **(reg.inputs.get("environment") or {})}
            proc = subprocess.run(
                ["/bin/sh", "-c", script],
                input=stdin,
                text=True,
                capture_output=True,
                cwd=reg.inputs.get("dir") or REPO,
                env=env,
                timeout=900,
            )
            code, out, err = proc.returncode, proc.stdout, proc.stderr
        else:
            result = run(_target(reg.inputs["connection"]), script, stdin, timeout=900)
            code, out, err = result.code, result.stdout, result.stderr
        with self._lock:
            self.results[reg.name] = StepResult(reg.name, 0.0, out)
        if code != 0:
            raise ReplayError(
                f"{reg.name} failed (exit {code}):\n{err.strip()[-3000:]}\n{out.strip()[-1500:]}"
            )

    def _manifest(self, reg: Registration) -> str:
        obj = {k: v for k, v in reg.inputs.items() if not k.startswith("__")}
        return json.dumps(obj)

    def _kubectl_apply(self, reg: Registration) -> None:
        self._kubectl(
            ["apply", "--server-side", "--force-conflicts", "--field-manager=k8s-from-scratch", "-f", "-"],
            self._manifest(reg),
        )

    def _kubectl(self, args: list[str], stdin: str) -> str:
        with tempfile.NamedTemporaryFile("w", suffix=".kubeconfig", delete=False) as handle:
            handle.write(self.admin_kubeconfig())
        try:
            for attempt in range(30):  # a fresh API server may still be warming up its RBAC
                proc = subprocess.run(
                    [self.kubectl, "--kubeconfig", handle.name, *args],
                    input=stdin,
                    text=True,
                    capture_output=True,
                    timeout=120,
                )
                if proc.returncode == 0:
                    return proc.stdout
                if attempt == 29:
                    raise ReplayError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
                time.sleep(2)
        finally:
            os.unlink(handle.name)
        return ""

    def admin_kubeconfig(self) -> str:
        (provider,) = [r for r in self.graph.registrations if r.type == "pulumi:providers:kubernetes"]
        return str(provider.inputs["kubeconfig"])


@dataclass(frozen=True)
class Changes:
    """What an `up` over `old` does to reach `new`, by URN, as the engine would diff them."""

    create: frozenset[str]
    update: frozenset[str]
    delete: frozenset[str]

    @classmethod
    def between(cls, old: Graph, new: Graph) -> Changes:
        from bench.graph_diff import diff_urns

        changed, added, removed = diff_urns(
            [r for r in old.registrations if r.custom], [r for r in new.registrations if r.custom]
        )
        return cls(create=frozenset(added), update=frozenset(changed), delete=frozenset(removed))

    @property
    def count(self) -> int:
        return len(self.create) + len(self.update) + len(self.delete)

    def names(self, old: Graph, new: Graph) -> dict[str, list[str]]:
        by_urn = {r.urn: r.name for r in [*old.registrations, *new.registrations]}
        return {
            "create": sorted(by_urn[u] for u in self.create),
            "update": sorted(by_urn[u] for u in self.update),
            "delete": sorted(by_urn[u] for u in self.delete),
        }


def seed_providers(saved: Graph) -> None:
    """As the engine's state does for the providers: a tls or random resource whose inputs did not
    change keeps its keys, certificates and tokens (tests/harness/mocks.py's memo, in this process)."""
    from tests.harness import mocks

    mocks.MEMO_ENABLED = True
    for reg in saved.registrations:
        if reg.custom and reg.type.startswith(mocks.MEMO_PREFIXES):
            mocks.remember(reg.type, reg.name, reg.inputs, reg.resource_id, reg.outputs)


def apply_changes(old: Graph, new: Graph, changes: Changes, **replay_args: Any) -> tuple[Replay, Replay]:
    """Runs `changes`: deletes (over the old graph, dependents first), then creates and updates
    (over the new one, dependencies first). Returns both replays (their results, for timings)."""
    gone = Replay(old, kubectl_path(), **replay_args)
    gone.down(lambda r: r.urn in changes.delete)
    ahead = Replay(new, kubectl_path(), **{**replay_args, "created": gone.created})
    ahead.up(lambda r: r.urn in changes.create)
    ahead.update(old, set(changes.update))
    return gone, ahead


def _target(conn: dict[str, Any]) -> Target:
    """A recorded connection input (wire names) as an SSH target."""
    return Target.from_props(_snake(conn))


def _snake(conn: dict[str, Any]) -> dict[str, Any]:
    proxy = conn.get("proxy")
    return {
        "host": conn["host"],
        "port": conn.get("port"),
        "user": conn.get("user"),
        "private_key": conn["privateKey"],
        "host_key": conn.get("hostKey"),
        "proxy": _snake(proxy) if proxy else None,
    }


def host_target(graph: Graph, node: str) -> Target:
    """The SSH target of a node, as its Host's steps use it."""
    reg = next(r for r in graph.registrations if r.name.endswith(f"-host-{node}-prepare"))
    return _target(reg.inputs["connection"])


def kubectl_path() -> str:
    toolchain = Path(os.environ.get("K8SFS_TOOLCHAIN_DIR", "/var/cache/k8s-from-scratch/toolchain"))
    found = sorted(toolchain.glob("kubernetes/v*/linux-amd64/kubectl"))
    if found:
        return str(found[-1])
    return "kubectl"


def save_graph(graph: Graph, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = {"registrations": [dataclasses.asdict(r) for r in graph.registrations]}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, default=sorted)


def load_graph(path: Path) -> Graph:
    data = json.loads(path.read_text())
    regs = []
    for item in data["registrations"]:
        item["secret_paths"] = set(item["secret_paths"])
        regs.append(Registration(**item))
    return Graph(regs, {})


def main(argv: list[str] | None = None) -> int:
    """python -m tests.harness.replay up|down [--stack-file Pulumi.dev.yaml] [--keep-lab]"""
    import argparse

    from spec import load_spec
    from tests.harness.program import preset_config, run_program

    parser = argparse.ArgumentParser(prog="python -m tests.harness.replay")
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument("--stack-file", type=Path, default=REPO / "Pulumi.dev.yaml")
    parser.add_argument("--keep-lab", action="store_true", help="down: leave the lab hosts running")
    args = parser.parse_args(argv)
    raw, secret = preset_config(args.stack_file)
    stack = args.stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
    load_spec(raw, stack, frozenset(secret))
    # The graph holds generated keys (the lab's SSH key among them): `down` must use the graph
    # `up` used, so it is kept like Pulumi state (secrets inside: mode 0600, git-ignored).
    state = REPO / ".state" / "replay" / f"{stack}.json"
    created_file = state.with_suffix(".created")
    created = set(created_file.read_text().split()) if created_file.exists() else set()
    start = time.monotonic()
    if args.command == "up" and state.exists() and created:
        # An up over an earlier one: only what changed runs, as with the engine's state.
        old = load_graph(state)
        seed_providers(old)
        graph = run_program(raw, stack, secret)
        changes = Changes.between(old, graph)
        names = changes.names(old, graph)
        print(
            f"replay up: {len(names['create'])} to create, {len(names['update'])} to update, "
            f"{len(names['delete'])} to delete"
        )
        for verb, listed in names.items():
            for name in listed:
                print(f"  {verb} {name}")
        apply_changes(old, graph, changes, created=created, state_file=created_file)
        save_graph(graph, state)
    else:
        if args.command == "up" or not state.exists():
            graph = run_program(raw, stack, secret)
            save_graph(graph, state)
        else:
            graph = load_graph(state)
        replay = Replay(graph, kubectl_path(), created=created, state_file=created_file)
        if args.command == "up":
            replay.up()
        else:
            # The lab's hosts, bridge and mirror are its local commands.
            replay.down(lambda r: not (args.keep_lab and r.type == "command:local:Command"))
    print(f"replay {args.command}: {time.monotonic() - start:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
