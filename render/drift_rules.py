"""Which services run which binaries, and which services a node runs.

Repairing drift restarts only the services whose own files or binaries were repaired. Which
service reads which file is not kept here: each service step notes its own files
(components.steps.HostSteps.readers) and the DriftGuard carries that with each file.
"""

from __future__ import annotations

from render import control_plane as cp
from render import etcd, kube_proxy, kubelet, runtime
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


def units_for_binary(path: str) -> list[str]:
    unit = BINARY_UNITS.get(path.rsplit("/", 1)[-1])
    return [unit] if unit else []
