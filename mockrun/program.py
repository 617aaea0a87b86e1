"""Run the real Pulumi program under the mocks for a given stack config; return the graph."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import config as runtime_config
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from mockrun import k8s_mock, random_mock, tls_mock  # noqa: F401  (register the provider mock handlers)
from mockrun.mocks import DispatchMocks
from mockrun.recorder import RecordingMonitor, Registration
from spec.defaults import PROJECT

REPO = Path(__file__).resolve().parents[1]
STACKS = REPO / "stacks"


@dataclass
class Graph:
    registrations: list[Registration]
    exports: dict[str, Any]

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def named(self, name: str) -> Registration:
        matches = [r for r in self.registrations if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.registrations if r.urn == urn)

    def children(self, parent: Registration) -> list[Registration]:
        return [r for r in self.registrations if r.parent == parent.urn]


TEST_SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\ntest-key\n-----END OPENSSH PRIVATE KEY-----\n"


def load_stack_file(path: Path) -> tuple[dict[str, Any], set[str]]:
    """Config of a Pulumi.<stack>.yaml as plain values, and the keys stored `secure:`."""
    doc = yaml.safe_load(path.read_text()) or {}
    raw: dict[str, Any] = {}
    secret: set[str] = set()
    for full_key, value in (doc.get("config") or {}).items():
        project, _, key = full_key.partition(":")
        if project != PROJECT:
            continue
        if isinstance(value, dict) and set(value) == {"secure"}:
            secret.add(key)
        raw[key] = value
    return raw, secret


def preset_config(path: Path) -> tuple[dict[str, Any], set[str]]:
    """A preset as a user runs it: with the SSH key set as a secret (`config set --secret`)."""
    raw, secret = load_stack_file(path)
    if not (raw.get("lab") or {}).get("enabled"):
        raw["ssh"] = {**(raw.get("ssh") or {}), "privateKey": TEST_SSH_KEY}
        secret.add("ssh")
    return raw, secret


def presets() -> list[Path]:
    return [*sorted(STACKS.glob("Pulumi.*.yaml")), REPO / "Pulumi.dev.yaml"]


LAST_MONITOR: RecordingMonitor | None = None


def run_program(
    raw: dict[str, Any],
    stack: str = "test",
    secret_keys: set[str] | None = None,
    read_cluster: Callable[[str], dict[str, Any]] | None = None,
) -> Graph:
    """Runs components.program.main() under the mocks with this config; a pool stack reads its
    cluster stack's `pool` output through `read_cluster`."""
    global LAST_MONITOR
    monitor = LAST_MONITOR = RecordingMonitor(DispatchMocks())
    pulumi.runtime.set_mocks(DispatchMocks(), project=PROJECT, stack=stack, preview=False, monitor=monitor)
    config = {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
    runtime_config.set_all_config(config, [f"{PROJECT}:{k}" for k in (secret_keys or set())])
    exports: dict[str, Any] = {}
    original_export = pulumi.export

    def capture(name: str, value: Any) -> None:
        exports[name] = value
        original_export(name, value)

    from components import program

    def no_cluster(stack: str) -> dict[str, Any]:
        raise LookupError(f"no stack {stack} under the mocks")

    _sync_await(
        run_pulumi_func(
            lambda: program.main(
                fetch=k8s_mock.offline_fetch, export=capture, read_cluster=read_cluster or no_cluster
            )
        )
    )
    return Graph(monitor.registrations, exports)


def run_preset(path: Path) -> Graph:
    raw, secret = preset_config(path)
    stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    return run_program(raw, stack, secret)


def run_function(fn: Any, stack: str = "test", raw: dict[str, Any] | None = None) -> Graph:
    """Runs any function that registers resources (a component under test) under the mocks."""
    monitor = RecordingMonitor(DispatchMocks())
    pulumi.runtime.set_mocks(DispatchMocks(), project=PROJECT, stack=stack, preview=False, monitor=monitor)
    config = {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in (raw or {}).items()}
    runtime_config.set_all_config(config, [])
    _sync_await(run_pulumi_func(fn))
    return Graph(monitor.registrations, {})
