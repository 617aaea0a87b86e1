"""Which services depend on which managed paths and binaries, and which services a node runs.

Repairing drift restarts only the services whose own files or binaries were repaired; these
rules say which those are. Pure, from the same constants the renderers use.
"""

from __future__ import annotations

from render import control_plane as cp
from render import etcd, kube_proxy, kubelet, runtime
from render.systemd import UNIT_DIR
from spec.model import ClusterSpec, NodeSpec

APISERVER = f"{cp.APISERVER}.service"
KCM = f"{cp.KCM}.service"
SCHEDULER = f"{cp.SCHEDULER}.service"

# Binary name -> the service that runs it (a replaced binary restarts its service).
BINARY_UNITS = {
    "kube-apiserver": APISERVER,
    "kube-controller-manager": KCM,
    "kube-scheduler": SCHEDULER,
    "kubelet": kubelet.UNIT,
    "kube-proxy": kube_proxy.UNIT,
    "etcd": etcd.UNIT,
    "containerd": "containerd.service",
    "crio": "crio.service",
}


def expected_units(spec: ClusterSpec, node: NodeSpec) -> list[str]:
    """The long-running services of a node: each must be enabled and running."""
    units: list[str] = []
    if node.is_etcd:
        units.append(etcd.UNIT)
    if node.is_control_plane:
        units += [APISERVER, KCM, SCHEDULER]
    if node.runs_kubelet:
        units += [runtime.runtime_info(spec).unit, kubelet.UNIT]
        if spec.kube_proxy.enabled:
            units.append(kube_proxy.UNIT)
    return units


def units_for_path(path: str) -> list[str]:
    """Services that read a managed file (and so restart when it is repaired)."""
    if path.startswith(f"{UNIT_DIR}/"):
        return [path.removeprefix(f"{UNIT_DIR}/")]
    if path.startswith("/etc/etcd/"):
        return [etcd.UNIT]
    if path.startswith(f"{cp.PKI}/"):
        return [APISERVER, KCM]
    if path in (cp.ENCRYPTION_CONFIG, cp.AUDIT_POLICY):
        return [APISERVER]
    if path == cp.KCM_KUBECONFIG:
        return [KCM]
    if path in (cp.SCHEDULER_KUBECONFIG, cp.SCHEDULER_CONFIG):
        return [SCHEDULER]
    if path.startswith((f"{kubelet.KUBELET_DIR}/", f"{kubelet.STATE_DIR}/")):
        return [kubelet.UNIT]
    if path.startswith(f"{kube_proxy.PROXY_DIR}/"):
        return [kube_proxy.UNIT]
    if path.startswith("/etc/containerd/"):
        return ["containerd.service"]
    if path.startswith("/etc/crio/"):
        return ["crio.service"]
    return []


def units_for_binary(path: str) -> list[str]:
    unit = BINARY_UNITS.get(path.rsplit("/", 1)[-1])
    return [unit] if unit else []
