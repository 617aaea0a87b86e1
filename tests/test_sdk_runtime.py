"""components/sdk_runtime.py: the SDK's debug messages dropped, its end-of-program wait linear."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import pulumi
import pulumi.log
import pytest
from pulumi.runtime import stack as sdk_stack

from components import sdk_runtime
from mockrun.program import run_function, run_preset
from tests.support.specs import stack_file

ROOT = Path(__file__).resolve().parents[1]


def test_the_replacements_are_for_the_pinned_sdk() -> None:
    """They replace private SDK functions: a new SDK needs them read again against its code."""
    pins = dict(
        line.split("==", 1) for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line
    )
    assert pins["pulumi"] == sdk_runtime.SDK_VERSION == importlib.metadata.version("pulumi")


class Engine:
    def __init__(self) -> None:
        self.logged: list[str] = []

    def Log(self, request: Any) -> None:  # the engine stub's RPC
        self.logged.append(request.message)


@pytest.fixture()
def engine(monkeypatch: pytest.MonkeyPatch) -> Engine:
    recorder = Engine()
    monkeypatch.setattr(pulumi.log, "get_engine", lambda: recorder)
    monkeypatch.setattr(pulumi.log, "debug", pulumi.log.debug)  # put back after the test
    return recorder


def test_debug_messages_are_dropped_and_the_others_still_sent(engine: Engine) -> None:
    pulumi.log.debug("before")
    assert sdk_runtime.quiet_sdk_debug({})
    pulumi.log.debug("Registering resource: t=k8sfs:NodeHost")
    pulumi.log.info("shown")
    pulumi.log.warn("warned")
    assert engine.logged == ["before", "shown", "warned"]
    assert not sdk_runtime.quiet_sdk_debug({}), "installed once"


def test_debug_messages_are_kept_when_asked_for(engine: Engine) -> None:
    assert not sdk_runtime.quiet_sdk_debug({sdk_runtime.DEBUG_ENV: "1"})
    pulumi.log.debug("Registering resource")
    assert engine.logged == ["Registering resource"]


@pytest.fixture()
def linear_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sdk_stack, "wait_for_rpcs", sdk_stack.wait_for_rpcs)  # put back after
    assert sdk_runtime.gather_outstanding_outputs()
    assert sdk_stack.wait_for_rpcs is sdk_runtime.wait_for_rpcs
    assert not sdk_runtime.gather_outstanding_outputs(), "installed once"


def test_a_preset_registers_the_same_resources_with_either_wait(linear_wait: None, monkeypatch: Any) -> None:
    ours = run_preset(stack_file("ha-calico"))
    monkeypatch.undo()
    assert sdk_stack.wait_for_rpcs is not sdk_runtime.wait_for_rpcs
    sdks = run_preset(stack_file("ha-calico"))
    assert len(ours.registrations) == len(sdks.registrations) > 100

    def view(graph: Any) -> list[tuple[str, str, list[str], list[str]]]:
        # (the mocks make real keys and certificates, new in each run: values differ, not names)
        return sorted((r.type, r.name, sorted(r.inputs), sorted(r.dependencies)) for r in graph.registrations)

    assert view(ours) == view(sdks)


def test_outputs_made_while_waiting_are_awaited_too(linear_wait: None) -> None:
    seen: list[int] = []

    def program() -> None:
        def then(value: int) -> int:
            # A new Output, made by an apply that runs only once the program's code is done.
            pulumi.Output.from_input(value + 1).apply(lambda v: seen.append(v))
            return value

        pulumi.Output.from_input(1).apply(then)

    run_function(program)
    assert seen == [2]


def test_a_failing_output_fails_the_program(linear_wait: None) -> None:
    def program() -> None:
        pulumi.Output.from_input(0).apply(lambda v: 1 // v)

    with pytest.raises(ZeroDivisionError):
        run_function(program)
