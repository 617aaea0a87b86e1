"""The repair command's reading of state and engine events (scripts/repair_hosts.py); the command
itself runs against the real engine in the lab tier (tests/test_lab_e2e.py)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from scripts import repair_hosts

GUARD = "pulumi-python:dynamic/k8sfs:DriftGuard"


def test_guards_are_found_by_type_with_what_they_expect_and_what_was_read() -> None:
    export = {
        "deployment": {
            "resources": [
                {
                    "urn": "urn:pulumi:s::p::k8s-from-scratch:index:Cluster::c",
                    "type": "k8s-from-scratch:index:Cluster",
                },
                {
                    "urn": f"urn:pulumi:s::p::k8s-from-scratch:index:Cluster${GUARD}::c-w1-drift-guard",
                    "type": GUARD,
                    "inputs": {"files": [1]},
                    "outputs": {"files": [2]},
                },
            ]
        }
    }
    (guard,) = repair_hosts.guards(export)
    assert guard.name == "c-w1-drift-guard"
    assert (guard.inputs, guard.outputs) == ({"files": [1]}, {"files": [2]})
    assert repair_hosts.guards({}) == []


def test_failed_resources_take_the_first_error_of_each_resource_on_one_line() -> None:
    lines = [
        {"diagnosticEvent": {"severity": "info", "urn": "urn::a", "message": "fine"}},
        {"diagnosticEvent": {"severity": "error", "urn": "urn::a", "message": "Preview failed:\n  timeout"}},
        {"diagnosticEvent": {"severity": "error", "urn": "urn::a", "message": "second"}},
        {"diagnosticEvent": {"severity": "error", "message": "no resource"}},
        {"resOutputsEvent": {"metadata": {"op": "same", "urn": "urn::b"}}},
    ]
    stdout = "\n".join(json.dumps(e) for e in lines) + "\nnot json\n"
    events = repair_hosts.engine_events(stdout)
    assert len(events) == len(lines)
    assert repair_hosts.failed_resources(events) == {"urn::a": "Preview failed: timeout"}


def test_unhealthy_resources_are_those_the_refresh_warned_of() -> None:
    unhealthy = "Refreshed resource is in an unhealthy state:\n* Resource 'coredns' was created but failed"
    events = [
        {"diagnosticEvent": {"severity": "warning", "urn": "urn::deploy", "message": unhealthy}},
        {"diagnosticEvent": {"severity": "warning", "urn": "urn::other", "message": "deprecated field"}},
        {"diagnosticEvent": {"severity": "error", "urn": "urn::svc", "message": unhealthy}},
    ]
    assert repair_hosts.unhealthy_resources(events) == ["urn::deploy"]


def test_settling_refreshes_only_the_unhealthy_until_they_are_healthy() -> None:
    warning = {
        "diagnosticEvent": {"severity": "warning", "urn": "urn::ds", "message": repair_hosts.UNHEALTHY}
    }
    answers = [json.dumps(warning), ""]  # unhealthy once more, then healthy
    calls: list[tuple[str, ...]] = []

    class FakePulumi(repair_hosts.Pulumi):
        def run(self, *args: str) -> subprocess.CompletedProcess[str]:
            calls.append(args)
            return subprocess.CompletedProcess(args, 0, answers.pop(0), "")

    repair_hosts.settle(FakePulumi(None, None), ["urn::ds"], seconds=60, every=0)
    assert calls == [("refresh", "--yes", "--skip-preview", "--json", "--target", "urn::ds")] * 2


LIB = "pulumi-python:dynamic/k8sfs:HostLib"


def _resource(type_: str, name: str, inputs: Any, outputs: Any) -> dict[str, Any]:
    return {"urn": f"urn:pulumi:s::p::{type_}::{name}", "type": type_, "inputs": inputs, "outputs": outputs}


def test_a_hosts_script_library_is_checked_and_repaired_with_its_guard(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A file missing from a host's library: the refresh targets every guard and library, the
    repair only the drifted library (its guard is as expected), and says what it wrote."""
    files = ["service-stop.0123456789abcdef.sh"]
    guard_state: dict[str, list[Any]] = {"files": [], "units": [], "artifacts": []}
    before = [
        _resource(LIB, "c-host-w1-lib", {"files": files}, {"files": files}),
        _resource(GUARD, "c-w1-drift-guard", guard_state, guard_state),
    ]
    refreshed = [
        _resource(LIB, "c-host-w1-lib", {"files": files}, {"files": [f"{files[0]}: missing"]}),
        before[1],
    ]
    repaired = [
        _resource(LIB, "c-host-w1-lib", {"files": files}, {"files": files, "repaired": ["wrote /x"]}),
        before[1],
    ]
    exports = [before, refreshed, repaired, repaired]
    calls: list[tuple[str, ...]] = []

    class FakePulumi(repair_hosts.Pulumi):
        def run(self, *args: str) -> subprocess.CompletedProcess[str]:
            calls.append(args)
            return subprocess.CompletedProcess(args, 0, "", "")

        def export(self) -> dict[str, Any]:
            return {"deployment": {"resources": exports.pop(0)}}

    original = repair_hosts.Pulumi
    repair_hosts.Pulumi = FakePulumi  # type: ignore[misc]
    try:
        assert repair_hosts.main(["--settle", "0"]) == 0
    finally:
        repair_hosts.Pulumi = original  # type: ignore[misc]
    lib_urn, guard_urn = (r["urn"] for r in before)
    assert calls[0] == ("refresh", "--yes", "--skip-preview", "--target", lib_urn, "--target", guard_urn)
    assert calls[1] == ("up", "--yes", "--skip-preview", "--target", lib_urn)
    out = capsys.readouterr().out
    assert (
        "c-host-w1-lib: drifted\n"
        "  lib service-stop.0123456789abcdef.sh: expected sha256:0123456789ab, found missing\n"
        "c-w1-drift-guard: as expected\n"
        "c-host-w1-lib: repaired\n  wrote /x\n"
    ) in out
