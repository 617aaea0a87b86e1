"""The engine bench's interrupted up (bench/engine.py, `interrupted_up`): counting creates as the
engine writes them, the resources an `--exclude-dependents` up leaves out, what a crash left in the
state, how the resumed up is judged, and the kill itself on a real process tree."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import engine
from bench.proctree import start_time, tree

PREFIX = "urn:pulumi:bench::k8s-from-scratch::"
HOST_STEP = "command:remote:Command"


def urn(name: str, type_: str = HOST_STEP) -> str:
    return f"{PREFIX}{type_}::{name}"


def event(op: str, name: str, kind: str = "resOutputsEvent") -> str:
    return json.dumps({"sequence": 1, kind: {"metadata": {"op": op, "urn": urn(name)}}})


# --- counting creates as they are written ---------------------------------------------------------


def test_creates_are_counted_as_the_output_arrives_in_pieces() -> None:
    counter = engine.CreateCounter()
    text = "\n".join(
        [
            '{"sequence": 0, "preludeEvent": {"config": {}}}',
            event("create", "a", "resourcePreEvent"),  # begun, not done
            event("create", "a"),
            event("same", "b"),
            "warning: not an event",
            event("update", "c"),
            event("create", "d"),
            event("create", "e"),
        ]
    )
    cut = text.index("::d") + 2  # the line of d's create cut short
    assert counter.feed(text[:cut]) == 1
    assert counter.feed("") == 1
    assert counter.feed(text[cut:]) == 2  # d ended; e's line has no end yet
    assert counter.feed("\n") == 3
    # An event that mentions `create` in anything but its op is no create.
    assert (
        counter.feed(json.dumps({"resOutputsEvent": {"metadata": {"op": "same", "x": "create"}}}) + "\n") == 3
    )


def test_the_kill_point_is_a_share_of_the_creates_and_interrupts_something() -> None:
    assert engine.kill_point(200, 0.5) == 100
    assert engine.kill_point(201, 0.5) == 101
    assert engine.kill_point(200, 0.001) == 1
    assert engine.kill_point(200, 1.0) == 199  # the last create would leave nothing to interrupt
    assert engine.kill_point(1, 0.5) == 1


# --- what `--exclude-dependents` leaves out -------------------------------------------------------


def test_a_states_dependencies_are_every_kind_the_engine_follows() -> None:
    provider = f"{PREFIX}pulumi:providers:kubernetes::k8s"
    state = {
        "provider": f"{provider}::04da6b54-80e4-46f7-96ec-b56ff0331ba9",
        "parent": urn("parent", "k8s-from-scratch:index:Host"),
        "dependencies": [urn("a"), ""],
        "propertyDependencies": {"create": [urn("b"), urn("a")], "stdin": [], "delete": None},
        "deletedWith": urn("c"),
        "replaceWith": [urn("d")],
    }
    assert engine.dependency_refs(state) == (
        provider,
        urn("parent", "k8s-from-scratch:index:Host"),
        urn("a"),
        urn("b"),
        urn("c"),
        urn("d"),
    )
    assert engine.dependency_refs({}) == ()


def test_exclude_dependents_leaves_out_everything_that_depends_on_the_provider() -> None:
    provider = f"{PREFIX}pulumi:providers:kubernetes::k8s"
    doc = {
        "steps": [
            # A dependent listed before what it depends on: the closure does not rely on order.
            {"op": "create", "urn": urn("join"), "newState": {"dependencies": [urn("allow", "cm")]}},
            {"op": "create", "urn": urn("allow", "cm"), "newState": {"provider": f"{provider}::id"}},
            {"op": "create", "urn": provider, "newState": {"dependencies": [urn("cp-files")]}},
            {"op": "create", "urn": urn("cp-files"), "newState": {}},
            {"op": "create", "urn": urn("child", "x"), "newState": {"parent": urn("join")}},
            {"op": "create", "urn": urn("guard", "g"), "newState": {"deletedWith": urn("child", "x")}},
            {"op": "create", "urn": urn("w1-prepare"), "newState": {"dependencies": [urn("cp-files")]}},
        ]
    }
    steps = engine.preview_steps(doc)
    assert steps[0].deps == (urn("allow", "cm"),)
    out = engine.excluded_dependents(steps, [provider])
    assert out == {provider, urn("allow", "cm"), urn("join"), urn("child", "x"), urn("guard", "g")}
    assert engine.excluded_dependents(steps, []) == set()
    # Dependencies do not make a step differ: the add-a-worker classification compares steps.
    assert steps[0] == engine.Step("create", urn("join"))


# --- what a crash left, and the resumed up -----------------------------------------------------------


def _state(*names: str, pending: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    return {
        "version": 3,
        "deployment": {
            "resources": [{"urn": urn(n)} for n in names],
            "pending_operations": [{"resource": {"urn": urn(n)}, "type": t} for t, n in pending],
        },
    }


def test_a_crashed_state_names_its_pending_operations() -> None:
    export = _state("a", "b", pending=(("creating", "c"), ("creating", "d"), ("updating", "a")))
    assert engine.state_urns(export) == {urn("a"), urn("b")}
    assert engine.pending_operations(export) == [
        {"type": "creating", "urn": urn("c")},
        {"type": "creating", "urn": urn("d")},
        {"type": "updating", "urn": urn("a")},
    ]
    assert engine.pending_operations({"deployment": {"resources": []}}) == []
    typed = {"deployment": {"resources": [{"type": "a"}, {"type": "b"}, {"type": "b"}]}}
    assert list(engine.types_of(typed).items()) == [("b", 2), ("a", 1)]


def test_a_killed_engines_lock_is_found(tmp_path: Path) -> None:
    assert engine.lock_files(tmp_path) == []
    folder = tmp_path / ".pulumi" / "locks" / "organization" / "k8s-from-scratch" / "bench"
    folder.mkdir(parents=True)
    (folder / "2b4c.json").write_text("{}")
    (tmp_path / ".pulumi" / "stacks").mkdir()
    assert engine.lock_files(tmp_path) == [folder / "2b4c.json"]


def test_an_empty_sidecar_left_by_the_kill_is_found(tmp_path: Path) -> None:
    stacks = tmp_path / ".pulumi" / "stacks" / "k8s-from-scratch"
    stacks.mkdir(parents=True)
    (stacks / "bench.json").write_text("{}")
    (stacks / "bench.json.attrs").write_text("")  # truncated, not yet written
    (stacks / "bench.json.bak").write_text("{}")
    (stacks / "bench.json.bak.attrs").write_text('{"md5": "x"}')
    (stacks / "bench.json.18ec6b4f6f15f6ae.tmp").write_text("{")  # the next one, never renamed
    assert engine.empty_sidecars(tmp_path) == [stacks / "bench.json.attrs"]
    assert engine.empty_sidecars(tmp_path / "nothing") == []


def test_the_resumed_up_creates_what_is_missing_and_redoes_nothing() -> None:
    killed = {urn("a"), urn("b")}
    pending = {urn("c")}
    clean = [
        engine.Step("same", urn("a")),
        engine.Step("same", urn("b")),
        engine.Step("create", urn("c")),
        engine.Step("create", urn("d")),
    ]
    assert engine.classify_resume(killed, pending, clean) == {
        "created": 2,
        "rerun": ["c"],
        "redone": [],
        "other_changes": [],
    }
    dirty = [
        engine.Step("update", urn("a")),
        engine.Step("replace", urn("e")),
        engine.Step("failed", urn("f")),
        engine.Step("create", urn("d")),
    ]
    judged = engine.classify_resume(killed, pending, dirty)
    assert judged["redone"] == ["update a"] and judged["rerun"] == []
    assert judged["other_changes"] == ["failed f", "replace e"] and judged["created"] == 1

    after = engine.resumed_state(_state("a", "b", "c"), {urn("a"), urn("b"), urn("c"), urn("d")})
    assert after == {"missing": ["d"], "pending_after": []}
    pending_left = engine.resumed_state(_state("a", pending=(("creating", "c"),)), {urn("a")})
    assert pending_left == {"missing": [], "pending_after": [{"type": "creating", "urn": urn("c")}]}


def test_convergence_after_a_crash_is_judged_on_the_resume_and_the_noop_up() -> None:
    good = {
        "resume": {"seconds": 10.0, "redone": [], "other_changes": [], "missing": [], "pending_after": []}
    }
    assert engine.crash_verdict(good, []) == []
    assert engine.crash_verdict(good, None) == ["the no-op up did not run"]
    assert engine.crash_verdict(good, ["update bench-host-w1-guard"]) == [
        "no-op up changed: update bench-host-w1-guard"
    ]
    bad = {
        "resume": {
            "seconds": 10.0,
            "redone": ["update a"],
            "other_changes": ["delete e"],
            "missing": ["d"],
            "pending_after": [{"type": "creating", "urn": urn("c")}],
        }
    }
    assert engine.crash_verdict(bad, []) == [
        "redone: update a",
        "changed: delete e",
        "missing: d",
        "pending: creating c",
    ]
    assert engine.crash_verdict({"kill": {}}, None)[0] == "the resumed up did not finish"


def test_the_summary_and_printout_carry_the_interrupted_up() -> None:
    crash = {
        "share": 0.5,
        "planned_creates": 200,
        "kill": {"creates_reported": 101, "state_resources": 104, "pending_operations": {"creating": 3},
                 "locks_left": 1},
        "seconds": 40.0,
        "peak_mb": 900.0,
        "converged": False,
        "not_converged": ["missing: d"],
    }  # fmt: skip
    sizes: dict[str, dict[str, Any]] = {
        "10": {"resources": 288, "interrupted_up": crash},
        "50": {"interrupted_up": {"share": 0.5}},
    }
    summary = engine.summarise_engine(sizes)
    assert summary["interrupted_up_seconds_by_nodes"] == {"10": 40.0}
    assert summary["interrupted_up_peak_mb_by_nodes"] == {"10": 900.0}
    assert summary["interrupted_up_converged_by_nodes"] == {"10": False}
    engine.print_engine({"sizes": sizes, **summary})


# --- the kill ------------------------------------------------------------------------------------


def _gone(pid: int, when: int | None) -> bool:
    """Dead: no such process, another one with its pid, or a zombie nobody reaped yet."""
    if start_time(pid) != when:
        return True
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def test_a_crash_kills_the_whole_tree_at_once() -> None:
    proc = subprocess.Popen(
        ["sh", "-c", "sleep 60 & (sleep 60 & wait) & trap '' TERM INT; wait"],
        start_new_session=True,
        text=True,
    )
    deadline = time.monotonic() + 10
    while len(tree(proc.pid)) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    started = {pid: start_time(pid) for pid in tree(proc.pid)}
    assert len(started) >= 4, started
    engine._crash(proc)
    assert proc.wait(timeout=10) == -9
    deadline = time.monotonic() + 10
    while not all(_gone(p, w) for p, w in started.items()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_gone(p, w) for p, w in started.items())


def test_an_up_is_killed_once_enough_creates_are_written(tmp_path: Path) -> None:
    """Bench.pulumi with kill_when, on a stand-in for the CLI that writes an event every 50 ms and
    never ends by itself."""
    cli = tmp_path / "pulumi"
    lines = "\n".join(f"echo '{event('create', f'r{i}')}'; sleep 0.05" for i in range(100))
    cli.write_text(f"#!/bin/sh\n{lines}\nsleep 60\n")
    cli.chmod(0o755)
    bench = engine.Bench(cli, tmp_path / "work", site=None, deadline=time.monotonic() + 60)  # type: ignore[arg-type]
    counter = engine.CreateCounter()
    run = bench.pulumi("up", kill_when=lambda text: counter.feed(text) >= 5)
    assert run.killed and run.code == -9
    reported = sum(1 for s in engine.update_steps(engine.engine_events(run.stdout)) if s.op == "create")
    assert 5 <= reported < 100 and run.seconds < 30
    # An up that ends before the kill point is not killed.
    quick = tmp_path / "quick"
    quick.write_text(f"#!/bin/sh\necho '{event('create', 'r0')}'\n")
    quick.chmod(0o755)
    done = engine.Bench(quick, tmp_path / "w2", site=None, deadline=time.monotonic() + 60)  # type: ignore[arg-type]
    ran = done.pulumi("up", kill_when=lambda text: engine.CreateCounter().feed(text) >= 5)
    assert not ran.killed and ran.code == 0


# --- the phase's commands, on a stand-in for Bench -----------------------------------------------


class FakeBench:
    """What _interrupted uses of Bench: a crash that left 2 resources, 1 pending create, a lock and
    (if `sidecar`) an empty checkpoint sidecar that makes the first export fail."""

    def __init__(self, root: Path, sidecar: bool, pending: bool = True) -> None:
        self.state = root / "state"
        self.workdir = root
        self.phase = "setup"
        self.commands: list[str] = []
        stacks = self.state / ".pulumi" / "stacks" / "k8s-from-scratch"
        stacks.mkdir(parents=True)
        (stacks / "bench.json").write_text("{}")
        if sidecar:
            (stacks / "bench.json.attrs").write_text("")
        locks = self.state / ".pulumi" / "locks" / "organization" / "k8s-from-scratch" / "bench"
        locks.mkdir(parents=True)
        (locks / "1.json").write_text("{}")
        self.pending = pending
        self.resumed = False

    @staticmethod
    def _run(seconds: float = 1.0, killed: bool = False) -> engine.Run:
        memory = {"peak_mb": 10.0, "peak_pss_mb": 9.0, "hwm_sum_mb": 11.0, "engine_peak_mb": 5.0}
        return engine.Run(seconds, seconds / 2, -9 if killed else 0, "", "", memory, killed)

    def killed_up(self, creates: int, *extra: str) -> tuple[engine.Run, int]:
        self.commands.append(f"killed up after {creates}")
        return self._run(3.0, killed=True), creates

    def export(self, secrets: bool = False) -> str:
        if engine.empty_sidecars(self.state):
            raise engine.EngineError("export failed (1):\n\nerror: failed to load checkpoint: EOF\n")
        names = ("a", "b", "c", "d") if self.resumed else ("a", "b")
        pending = (("creating", "c"),) if self.pending and not self.resumed else ()
        return json.dumps(_state(*names, pending=pending))

    def pulumi(self, *args: str, **_: Any) -> engine.Run:
        self.commands.append(" ".join(args))
        if args[0] == "cancel":
            for lock in engine.lock_files(self.state):
                lock.unlink()
        if args[:2] == ("stack", "import"):
            self.pending = False
        return self._run(0.5)

    def checked(self, run: engine.Run, what: str) -> engine.Run:
        return run

    def up(self, what: str, *extra: str) -> tuple[dict[str, Any], list[engine.Step]]:
        self.commands.append(f"up {' '.join(extra)}")
        self.resumed = True
        steps = [engine.Step("same", urn("a")), engine.Step("same", urn("b"))]
        steps += [engine.Step("create", urn("c")), engine.Step("create", urn("d"))]
        return {**engine._figures(self._run(5.0)), "resources": 4, "ops": {}}, steps


def test_after_the_kill_a_user_runs_the_repairs_then_the_same_up(tmp_path: Path) -> None:
    bench = FakeBench(tmp_path, sidecar=True)
    crash: dict[str, Any] = {"share": 0.5, "planned_creates": 4}
    expected = {urn(n) for n in "abcd"}
    phases = engine._interrupted(bench, 10, ["--exclude=k8s"], expected, crash, "without_api")  # type: ignore[arg-type]
    assert bench.commands == [
        "killed up after 2",
        "cancel --yes",
        "stack export --file crashed-state.json",
        "stack import --file crashed-state.json",
        "up --exclude=k8s",
    ]
    kill = crash["kill"]
    assert kill["state_unreadable"] == "error: failed to load checkpoint: EOF"
    assert kill["empty_sidecars"] == [".pulumi/stacks/k8s-from-scratch/bench.json.attrs"]
    assert kill["locks_left"] == 1 and kill["state_resources"] == 2
    assert kill["pending"] == ["creating c"] and kill["pending_operations"] == {"creating": 1}
    recovery = crash["recovery"]
    assert recovery["commands"][0] == "rm <backend>/.pulumi/stacks/k8s-from-scratch/bench.json.attrs"
    assert recovery["commands"][1] == "pulumi cancel --yes" and recovery["locks_after"] == 0
    resume = crash["resume"]
    assert resume["created"] == 2 and resume["rerun"] == ["c"] and resume["redone"] == []
    assert resume["missing"] == [] and resume["pending_after"] == []
    assert crash["phase_creates"] == 4 and crash["share_at_kill"] == 0.5
    assert crash["seconds"] == 3.0 + 1.5 + 5.0
    assert list(phases) == ["without_api_killed", "without_api_resumed"]
    assert engine.crash_verdict(crash, []) == []


def test_nothing_pending_and_a_readable_state_need_only_the_unlock(tmp_path: Path) -> None:
    bench = FakeBench(tmp_path, sidecar=False, pending=False)
    crash: dict[str, Any] = {"share": 0.5, "planned_creates": 4}
    engine._interrupted(bench, 10, [], {urn(n) for n in "abcd"}, crash, "with_api")  # type: ignore[arg-type]
    assert crash["recovery"]["commands"] == ["pulumi cancel --yes"]
    assert "state_unreadable" not in crash["kill"] and crash["kill"]["pending"] == []


def test_a_crash_of_the_second_up_counts_only_its_own_creates(tmp_path: Path) -> None:
    """The bench kills the up that makes the NodeHosts, over a state the first up filled: what
    that state held before is not the killed up's."""
    bench = FakeBench(tmp_path, sidecar=False, pending=False)
    crash: dict[str, Any] = {"share": 0.5, "planned_creates": 3, "phase": "with_api"}
    phases = engine._interrupted(
        bench,  # type: ignore[arg-type]
        10,
        [],
        {urn(n) for n in "abcd"},
        crash,
        "with_api",
        before={urn("a")},
    )
    assert list(phases) == ["with_api_killed", "with_api_resumed"]
    assert crash["phase_creates"] == 1 + crash["resume"]["created"]
    assert crash["share_at_kill"] == round(1 / crash["phase_creates"], 3)
    assert bench.commands[-1] == "up "
