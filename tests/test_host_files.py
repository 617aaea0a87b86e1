"""The managed-file installer: real sh on a temp root; atomic, idempotent, secrets only on stdin."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from render.host_files import FileMeta, encode_bundle, install_command, remove_command, sha256
from render.scripts import inline


def run(script: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`script` as a host runs it (the library files it sources in place)."""
    return subprocess.run(
        ["sh", "-c", inline(script)], input=stdin, text=True, capture_output=True, check=True
    )


def test_install_writes_modes_and_is_idempotent(tmp_path: Path) -> None:
    secret = tmp_path / "etc/k8s/pki/ca.key"
    plain = tmp_path / "etc/k8s/config.yaml"
    files = [
        (FileMeta(str(secret), "0600"), "-----BEGIN PRIVATE KEY-----\nabc\n"),
        (FileMeta(str(plain), "0644"), "kind: Config\n"),
    ]
    command = install_command([(m, sha256(c)) for m, c in files])
    first = run(command, encode_bundle(files))
    assert secret.read_text() == files[0][1] and plain.read_text() == files[1][1]
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(plain.stat().st_mode) == 0o644
    assert first.stdout.count("updated") == 2
    before = secret.stat().st_mtime_ns
    second = run(command, encode_bundle(files))
    assert second.stdout == "", "an unchanged file is left untouched"
    assert secret.stat().st_mtime_ns == before
    assert not list(tmp_path.rglob("*.k8sfs-new")), "no temp files are left behind"


def test_changed_content_or_mode_is_rewritten(tmp_path: Path) -> None:
    target = tmp_path / "a.conf"
    run(install_command([]), encode_bundle([(FileMeta(str(target), "0644"), "one\n")]))
    out = run("true\n" + install_command([]), encode_bundle([(FileMeta(str(target), "0600"), "one\n")]))
    assert f"updated {target}" in out.stdout
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    run(install_command([]), encode_bundle([(FileMeta(str(target), "0600"), "two\n")]))
    assert target.read_text() == "two\n"


def test_empty_and_binary_safe_content(tmp_path: Path) -> None:
    empty, odd = tmp_path / "empty", tmp_path / "odd"
    content = "line with 'quotes' and $dollar and `ticks`\n\n\ttab\n"
    run(install_command([]), encode_bundle([(FileMeta(str(empty)), ""), (FileMeta(str(odd)), content)]))
    assert empty.read_text() == "" and odd.read_text() == content


def test_command_text_names_paths_and_hashes_but_never_content() -> None:
    meta = FileMeta("/etc/kubernetes/pki/ca.key", "0600")
    secret = "-----BEGIN EC PRIVATE KEY-----\nsecret-material\n"
    command = install_command([(meta, sha256(secret))])
    assert "/etc/kubernetes/pki/ca.key" in command and sha256(secret) in command
    assert "secret-material" not in command


def test_remove_undoes_install(tmp_path: Path) -> None:
    d = tmp_path / "etc/k8sfs"
    metas = [FileMeta(str(d / "a")), FileMeta(str(d / "b"))]
    run(install_command([]), encode_bundle([(m, "x") for m in metas]))
    run(remove_command(metas, dirs=(str(d),)))
    assert not d.exists()
    run(remove_command(metas, dirs=(str(d),)))  # idempotent: a second destroy is fine


@pytest.mark.parametrize("bad", ["relative/path", "/with space", ""])
def test_paths_must_be_absolute_without_spaces(bad: str) -> None:
    with pytest.raises(ValueError):
        FileMeta(bad)


def test_mode_must_be_octal() -> None:
    with pytest.raises(ValueError):
        FileMeta("/etc/x", "644")


@pytest.mark.realtool
@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_scripts_pass_shellcheck(tmp_path: Path) -> None:
    metas = [FileMeta("/etc/a", "0600"), FileMeta("/etc/b")]
    for i, script in enumerate(
        [install_command([(m, "0" * 64) for m in metas]), remove_command(metas, ("/etc",))]
    ):
        path = tmp_path / f"s{i}.sh"
        path.write_text("#!/bin/sh\n" + inline(script))
        subprocess.run(["shellcheck", "-s", "sh", str(path)], check=True)


def test_owner_is_applied(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("chown to another user needs root")
    target = tmp_path / "owned"
    run(install_command([]), encode_bundle([(FileMeta(str(target), "0640", "nobody", "nogroup"), "x")]))
    assert target.stat().st_uid != 0


def test_parent_directories_are_traversable_by_service_users(tmp_path: Path) -> None:
    """A service running as its own user (etcd, kube) must reach its 0600 files."""
    target = tmp_path / "etc/kubernetes/pki/sa.key"
    run(install_command([]), encode_bundle([(FileMeta(str(target), "0600"), "key")]))
    for parent in (tmp_path / "etc", tmp_path / "etc/kubernetes", tmp_path / "etc/kubernetes/pki"):
        assert stat.S_IMODE(parent.stat().st_mode) == 0o755, parent
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
