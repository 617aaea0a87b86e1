"""Stack configs of any size for the bench, as `pulumi config` would hand them to the program.

1 node: one etcd + control-plane node that is a worker too (else nothing could be scheduled;
every node runs kubelet anyway). More nodes:
three etcd members / control planes behind a load balancer name, the rest workers. Addresses sit
in 10.20.0.0/16 (control planes) and 10.21.0.0/16 (workers), outside the pod range (a /14, so
that 500 nodes get a /24 each) and the default service range 10.96.0.0/12.
"""

from __future__ import annotations

import copy
from typing import Any

STACK = "bench"
POD_CIDR = "10.240.0.0/14"
API_ENDPOINT = "k8s-api.bench.internal:6443"
SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nbench-key\n-----END OPENSSH PRIVATE KEY-----\n"
CONTROL_PLANES = 3


def worker_name(i: int) -> str:
    return f"w{i}"


def worker_address(i: int) -> str:
    return f"10.21.{i // 250}.{i % 250 + 1}"


def worker(i: int, labels: dict[str, str] | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"name": worker_name(i), "address": worker_address(i), "roles": ["worker"]}
    if labels:
        node["labels"] = labels
    return node


def bench_config(nodes: int) -> tuple[dict[str, Any], set[str]]:
    """(raw config, keys set as secrets) of a stack with `nodes` nodes."""
    if nodes < 1:
        raise ValueError("a stack needs at least one node")
    if nodes == 1:
        members = [{"name": "cp1", "address": "10.20.0.11", "roles": ["etcd", "control-plane", "worker"]}]
        endpoint: dict[str, Any] = {}
    else:
        count = min(CONTROL_PLANES, nodes)
        members = [
            {"name": f"cp{i}", "address": f"10.20.0.{10 + i}", "roles": ["etcd", "control-plane"]}
            for i in range(1, count + 1)
        ]
        endpoint = {"apiEndpoint": API_ENDPOINT}
    workers = [worker(i, {"bench.example.com/pool": "general"}) for i in range(1, nodes - len(members) + 1)]
    raw = {
        **endpoint,
        "network": {"podCidr": POD_CIDR},
        "nodes": members + workers,
        "ssh": {"user": "root", "privateKey": SSH_KEY},
    }
    return raw, {"ssh"}


def with_worker_added(raw: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The same config with one more worker at the end of the list; returns its name."""
    changed = copy.deepcopy(raw)
    taken = {n["name"] for n in changed["nodes"]}
    i = 1
    while worker_name(i) in taken:
        i += 1
    changed["nodes"].append(worker(i))
    return changed, worker_name(i)


def with_labels_changed(raw: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The same config with the first worker's labels changed; returns its name."""
    changed = copy.deepcopy(raw)
    node = next(n for n in changed["nodes"] if "worker" in n["roles"] and "control-plane" not in n["roles"])
    node["labels"] = {**node.get("labels", {}), "bench.example.com/pool": "gpu"}
    return changed, node["name"]
