"""Drift: the comparison logic (pure) and the managed-files provider reading a real host over SSH."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from components.managed import ManagedFilesProvider, ManagedUnitProvider
from components.ssh import SshError, Target, run
from render import drift
from render.host_files import sha256
from tests.sshd_fixture import LocalSshd, local_sshd  # noqa: F401  (fixture)

# --- pure comparison -------------------------------------------------------------------------


def test_untouched_files_report_no_drift() -> None:
    want = {"/etc/a": drift.FileState("ab" * 32, "0644", "root", "root")}
    assert drift.compare_files(want, dict(want)) == []


def test_edited_missing_and_rechmoded_files_are_each_reported() -> None:
    want = {
        "/etc/kubernetes/apiserver.env": drift.FileState("a" * 64, "0600", "root", "root"),
        "/opt/cni/bin/bridge": drift.FileState("b" * 64, "0755", "root", "root"),
        "/etc/kubernetes/kubelet.yaml": drift.FileState("c" * 64, "0644", "root", "root"),
    }
    seen = {
        "/etc/kubernetes/apiserver.env": drift.FileState("d" * 64, "0600", "root", "root"),
        "/opt/cni/bin/bridge": drift.FileState(drift.MISSING),
        "/etc/kubernetes/kubelet.yaml": drift.FileState("c" * 64, "0666", "root", "root"),
    }
    drifts = {d.name: d for d in drift.compare_files(want, seen)}
    assert drifts["/etc/kubernetes/apiserver.env"].observed == "sha256:" + "d" * 12
    assert drifts["/opt/cni/bin/bridge"].observed == "no file"
    assert drifts["/etc/kubernetes/kubelet.yaml"].expected == "0644 root:root"
    assert len(drifts) == 3


def test_unit_states() -> None:
    want = {"etcd.service": drift.UnitState("enabled", "active")}
    assert drift.compare_units(want, {"etcd.service": drift.UnitState("enabled", "activating")}) == []
    stopped = drift.compare_units(want, {"etcd.service": drift.UnitState("enabled", "inactive")})
    assert [str(d) for d in stopped] == ["unit etcd.service: expected active, found inactive"]
    disabled = drift.compare_units(want, {"etcd.service": drift.UnitState("disabled", "active")})
    assert [(d.expected, d.observed) for d in disabled] == [("enabled", "disabled")]
    assert len(drift.compare_units(want, {})) == 2


def test_probe_output_parsing() -> None:
    out = "/etc/a\t" + "e" * 64 + "\t600\troot\troot\n/etc/b\tmissing\ngarbage\n"
    states = drift.parse_files_probe(out)
    assert states["/etc/a"] == drift.FileState("e" * 64, "0600", "root", "root")
    assert states["/etc/b"].sha256 == drift.MISSING
    assert "garbage" not in states
    units = drift.parse_units_probe("kubelet.service\tdisabled\tinactive\n")
    assert units["kubelet.service"] == drift.UnitState("disabled", "inactive")


# --- the provider against a real sshd on this machine ----------------------------------------


def _props(sshd: LocalSshd, root: Path, files: dict[str, tuple[str, str]]) -> dict[str, object]:
    manifest = [
        {"path": str(root / rel), "mode": mode, "owner": "root", "group": "root", "sha256": sha256(content)}
        for rel, (mode, content) in files.items()
    ]
    return {
        **sshd.props(),
        "name": "test-files",
        "manifest": manifest,
        "contents": [content for _mode, content in files.values()],
        "dirs": [str(root)],
    }


def test_files_provider_detects_and_repairs_drift(local_sshd: LocalSshd, tmp_path: Path) -> None:  # noqa: F811
    provider = ManagedFilesProvider()
    props = _props(
        local_sshd,
        tmp_path / "etc",
        {
            "apiserver.env": ("0600", "ARGS=--anonymous-auth=false\n"),
            "kubelet.yaml": ("0644", "kind: KubeletConfiguration\n"),
        },
    )
    created = provider.create(props)
    assert created.outs is not None
    assert (tmp_path / "etc/apiserver.env").read_text() == "ARGS=--anonymous-auth=false\n"
    assert oct((tmp_path / "etc/apiserver.env").stat().st_mode & 0o777) == "0o600"

    # Untouched: refresh returns exactly the state we wrote, so the diff is empty.
    fresh = provider.read(created.id, created.outs).outs
    assert fresh is not None
    assert fresh == props
    assert not provider.diff(created.id, fresh, props).changes

    # Hand edits: a changed flag and a deleted file.
    (tmp_path / "etc/apiserver.env").write_text("ARGS=--anonymous-auth=true\n")
    (tmp_path / "etc/kubelet.yaml").unlink()
    drifted = provider.read(created.id, created.outs).outs
    assert drifted is not None
    observed = {m["path"]: m["sha256"] for m in drifted["manifest"]}
    assert observed[str(tmp_path / "etc/kubelet.yaml")] == drift.MISSING
    assert observed[str(tmp_path / "etc/apiserver.env")] == sha256("ARGS=--anonymous-auth=true\n")
    assert provider.diff(created.id, drifted, props).changes

    provider.update(created.id, drifted, props)
    assert (tmp_path / "etc/apiserver.env").read_text() == "ARGS=--anonymous-auth=false\n"
    assert (tmp_path / "etc/kubelet.yaml").exists()
    assert provider.read(created.id, props).outs == props

    provider.delete(created.id, props)
    assert not (tmp_path / "etc").exists()


def test_dropped_files_are_removed_on_update(local_sshd: LocalSshd, tmp_path: Path) -> None:  # noqa: F811
    provider = ManagedFilesProvider()
    old = _props(local_sshd, tmp_path, {"a": ("0644", "1"), "b": ("0644", "2")})
    new = _props(local_sshd, tmp_path, {"a": ("0644", "1")})
    provider.create(old)
    provider.update("id", old, new)
    assert (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_secret_content_never_in_command_text(local_sshd: LocalSshd, tmp_path: Path, monkeypatch) -> None:  # noqa: F811
    sent: list[str] = []
    import components.managed as managed

    real_run_checked = managed.run_checked

    def spy(target: Target, command: str, stdin: str = "", what: str = "") -> object:
        sent.append(command)
        return real_run_checked(target, command, stdin, what)

    monkeypatch.setattr(managed, "run_checked", spy)
    key = "-----BEGIN EC PRIVATE KEY-----\nsuper-secret\n"
    ManagedFilesProvider().create(_props(local_sshd, tmp_path, {"ca.key": ("0600", key)}))
    assert sent and all("super-secret" not in c for c in sent)


def test_pinned_host_key_mismatch_is_refused(local_sshd: LocalSshd) -> None:  # noqa: F811
    wrong = Target(
        local_sshd.host,
        local_sshd.port,
        "root",
        local_sshd.private_key,
        host_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBogusBogusBogusBogusBogusBogusBogusBogusBog",
    )
    with pytest.raises(SshError, match="does not match the pinned key"):
        run(wrong, "true")


def test_unit_provider_diff_restarts_only_on_content_change() -> None:
    provider = ManagedUnitProvider()
    base = {"host": "h", "unit": "etcd.service", "restart_key": "1", "enabled": "enabled", "active": "active"}
    assert not provider.diff("id", base, dict(base)).changes
    assert provider.diff("id", {**base, "active": "inactive"}, base).changes
    assert provider.diff("id", base, {**base, "restart_key": "2"}).changes
    assert provider.diff("id", base, {**base, "host": "other"}).replaces == ["host"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_probe_script_runs_on_a_real_shell(local_sshd: LocalSshd, tmp_path: Path) -> None:  # noqa: F811
    (tmp_path / "f").write_text("x")
    out = run(
        Target.from_props(local_sshd.props()), drift.probe_files_script([str(tmp_path / "f"), "/nope"])
    ).stdout
    states = drift.parse_files_probe(out)
    assert states[str(tmp_path / "f")].sha256 == sha256("x")
    assert states["/nope"].sha256 == drift.MISSING


@pytest.mark.realtool
@pytest.mark.skipif(__import__("shutil").which("shellcheck") is None, reason="shellcheck not installed")
def test_probe_scripts_pass_shellcheck(tmp_path: Path) -> None:
    import subprocess

    for i, script in enumerate(
        [drift.probe_files_script(["/etc/a b", "/etc/c"]), drift.probe_units_script(["etcd.service"])]
    ):
        path = tmp_path / f"probe{i}.sh"
        path.write_text("#!/bin/sh\n" + script)
        subprocess.run(["shellcheck", "-s", "sh", str(path)], check=True)
