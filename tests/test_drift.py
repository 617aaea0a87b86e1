"""Drift: the comparison logic (pure) and the DriftGuard provider reading a real host over SSH."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from components.drift_guard import DriftGuardProvider, drifts, repair
from components.ssh import SshError, Target, run, run_checked
from render import drift
from render.host_files import FileMeta, encode_bundle, install_command, sha256
from render.scripts import inline
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


# --- the DriftGuard provider against a real sshd on this machine -----------------------------


def _props(sshd: LocalSshd, root: Path, files: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """A guard's props for files only (no systemd or artifacts on this machine)."""
    manifest = [
        {
            "path": str(root / rel),
            "mode": mode,
            "owner": "root",
            "group": "root",
            "sha256": sha256(content),
            "units": [],
        }
        for rel, (mode, content) in files.items()
    ]
    return {
        **sshd.props(),
        "files": manifest,
        "contents": [content for _mode, content in files.values()],
        "units": [],
        "artifacts": [],
    }


def _write(props: dict[str, Any]) -> None:
    """What the host steps do before the guard exists: put the files in place."""
    metas = [FileMeta(f["path"], f["mode"], f["owner"], f["group"]) for f in props["files"]]
    command = inline(install_command([(m, f["sha256"]) for m, f in zip(metas, props["files"], strict=True)]))
    run_checked(
        Target.from_props(props), command, encode_bundle(list(zip(metas, props["contents"], strict=True)))
    )


def test_guard_detects_and_repairs_only_drifted_files(local_sshd: LocalSshd, tmp_path: Path) -> None:  # noqa: F811
    provider = DriftGuardProvider()
    props = _props(
        local_sshd,
        tmp_path / "etc",
        {
            "apiserver.env": ("0600", "ARGS=--anonymous-auth=false\n"),
            "kubelet.yaml": ("0644", "kind: KubeletConfiguration\n"),
            "untouched.conf": ("0644", "same\n"),
        },
    )
    _write(props)
    created = provider.create(props)
    assert created.outs is not None
    # The contents are an input only (a repair reads them there): not stored a second time.
    outputs = {k: v for k, v in props.items() if k != "contents"}
    assert created.outs == outputs

    # Untouched: refresh returns exactly the expected state, so the diff is empty.
    fresh = provider.read(created.id, created.outs).outs
    assert fresh is not None
    assert fresh == outputs
    assert not provider.diff(created.id, fresh, props).changes

    # Hand edits: a changed flag and a deleted file.
    (tmp_path / "etc/apiserver.env").write_text("ARGS=--anonymous-auth=true\n")
    (tmp_path / "etc/kubelet.yaml").unlink()
    untouched_mtime = (tmp_path / "etc/untouched.conf").stat().st_mtime_ns
    drifted = provider.read(created.id, created.outs).outs
    assert drifted is not None
    observed = {f["path"]: f["sha256"] for f in drifted["files"]}
    assert observed[str(tmp_path / "etc/kubelet.yaml")] == drift.MISSING
    assert observed[str(tmp_path / "etc/apiserver.env")] == sha256("ARGS=--anonymous-auth=true\n")
    assert sorted(d.name for d in drifts(props, drifted)) == [
        str(tmp_path / "etc/apiserver.env"),
        str(tmp_path / "etc/kubelet.yaml"),
    ]
    assert provider.diff(created.id, drifted, props).changes

    provider.update(created.id, drifted, props)
    assert (tmp_path / "etc/apiserver.env").read_text() == "ARGS=--anonymous-auth=false\n"
    assert oct((tmp_path / "etc/apiserver.env").stat().st_mode & 0o777) == "0o600"
    assert (tmp_path / "etc/kubelet.yaml").exists()
    assert (tmp_path / "etc/untouched.conf").stat().st_mtime_ns == untouched_mtime, "only drift is rewritten"
    assert provider.read(created.id, outputs).outs == outputs


def test_secret_content_never_in_command_text(local_sshd: LocalSshd, tmp_path: Path, monkeypatch) -> None:  # noqa: F811
    sent: list[str] = []
    import components.drift_guard as guard

    real_run_checked = guard.run_checked

    def spy(target: Target, command: str, stdin: str = "", what: str = "") -> object:
        sent.append(command)
        return real_run_checked(target, command, stdin, what)

    monkeypatch.setattr(guard, "run_checked", spy)
    key = "-----BEGIN EC PRIVATE KEY-----\nsuper-secret\n"
    props = _props(local_sshd, tmp_path, {"ca.key": ("0600", key)})
    repair(props)  # the file is missing: the repair writes it
    assert (tmp_path / "ca.key").read_text() == key
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


def test_guard_diff_sees_unit_and_artifact_state() -> None:
    provider = DriftGuardProvider()
    base = {
        "host": "h",
        "files": [],
        "contents": [],
        "units": [{"unit": "etcd.service", "enabled": "enabled", "active": "active"}],
        "artifacts": [{"name": "cni-plugins", "install": "true", "state": "ok"}],
    }
    assert not provider.diff("id", base, dict(base)).changes
    stopped = {**base, "units": [{"unit": "etcd.service", "enabled": "enabled", "active": "inactive"}]}
    assert provider.diff("id", stopped, base).changes
    assert [(d.kind, d.observed) for d in drifts(base, stopped)] == [("unit", "inactive")]
    broken = {
        **base,
        "artifacts": [{"name": "cni-plugins", "install": "true", "state": "drifted:/opt/cni/bin/bridge"}],
    }
    assert [(d.kind, d.name) for d in drifts(base, broken)] == [("binary", "cni-plugins")]


def test_guard_diff_follows_the_hashes_not_the_stored_contents() -> None:
    """The outputs hold no contents (a state written by an earlier version does): a changed
    content changes its sha256 in `files`, which is what diff compares."""
    provider = DriftGuardProvider()
    entry = {"path": "/etc/a", "mode": "0644", "owner": "root", "group": "root", "units": []}
    news = {"host": "h", "files": [{**entry, "sha256": sha256("one")}], "contents": ["one"]}
    news |= {"units": [], "artifacts": []}
    outputs = {k: v for k, v in news.items() if k != "contents"}
    assert not provider.diff("id", outputs, news).changes
    assert not provider.diff("id", {**outputs, "contents": ["older state"]}, news).changes
    changed = {**news, "files": [{**entry, "sha256": sha256("two")}], "contents": ["two"]}
    assert provider.diff("id", outputs, changed).changes


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


def test_each_guarded_file_names_the_units_whose_steps_install_it() -> None:
    """The restart rules come from the wiring: a file repaired on a control plane restarts the
    services whose step lists it, and only those."""
    from mockrun.program import REPO, run_preset
    from render import control_plane as cp
    from render import kube_proxy, kubelet, systemd

    graph = run_preset(REPO / "stacks" / "Pulumi.ha-calico.yaml")
    guard = graph.named("ha-calico-cp1-drift-guard")
    units = {f["path"]: f["units"] for f in guard.inputs["files"]}
    api, kcm, scheduler = (f"{u}.service" for u in (cp.APISERVER, cp.KCM, cp.SCHEDULER))
    assert units[cp.APISERVER_CRT] == [api]
    assert sorted(units[cp.CA_CRT]) == sorted([api, kcm])
    assert units[cp.CA_KEY] == [kcm]
    assert units[cp.SCHEDULER_CONFIG] == [scheduler]
    # A repaired key or kubeconfig restarts the services that read a copy of it (a start copies
    # it afresh), and only those; so does a repaired copy helper, every one of them.
    for service, secrets in cp.SECRETS.items():
        for path in secrets:
            loaders = {f"{s}.service" for s, paths in cp.SECRETS.items() if path in paths}
            assert set(units[path]) == loaders, (service, path)
    assert sorted(units[cp.SA_KEY]) == sorted([api, kcm])
    assert sorted(units[systemd.SECRETS_HELPER]) == sorted([api, kcm, scheduler])
    assert units[kubelet.CONFIG] == [kubelet.UNIT] and units[kubelet.UNIT_FILE] == [kubelet.UNIT]
    assert units[kube_proxy.CONFIG] == [kube_proxy.UNIT]
    unread = [path for path, readers in units.items() if not readers]
    assert unread and all(p.startswith("/etc/sysctl.d/") or "modules-load" in p for p in unread), unread
    # The contents stay a secret input (the only copy in state: the provider's outputs leave
    # them out) and are no additional secret output (the engine would warn of a missing one).
    assert any(p == "contents" or p.startswith("contents[") for p in guard.secret_paths)
    assert "contents" not in guard.additional_secret_outputs
    assert {"private_key", "proxy"} <= set(guard.additional_secret_outputs)
