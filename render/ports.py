"""Ports our services listen on, each defined once: flags, firewall rules, the preflight's port
check and health checks all read them here."""

from __future__ import annotations

from spec import defaults as d
from spec.model import ClusterSpec

ETCD_CLIENT = 2379
ETCD_PEER = 2380
ETCD_METRICS = 2381  # /metrics and /health, plain HTTP on 127.0.0.1
CONTROLLER_MANAGER = 10257
SCHEDULER = 10259
KUBELET = 10250
KUBELET_HEALTHZ = 10248
KUBE_PROXY_HEALTHZ = 10256
NODE_PORTS = "30000-32767"  # Services of type NodePort


def api_server(spec: ClusterSpec) -> int:
    """The port kube-apiserver binds: apiEndpoint's when it names a control plane, else the default
    (a load balancer in front may listen on another port)."""
    cp_hosts = {h for n in spec.control_plane_nodes for h in (n.address, n.internal_address, n.name)}
    return spec.api_endpoint.port if spec.api_endpoint.host in cp_hosts else d.API_SERVER_PORT
