"""kube-proxy on one node: KubeProxyConfiguration as data, its unit and scripts.

It runs on every kubelet node (control planes too, as kubeadm's DaemonSet does) unless
kubeProxy.mode is `disabled` (a CNI that replaces it). Its identity is the client certificate
system:kube-proxy from Pki, bound to system:node-proxier by Kubernetes' default RBAC.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from render import yaml_dump
from render.common import BIN_DIR, managed
from render.host_files import FileMeta
from render.scripts import script
from render.systemd import STATE_DIR as SERVICE_HASH_DIR
from render.systemd import UNIT_DIR, own_unit, restart_always_unit
from spec.model import ClusterSpec, NodeSpec

PROXY_DIR = "/etc/kubernetes/kube-proxy"
CONFIG = f"{PROXY_DIR}/config.yaml"
KUBECONFIG = f"{PROXY_DIR}/kubeconfig"
UNIT = "kube-proxy.service"
UNIT_FILE = f"{UNIT_DIR}/{UNIT}"
KUBECONFIG_META = FileMeta(KUBECONFIG, mode="0600")


def kube_proxy_config(spec: ClusterSpec, node: NodeSpec) -> dict[str, Any]:
    """KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1) for one node."""
    if not spec.kube_proxy.enabled:
        raise ValueError("kube-proxy is disabled in this spec")
    config: dict[str, Any] = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": KUBECONFIG},
        "mode": spec.kube_proxy.mode,
        # Traffic from outside this range to a Service is masqueraded (detectLocalMode ClusterCIDR).
        "clusterCIDR": spec.network.pod_cidr,
        # The Node object's name, which kubelet registered with --hostname-override.
        "hostnameOverride": node.name,
    }
    if spec.kube_proxy.conntrack_max_per_core is not None:
        # 0 on hosts that are containers (the lab's): nf_conntrack_max is read-only outside the
        # machine's own network namespace, so kube-proxy must leave it alone (as kind does).
        config["conntrack"] = {"maxPerCore": spec.kube_proxy.conntrack_max_per_core}
    return config


def render_kube_proxy_config(spec: ClusterSpec, node: NodeSpec) -> str:
    return managed(yaml_dump.dump(kube_proxy_config(spec, node), sort_keys=False))


def kube_proxy_unit() -> str:
    return managed(
        restart_always_unit(
            "Kubernetes kube-proxy (k8s-from-scratch)",
            "https://kubernetes.io/docs/reference/command-line-tools-reference/kube-proxy/",
            [f"{BIN_DIR}/kube-proxy", f"--config={CONFIG}"],
        )
    )


def static_files(spec: ClusterSpec, node: NodeSpec) -> list[tuple[FileMeta, str]]:
    """kube-proxy's files known at render time (its kubeconfig comes from Pki)."""
    return [
        (FileMeta(CONFIG), render_kube_proxy_config(spec, node)),
        (FileMeta(UNIT_FILE), kube_proxy_unit()),
    ]


def service_script(node: NodeSpec, content_hash: str, files: Sequence[str]) -> str:
    """Create/update: start kube-proxy, or restart it when `files` (their sha256: `content_hash`)
    changed."""
    return script(
        "kube-proxy/start.sh",
        NODE=node.name,
        UNIT=UNIT,
        HASH=content_hash,
        HASH_DIR=SERVICE_HASH_DIR,
        WATCHED=" ".join(files),
    )


def stop_script() -> str:
    """Delete: stop our kube-proxy, then remove the Service rules it programmed."""
    return script(
        "kube-proxy/stop.sh", **own_unit(UNIT), KUBE_PROXY=f"{BIN_DIR}/kube-proxy", HASH_DIR=SERVICE_HASH_DIR
    )
