"""The entry point's settings (components/program.py): what the engine keeps of each
registration's Python stack."""

from __future__ import annotations

from pathlib import Path

import pytest
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime.proto import source_pb2

from components import program
from mockrun.program import REPO, run_preset

ROOT = Path("/srv/project")


def _frame(path: str | None, line: int = 1) -> source_pb2.StackFrame:
    if path is None:
        return source_pb2.StackFrame()
    return source_pb2.StackFrame(pc=source_pb2.SourcePosition(uri=Path(path).as_uri(), line=line))


def test_only_frames_in_the_programs_own_code_are_ours() -> None:
    assert program.ours("file:///srv/project/components/steps.py", ROOT)
    assert program.ours("file:///srv/project/__main__.py", ROOT)
    assert not program.ours("file:///srv/project/.venv/lib/python3.11/site-packages/pulumi/x.py", ROOT)
    assert not program.ours("file:///usr/lib/python3.11/asyncio/events.py", ROOT)
    assert not program.ours("file:///srv/project-other/x.py", ROOT)
    assert not program.ours("", ROOT)


def test_a_trimmed_trace_keeps_the_programs_frames_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    trace = source_pb2.StackTrace(
        frames=[
            _frame("/srv/project/components/steps.py", 197),
            _frame("/srv/project/components/worker_node.py", 46),
            _frame(None),
            _frame("/srv/project/.venv/lib/python3.11/site-packages/pulumi/runtime/stack.py", 237),
            _frame("/usr/lib/python3.11/asyncio/base_events.py", 607),
            _frame("/srv/project/__main__.py", 6),
        ]
    )
    monkeypatch.setattr(sdk_resource, "_get_stack_trace", lambda: trace)
    program.trim_stack_traces(ROOT)
    trimmed = sdk_resource._get_stack_trace()
    assert [(f.pc.uri, f.pc.line) for f in trimmed.frames] == [
        ("file:///srv/project/components/steps.py", 197),
        ("file:///srv/project/components/worker_node.py", 46),
        ("file:///srv/project/__main__.py", 6),
    ]
    # The resource's sourcePosition (the first frame) is what it was.
    assert sdk_resource._get_source_position(trimmed) == trace.frames[0].pc
    hook = sdk_resource._get_stack_trace
    program.trim_stack_traces(ROOT)
    assert sdk_resource._get_stack_trace is hook, "installed once"


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
