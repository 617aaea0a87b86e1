"""Find and repair drift on the hosts, also while the cluster's API cannot answer.

    python -m scripts.repair_hosts [--stack NAME] [--config-file F] [--dry-run]   (lab: make repair)

`pulumi up --refresh` refreshes every resource, Kubernetes objects included, and fails outright
when the API is down (a stopped etcd, a broken kube-apiserver flag): the very drift it should
repair stops it. Host drift lives in each host's DriftGuard and HostLib (its script library;
docs/drift.md), or in a worker-only node's NodeHost, which is both, so this runs:

1. `pulumi refresh --target <every guard and library>`: each probes its host over SSH; prints,
   per host, what drifted;
2. `pulumi up --target <every drifted one>`: each library writes back its missing or changed
   files, then each guard puts its host back (files, units, binaries) and restarts only the
   services concerned; prints, per host, what it repaired;
3. `pulumi refresh` of the whole stack, now that the hosts are repaired: what still cannot be
   refreshed (an API that is still down) is said in one line each; it does not undo step 2.
   Workloads the outage disturbed (pods that lost their network or their node for a while) come
   back within a minute or two; until then the Kubernetes provider records them as unhealthy,
   and the next `pulumi up` would "update" them. So the unhealthy ones are refreshed again every
   few seconds until they are healthy (at most `--settle` seconds), and any left are named.

`pulumi` must be on PATH with the stack's backend and secrets passphrase in the environment, run
from the project folder. Exit status 0 when every host is as expected afterwards, else 1.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from components import drift_guard, host_lib, node_host
from components.drift_guard import REPAIRED

# What each kind of guard holds: expected (inputs) and read (outputs) -> the differences. A
# worker-only node's NodeHost is its own guard and library (components/node_host.py).
KINDS: dict[str, Callable[[dict[str, Any], dict[str, Any]], Sequence[object]]] = {
    ":DriftGuard": drift_guard.drifts,
    ":HostLib": host_lib.drifts,
    ":NodeHost": node_host.drifts,
}
UNHEALTHY = "Refreshed resource is in an unhealthy state"
SETTLE_SECONDS = 240
SETTLE_EVERY_SECONDS = 10


@dataclass(frozen=True)
class Guard:
    """A DriftGuard or a HostLib: what it expects of its host and what the last refresh read."""

    urn: str
    type: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    def drifts(self) -> Sequence[object]:
        kind = next(k for k in KINDS if self.type.endswith(k))
        return KINDS[kind](self.inputs, self.outputs)


def guards(export: dict[str, Any]) -> list[Guard]:
    """The DriftGuards and HostLibs in a `pulumi stack export` document, in state order (a host's
    library before its guard)."""
    resources = export.get("deployment", {}).get("resources") or []
    return [
        Guard(r["urn"], r["type"], r.get("inputs") or {}, r.get("outputs") or {})
        for r in resources
        if r.get("type", "").startswith("pulumi-python:dynamic") and r["type"].endswith(tuple(KINDS))
    ]


def _diagnostics(events: Sequence[dict[str, Any]], severity: str) -> dict[str, str]:
    """URN -> its first message of this severity, from the engine's events (`--json` streams
    them)."""
    out: dict[str, str] = {}
    for event in events:
        diag = event.get("diagnosticEvent")
        if not diag or diag.get("severity") != severity or not diag.get("urn"):
            continue
        message = " ".join(diag.get("message", "").split())
        out.setdefault(diag["urn"], message[:300])
    return out


def failed_resources(events: Sequence[dict[str, Any]]) -> dict[str, str]:
    """URN -> its error."""
    return _diagnostics(events, "error")


def unhealthy_resources(events: Sequence[dict[str, Any]]) -> list[str]:
    """The URNs a refresh found in an unhealthy state (the Kubernetes provider's warning)."""
    warnings = _diagnostics(events, "warning")
    return sorted(urn for urn, message in warnings.items() if UNHEALTHY in message)


class Pulumi:
    def __init__(self, stack: str | None, config_file: str | None) -> None:
        self.stack = ["--stack", stack] if stack else []
        self.config = ["--config-file", config_file] if config_file else []

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        config = self.config if args[0] != "stack" else []  # `stack export` reads no config
        command = ["pulumi", *args, *self.stack, *config, "--non-interactive"]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    def export(self) -> dict[str, Any]:
        result = self.run("stack", "export")
        if result.returncode != 0:
            raise SystemExit(f"pulumi stack export failed:\n{result.stderr.strip()}")
        exported: dict[str, Any] = json.loads(result.stdout)
        return exported


def _targets(urns: Sequence[str]) -> list[str]:
    return [arg for urn in urns for arg in ("--target", urn)]


def engine_events(stdout: str) -> list[dict[str, Any]]:
    """The engine events `--json` streams (one JSON object a line; anything else is skipped)."""
    out = []
    for line in stdout.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            out.append(event)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", help="the stack (default: the selected one)")
    parser.add_argument("--config-file", help="the stack's config file (default: Pulumi.<stack>.yaml)")
    parser.add_argument("--dry-run", action="store_true", help="only find and print drift")
    parser.add_argument(
        "--settle",
        type=int,
        default=SETTLE_SECONDS,
        help="seconds to wait for disturbed workloads to be healthy again (default %(default)s)",
    )
    args = parser.parse_args(argv)
    pulumi = Pulumi(args.stack, args.config_file)

    found = guards(pulumi.export())
    if not found:
        print("no DriftGuard in this stack's state: nothing to check (has it been `pulumi up`?)")
        return 1
    refreshed = pulumi.run("refresh", "--yes", "--skip-preview", *_targets([g.urn for g in found]))
    if refreshed.returncode != 0:
        print(f"refreshing the hosts failed:\n{refreshed.stdout[-4000:]}{refreshed.stderr[-2000:]}")
        return 1
    drifted = []
    for guard in guards(pulumi.export()):
        lines = guard.drifts()
        print(f"{guard.name}: {'drifted' if lines else 'as expected'}")
        for line in lines:
            print(f"  {line}")
        if lines:
            drifted.append(guard)
    if not drifted or args.dry_run:
        return 0 if not drifted else 1

    repaired = pulumi.run("up", "--yes", "--skip-preview", *_targets([g.urn for g in drifted]))
    if repaired.returncode != 0:
        print(f"repairing the hosts failed:\n{repaired.stdout[-4000:]}{repaired.stderr[-2000:]}")
        return 1
    after = {g.urn: g for g in guards(pulumi.export())}
    for guard in drifted:
        print(f"{guard.name}: repaired")
        for line in after[guard.urn].outputs.get(REPAIRED) or []:
            print(f"  {line}")

    rest = pulumi.run("refresh", "--yes", "--skip-preview", "--json")
    if rest.returncode != 0:
        failures = failed_resources(engine_events(rest.stdout))
        for urn, message in sorted(failures.items()):
            print(f"not refreshed: {urn.rsplit('::', 1)[-1]}: {message}")
        if not failures:
            print(f"not refreshed: the stack ({rest.stderr.strip()[-300:]})")
    settle(pulumi, unhealthy_resources(engine_events(rest.stdout)), args.settle)
    still = [g for g in guards(pulumi.export()) if g.drifts()]
    for guard in still:
        print(f"{guard.name}: still drifted after the repair")
    return 1 if still else 0


def settle(pulumi: Pulumi, unhealthy: list[str], seconds: int, every: float = SETTLE_EVERY_SECONDS) -> None:
    """Refreshes the unhealthy resources until they are healthy or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while unhealthy and time.monotonic() < deadline:
        time.sleep(every)
        again = pulumi.run("refresh", "--yes", "--skip-preview", "--json", *_targets(unhealthy))
        unhealthy = unhealthy_resources(engine_events(again.stdout))
    for urn in unhealthy:
        print(
            f"still unhealthy after {seconds} s: {urn.rsplit('::', 1)[-1]} (the next `pulumi up` waits on it)"
        )


if __name__ == "__main__":
    sys.exit(main())
