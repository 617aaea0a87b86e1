"""Binary artifacts: URLs, checksums, the load_spec check, and the install script run for real."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from render import artifacts as a
from render.scripts import inline
from spec import SpecError
from spec.checksums import CHECKSUMS
from spec.model import BinariesSpec
from tests.support.specs import PRESETS, config_spec, preset_spec

# a control plane, an arm64 worker and two etcd-only members
NODES = [
    {"name": "cp", "address": "10.1.0.1", "roles": ["etcd", "control-plane"]},
    {"name": "w", "address": "10.1.0.2", "roles": ["worker"], "arch": "arm64"},
    {"name": "e1", "address": "10.1.0.3", "roles": ["etcd"]},
    {"name": "e2", "address": "10.1.0.4", "roles": ["etcd"]},
]


def test_roles_decide_the_artifacts() -> None:
    spec = config_spec(NODES)
    cp, w, e1, _ = spec.nodes
    cp_art = {x.name: x for x in a.node_artifacts(spec, cp)}
    w_art = {x.name: x for x in a.node_artifacts(spec, w)}
    assert [x.name for x in a.node_artifacts(spec, e1)] == ["etcd"]  # no kubelet: no runtime
    # control planes register as nodes: they get the runtime too
    assert set(cp_art) == {"kubernetes-server", "etcd", "containerd", "runc", "crictl", "cni-plugins"}
    server_bins = {m.dest.rsplit("/", 1)[1] for m in cp_art["kubernetes-server"].members}
    assert {"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet"} <= server_bins
    assert set(w_art) == {"kubernetes-node", "containerd", "runc", "crictl", "cni-plugins"}
    assert all(x.arch == "arm64" for x in w_art.values())
    assert "kube-apiserver" not in {m.dest.rsplit("/", 1)[1] for m in w_art["kubernetes-node"].members}


def test_crio_kata_and_disabled_kube_proxy() -> None:
    spec = config_spec(
        NODES,
        runtime={"name": "crio", "kata": True},
        cni={"name": "cilium", "kubeProxyReplacement": True},
        kubeProxy={"mode": "disabled"},
    )
    names = [x.name for x in a.node_artifacts(spec, spec.nodes[1])]
    assert "kubernetes-server" in [x.name for x in a.node_artifacts(spec, spec.nodes[0])]
    assert names == ["kubernetes-node", "crio", "crictl", "cni-plugins", "kata"]
    node = a.node_artifacts(spec, spec.nodes[1])[0]
    assert "kube-proxy" not in {m.dest.rsplit("/", 1)[1] for m in node.members}


def test_upstream_and_mirror_urls() -> None:
    etcd = a.artifact("etcd", "3.6.15", "amd64")
    assert etcd.url(None) == (
        "https://github.com/etcd-io/etcd/releases/download/v3.6.15/etcd-v3.6.15-linux-amd64.tar.gz"
    )
    assert etcd.url("https://m.example/k8s/") == (
        "https://m.example/k8s/etcd/3.6.15/etcd-v3.6.15-linux-amd64.tar.gz"
    )
    server = a.node_artifacts(config_spec(NODES), config_spec(NODES).nodes[0])[0]
    assert server.url(None) == "https://dl.k8s.io/v1.35.4/kubernetes-server-linux-amd64.tar.gz"
    assert a.artifact("runc", "1.4.3", "arm64").url(None).endswith("/v1.4.3/runc.arm64")


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_every_preset_has_every_checksum(path: Path) -> None:
    spec = preset_spec(path)  # a lab stack's checksums are its mirror's
    for node in spec.nodes:
        for art in a.node_artifacts(spec, node):
            algo, _, digest = (a.checksum(spec, art) or "").partition(":")
            assert len(digest) == {"sha256": 64, "sha512": 128}[algo]


def test_unpinned_version_is_a_clear_error_of_load_spec_naming_the_key() -> None:
    with pytest.raises(SpecError, match=r"no pinned checksum for etcd 3\.6\.99") as err:
        config_spec(NODES, versions={"etcd": "3.6.99"})
    problems = err.value.problems
    assert [(p.path, p.value) for p in problems] == [("versions.etcd", "3.6.99")]  # reported once
    assert "binaries.checksums.etcd/3.6.99/amd64" in problems[0].remedy
    with pytest.raises(LookupError):  # not one of the spec's downloads: it has no checksum
        a.install_script(config_spec(NODES), a.artifact("etcd", "3.6.99", "amd64"))


def test_a_refused_version_is_not_refused_twice() -> None:
    with pytest.raises(SpecError) as err:
        config_spec(NODES, versions={"etcd": "3.4.23"})  # too old, and unpinned: one problem says so
    assert [p.path for p in err.value.problems] == ["versions.etcd"]


def test_checksum_override_wins_and_fills_gaps() -> None:
    digest = "sha256:" + "a" * 64
    spec = config_spec(
        NODES, versions={"etcd": "3.6.99"}, binaries={"checksums": {"etcd/3.6.99/amd64": digest}}
    )
    assert a.checksum(spec, a.artifact("etcd", "3.6.99", "amd64")) == digest
    assert f"SUM='{'a' * 64}'" in a.install_script(spec, a.artifact("etcd", "3.6.99", "amd64"))
    pinned = CHECKSUMS["etcd/3.6.15/amd64"]
    assert a.checksum(spec, a.artifact("etcd", "3.6.15", "amd64")) == pinned


def test_kubernetes_tarballs_use_sha512() -> None:
    spec = config_spec(NODES)
    script = a.install_script(spec, a.node_artifacts(spec, spec.nodes[0])[0])
    assert "ALGO='sha512'" in script and "URL='https://dl.k8s.io/v1.35.4/" in script


# --- the install script, run for real against a file:// mirror --------------------------------


def _tarball(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _run(script: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """`script` as a host runs it (the library files it sources in place)."""
    result = subprocess.run(["sh", "-c", inline(script)], capture_output=True, text=True, timeout=60)
    if ok:
        assert result.returncode == 0, result.stderr
    return result


@pytest.mark.realtool
def test_install_is_verified_atomic_idempotent_and_removable(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    mirror, root = tmp_path / "mirror", tmp_path / "root"
    version = "9.9.9"
    stem = f"etcd-v{version}-linux-amd64"
    data = _tarball({f"{stem}/etcd": b"etcd-v1", f"{stem}/etcdctl": b"ctl", f"{stem}/etcdutl": b"utl"})
    (mirror / "etcd" / version).mkdir(parents=True)
    (mirror / "etcd" / version / f"{stem}.tar.gz").write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    spec = dataclasses.replace(
        config_spec(NODES),
        binaries=BinariesSpec(
            base_url=f"file://{mirror}", checksums={f"etcd/{version}/amd64": f"sha256:{sha}"}
        ),
    )
    art = a.artifact("etcd", version, "amd64")
    art = dataclasses.replace(
        art, members=tuple(dataclasses.replace(m, dest=f"{root}{m.dest}") for m in art.members)
    )
    dirs = {"cache_dir": str(tmp_path / "cache"), "state_dir": str(tmp_path / "state" / "artifacts")}
    install, remove = a.install_script(spec, art, **dirs), a.remove_script(art, **dirs)

    first = _run(install)
    etcd_bin = root / "usr/local/bin/etcd"
    assert etcd_bin.read_bytes() == b"etcd-v1" and os.access(etcd_bin, os.X_OK)
    assert "installed" in first.stdout
    assert _run(install).stdout.strip() == f"etcd {version}: already installed"

    etcd_bin.write_bytes(b"tampered")  # a changed binary is put back
    assert "reinstalling" in _run(install).stdout
    assert etcd_bin.read_bytes() == b"etcd-v1"

    bad = a.install_script(
        dataclasses.replace(
            spec,
            binaries=dataclasses.replace(
                spec.binaries, checksums={f"etcd/{version}/amd64": "sha256:" + "0" * 64}
            ),
        ),
        art,
        **dirs,
    )
    shutil.rmtree(tmp_path / "cache")
    failed = _run(bad, ok=False)
    assert failed.returncode != 0 and "refusing to install" in failed.stderr
    assert etcd_bin.read_bytes() == b"etcd-v1"  # the bad download never replaced anything

    _run(remove)
    assert not etcd_bin.exists() and not (root / "usr/local/bin/etcdctl").exists()
    assert not (tmp_path / "cache" / "etcd").exists()
    assert not (tmp_path / "state").exists()
    _run(remove)  # destroy twice is harmless


@pytest.mark.realtool
def test_rendered_artifact_scripts_pass_shellcheck(tmp_path: Path) -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    spec = config_spec(NODES, runtime={"name": "crio", "kata": True})
    scripts = []
    for node in spec.nodes:
        for art in a.node_artifacts(spec, node):
            scripts += [a.install_script(spec, art), a.remove_script(art)]
    for i, text in enumerate(scripts):
        (tmp_path / f"{i}.sh").write_text(inline(text))
    result = subprocess.run(
        ["shellcheck", "-s", "sh", *sorted(str(p) for p in tmp_path.glob("*.sh"))],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout
