"""The entry point's settings (components/program.py): what the engine keeps of each
registration's Python stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime.proto import source_pb2

from components import program
from mockrun.program import REPO, run_preset

ROOT = Path("/srv/project")


def test_only_frames_in_the_programs_own_code_are_ours() -> None:
    assert program.ours("file:///srv/project/components/steps.py", ROOT)
    assert program.ours("file:///srv/project/__main__.py", ROOT)
    assert not program.ours("file:///srv/project/.venv/lib/python3.11/site-packages/pulumi/x.py", ROOT)
    assert not program.ours("file:///usr/lib/python3.11/asyncio/events.py", ROOT)
    assert not program.ours("file:///srv/project-other/x.py", ROOT)
    assert not program.ours("", ROOT)


class _Base:
    """Three constructors, as a resource's (Resource, CustomResource, its class): both hooks skip
    them and what they call."""

    def __init__(self, hooks: Any) -> None:
        self.traces = hooks()


class _Custom(_Base):
    def __init__(self, hooks: Any) -> None:
        super().__init__(hooks)


class _Concrete(_Custom):
    def __init__(self, hooks: Any) -> None:
        super().__init__(hooks)


def _registered(hooks: Any) -> Any:
    return _Concrete(hooks).traces


def test_the_trimmed_trace_is_the_sdks_with_only_the_programs_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    sdks = sdk_resource._get_stack_trace
    monkeypatch.setattr(sdk_resource, "_get_stack_trace", sdks)
    program.trim_stack_traces(REPO)
    ours = sdk_resource._get_stack_trace
    assert ours is not sdks
    full, trimmed = _registered(lambda: (sdks(), ours()))  # (one line: the same frames)

    def positions(trace: source_pb2.StackTrace) -> list[tuple[str, int]]:
        return [(f.pc.uri, f.pc.line) for f in trace.frames if f.HasField("pc")]

    kept = [p for p in positions(full) if program.ours(p[0])]
    assert positions(trimmed) == kept and len(kept) < len(positions(full))
    assert kept[0][0].endswith("/tests/test_program.py"), "the constructors' caller comes first"
    # The resource's sourcePosition (the first frame) is the SDK's.
    assert sdk_resource._get_source_position(trimmed) == sdk_resource._get_source_position(full)
    program.trim_stack_traces(REPO)
    assert sdk_resource._get_stack_trace is ours, "installed once"


def test_registrations_carry_only_the_programs_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under the mocks, with the SDK's own hook: every resource of a preset still names where in
    this program it was made, and nothing else (the SDK's frames, asyncio's, the language host's)."""
    monkeypatch.setattr(sdk_resource, "_get_stack_trace", sdk_resource._get_stack_trace)
    untrimmed = run_preset(REPO / "Pulumi.dev.yaml").named("dev-host-lab-cp-1-prepare").stack_trace
    assert any("site-packages" in uri for uri in untrimmed), "the SDK records its own frames"
    program.trim_stack_traces()
    graph = run_preset(REPO / "Pulumi.dev.yaml")
    for reg in graph.registrations:
        assert reg.stack_trace, reg.name
        assert all(program.ours(uri) for uri in reg.stack_trace), (reg.name, reg.stack_trace)
    prepare = graph.named("dev-host-lab-cp-1-prepare").stack_trace
    assert prepare == [u for u in untrimmed if program.ours(u)]
    assert prepare[0].endswith("/components/steps.py")
    assert [u.rsplit("/", 1)[-1] for u in prepare[:5]] == [
        "steps.py",
        "host.py",
        "cluster.py",
        "cluster.py",
        "program.py",
    ]
