"""render/kube_bench.py against kube-bench's own config.yaml, read from the pinned archive."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

import yaml

from render import control_plane as cp
from render import kube_bench, kubelet
from render.systemd import UNIT_DIR

ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "upstream" / "kube-bench-v0.15.6.tar.gz"


def upstream_config() -> dict[str, Any]:
    with tarfile.open(ARCHIVE) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/cfg/config.yaml"))
        handle = tar.extractfile(member)
        assert handle is not None
        loaded: dict[str, Any] = yaml.safe_load(handle)
    return loaded


def test_kube_bench_reads_our_units_and_kubelet_config_instead_of_kubeadms() -> None:
    upstream = upstream_config()
    ours = kube_bench.config(upstream)
    assert ours["master"]["apiserver"]["defaultconf"] == f"{UNIT_DIR}/{cp.APISERVER}.service"
    assert ours["master"]["apiserver"]["confs"] == [f"{UNIT_DIR}/{cp.APISERVER}.service"]
    assert ours["node"]["kubelet"]["defaultconf"] == kubelet.CONFIG
    assert ours["node"]["kubelet"]["defaultsvc"] == kubelet.UNIT_FILE
    text = yaml.safe_dump({k: ours[k] for k in ("master", "node", "etcd")})
    for kubeadm_path in ("/etc/kubernetes/manifests/", "/var/lib/kubelet/config.yaml", "10-kubeadm.conf"):
        assert kubeadm_path not in text, kubeadm_path
    # The rest of kube-bench's config (its version mapping, the other components) is kept.
    assert ours["version_mapping"] == upstream["version_mapping"]
    assert upstream["master"]["apiserver"]["defaultconf"].startswith("/etc/kubernetes/manifests/")


def test_kube_bench_checks_the_kubeconfigs_on_disk() -> None:
    """CIS 1.1.15-1.1.18 stat the root-owned files, not the copies the services read."""
    ours = kube_bench.config(upstream_config())
    assert ours["master"]["scheduler"]["kubeconfig"] == [cp.SCHEDULER_KUBECONFIG]
    assert ours["master"]["scheduler"]["defaultkubeconfig"] == cp.SCHEDULER_KUBECONFIG
    assert ours["master"]["controllermanager"]["kubeconfig"] == [cp.KCM_KUBECONFIG]
    assert ours["master"]["controllermanager"]["defaultkubeconfig"] == cp.KCM_KUBECONFIG
    assert not any(p.startswith("/run/credentials") for p in (cp.SCHEDULER_KUBECONFIG, cp.KCM_KUBECONFIG))
