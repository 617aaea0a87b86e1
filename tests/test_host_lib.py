"""The host script library (components/host_lib.py): its provider against a real sshd on this
machine (the library in a temp dir), what it stores, and that every step sources only files
the library has."""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

import pytest

from components import host_lib
from components.host_lib import HostLibProvider, drifts
from components.ssh import Sessions, Target
from mockrun.program import presets, run_preset
from render import scripts
from render.host_files import sha256
from tests.sshd_fixture import LocalSshd, local_sshd  # noqa: F401  (fixture)

SOURCED = re.compile(rf"^\. {re.escape(scripts.LIB_DIR)}/(\S+)$", re.M)


def _props(sshd: LocalSshd, directory: Path) -> dict[str, Any]:
    return {**sshd.props(), "dir": str(directory), "files": sorted(scripts.library())}


def test_create_writes_the_library_and_refresh_finds_it_intact(local_sshd: LocalSshd, tmp_path: Path) -> None:  # noqa: F811
    provider = HostLibProvider()
    lib = tmp_path / "var/lib/k8s-from-scratch/lib"
    props = _props(local_sshd, lib)
    created = provider.create(props)
    assert created.outs == props and created.id == "127.0.0.1:host-lib"
    for name, text in scripts.library().items():
        assert (lib / name).read_text() == text
        assert stat.S_IMODE((lib / name).stat().st_mode) == 0o644
    assert stat.S_IMODE(lib.stat().st_mode) == 0o755, "every service user may read it"
    fresh = provider.read(created.id, props).outs
    assert fresh == props
    assert not provider.diff(created.id, fresh, props).changes
    assert drifts(props, fresh) == []


def test_a_missing_or_edited_file_is_drift_and_the_update_writes_back_only_those(
    local_sshd: LocalSshd,  # noqa: F811
    tmp_path: Path,
) -> None:
    provider = HostLibProvider()
    props = _props(local_sshd, tmp_path / "lib")
    provider.create(props)
    gone, edited, kept = props["files"][0], props["files"][1], props["files"][2]
    (tmp_path / "lib" / gone).unlink()
    hacked = "echo hacked\n"
    (tmp_path / "lib" / edited).write_text(hacked)
    kept_mtime = (tmp_path / "lib" / kept).stat().st_mtime_ns

    drifted = provider.read("id", props).outs
    assert drifted is not None
    assert drifted["files"][0] == f"{gone}: missing"
    assert drifted["files"][1] == f"{edited}: sha256:{sha256(hacked)[:12]}"
    assert drifted["files"][2:] == props["files"][2:]
    assert provider.diff("id", drifted, props).changes
    assert [str(d) for d in drifts(props, drifted)] == [
        f"lib {gone}: expected sha256:{host_lib.expected(gone)[:12]}, found missing",
        f"lib {edited}: expected sha256:{host_lib.expected(edited)[:12]}, found sha256:{sha256(hacked)[:12]}",
    ]

    updated = provider.update("id", drifted, props).outs
    assert updated is not None
    assert sorted(updated[host_lib.REPAIRED]) == sorted(
        f"wrote {tmp_path / 'lib' / n}" for n in (gone, edited)
    )
    assert (tmp_path / "lib" / edited).read_text() == scripts.library()[edited]
    assert (tmp_path / "lib" / kept).stat().st_mtime_ns == kept_mtime, "an intact file is left alone"
    assert provider.read("id", props).outs == props


def test_an_update_keeps_files_of_older_versions(local_sshd: LocalSshd, tmp_path: Path) -> None:  # noqa: F811
    """A step still in the state may source an older file (one the same `up` deletes after this
    update, whose delete text was rendered by the older version)."""
    provider = HostLibProvider()
    props = _props(local_sshd, tmp_path / "lib")
    (tmp_path / "lib").mkdir()
    old = tmp_path / "lib" / "service-stop.0123456789abcdef.sh"
    old.write_text("echo older\n")
    provider.update("id", props, props)
    assert old.read_text() == "echo older\n"


def test_delete_removes_the_library_and_an_empty_state_root(local_sshd: LocalSshd, tmp_path: Path) -> None:  # noqa: F811
    provider = HostLibProvider()
    root = tmp_path / "state-root"
    props = _props(local_sshd, root / "lib")
    provider.create(props)
    provider.delete("id", props)
    assert not root.exists()
    provider.create(props)
    (root / "services").mkdir()  # something else still there: the root stays
    provider.delete("id", props)
    assert not (root / "lib").exists() and (root / "services").exists()


def test_the_install_is_sent_whole(
    local_sshd: LocalSshd,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The library may be what is missing: its own install must not source it."""
    sent: list[str] = []
    real = Sessions.run_checked

    def spy(self: Sessions, target: Target, command: str, stdin: str = "", what: str = "") -> object:
        sent.append(command)
        return real(self, target, command, stdin, what)

    monkeypatch.setattr(Sessions, "run_checked", spy)
    HostLibProvider().create(_props(local_sshd, tmp_path / "lib"))
    assert len(sent) == 1 and scripts.LIB_DIR not in sent[0]


def test_the_provider_refuses_names_its_code_cannot_render() -> None:
    """The provider runs the program's own modules: a name it cannot render means the program
    and the provider disagree, and nothing is written."""
    with pytest.raises(ValueError, match="has no"):
        host_lib.texts(["service-stop.0123456789abcdef.sh"])
    name = sorted(scripts.library())[0]
    assert host_lib.texts([name]) == {name: scripts.library()[name]}


def test_every_step_comes_after_and_sources_only_its_hosts_library() -> None:
    """On every preset, every library file a step's create or delete sources is in the library of
    the host it runs on, and the step comes after that host's HostLib (destroy removes the
    library last); every library file is used by some step of some preset."""
    used: set[str] = set()
    for path in presets():
        graph = run_preset(path)
        libs = {r.inputs["host"]: r for r in graph.registrations if r.type.endswith(":HostLib")}
        deps = {r.urn: set(r.dependencies) for r in graph.registrations}
        for step in graph.of_type("command:remote:Command"):
            lib = libs[step.inputs["connection"]["host"]]
            assert lib.urn in _closure(deps, step.urn), (path.name, step.name)
            for key in ("create", "delete"):
                for name in SOURCED.findall(step.inputs.get(key) or ""):
                    assert name in lib.inputs["files"], (path.name, step.name, name)
                    used.add(name)
        for lib in libs.values():
            assert lib.inputs["files"] == sorted(scripts.library())
            assert lib.inputs["dir"] == scripts.LIB_DIR
    assert used == set(scripts.library()), "render.scripts.HOST_LIB lists templates no step runs"


def _closure(deps: dict[str, set[str]], urn: str) -> set[str]:
    seen: set[str] = set()
    todo = [urn]
    while todo:
        for dep in deps.get(todo.pop(), set()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen
