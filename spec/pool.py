"""Node pools: a stack of workers that join a cluster another stack of this project made.

One stack stops scaling somewhere (the engine writes its whole state again at every step, so its
cost grows with the square of its resources: docs/scale.md). A pool stack holds workers only;
`pulumi up` in it touches only them. It reads its cluster through the cluster stack's `pool`
output (a secret): `settings`, the cluster's own configuration as resolved (its nodes, API
endpoint, name and binaries spelled out, its lab and SSH settings left out), and the credentials
the pool's workers and its Kubernetes provider use (components/node_pool.py).

A pool stack sets only `pool.cluster`, `nodes` and `ssh`. Its spec is the cluster's settings with
the pool's nodes added, validated by the same rules as any stack, so a pool's node can clash with
no node of the cluster (a pool cannot see other pools: their clashes are refused by the API when
the second one's allow list is created).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from spec.model import ClusterSpec, NodeSpec
from spec.problems import Problem, Problems, show
from spec.reader import Reader

POOL_KEYS = ("pool", "nodes", "ssh")
# Left out of the settings a cluster gives its pools: the pool has its own hosts and SSH access.
NOT_SHARED = ("lab", "ssh", "nodes")
OUTPUT = "pool"  # the cluster stack's output that pools read


@dataclass(frozen=True)
class PoolSpec:
    cluster: str  # the cluster stack as the pool names it (pool.cluster)
    members: tuple[NodeSpec, ...]  # the pool's own nodes; the spec's other nodes are the cluster's


def node_settings(node: NodeSpec) -> dict[str, Any]:
    """One resolved node as configuration (without its SSH settings, which are the cluster's)."""
    out: dict[str, Any] = {
        "name": node.name,
        "address": node.address,
        "internalAddress": node.internal_address,
        "roles": sorted(node.roles),
        "arch": node.arch,
        "os": node.os,
    }
    if node.labels:
        out["labels"] = dict(node.labels)
    if node.taints:
        out["taints"] = [{"key": t.key, "value": t.value, "effect": t.effect} for t in node.taints]
    if node.kubernetes_version:
        out["kubernetesVersion"] = node.kubernetes_version
    return out


def cluster_settings(spec: ClusterSpec, raw: Mapping[str, Any]) -> dict[str, Any]:
    """What a pool needs of the cluster stack's configuration `raw` (spec: its resolved form):
    every setting but NOT_SHARED as given, with what the cluster resolved itself spelled out, so
    that the pool renders its workers exactly as the cluster renders its own."""
    settings = {k: v for k, v in raw.items() if k not in NOT_SHARED}
    settings["clusterName"] = spec.cluster_name
    settings["apiEndpoint"] = f"{spec.api_endpoint.host}:{spec.api_endpoint.port}"
    settings["nodes"] = [node_settings(n) for n in spec.nodes]
    if spec.binaries.base_url is not None or spec.binaries.checksums:
        settings["binaries"] = {"baseUrl": spec.binaries.base_url, "checksums": dict(spec.binaries.checksums)}
        if spec.binaries.base_url is None:
            del settings["binaries"]["baseUrl"]
    return settings


def stack_reference(cluster: str, organization: str, project: str) -> str:
    """pool.cluster as a fully qualified stack name: `dev` is this project's stack in this
    organization; `org/project/stack` is taken as it is."""
    return cluster if "/" in cluster else f"{organization}/{project}/{cluster}"


DIY_ORGANIZATION = "organization"  # what a file backend calls the organization of every stack


def pool_raw(raw: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration the pool is validated as: the cluster's settings, the pool's nodes first
    (so that problems name them by their index in the pool's own `nodes`), then the cluster's,
    and the pool's SSH settings."""
    merged = {k: v for k, v in settings.items() if k != "nodes"}
    own = raw.get("nodes")
    merged["nodes"] = [*(own if isinstance(own, list) else []), *settings.get("nodes", [])]
    if "ssh" in raw:
        merged["ssh"] = raw["ssh"]
    return merged


def check_pool_keys(
    raw: Mapping[str, Any], problems: Problems, declared: set[str] | None = None
) -> str | None:
    """The pool's own keys: only POOL_KEYS, a named cluster stack, at least one node, workers
    only. Returns pool.cluster when it is usable. `declared`: as spec.parse.parse's."""
    for key in sorted(raw):
        if key not in POOL_KEYS:
            problems.error(
                key,
                raw[key],
                "is a cluster-wide setting: a pool stack takes it from its cluster stack",
                "set it in the cluster stack and remove it here: a pool sets only pool.cluster, nodes, ssh",
            )
    pool = Reader(raw.get("pool"), "pool", problems, declared=declared)
    cluster = pool.text("cluster")
    pool.finish()
    if cluster is None or not cluster.strip():
        problems.error(
            "pool.cluster",
            cluster,
            "is missing",
            "name the cluster's stack: `dev` (this project) or `organization/project/stack`",
        )
        cluster = None
    nodes = raw.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        problems.error("nodes", nodes, "is empty", "list the pool's workers")
    else:
        for i, node in enumerate(nodes):
            roles = node.get("roles") if isinstance(node, Mapping) else None
            if isinstance(roles, list) and roles and set(roles) != {"worker"}:
                problems.error(
                    f"nodes[{i}].roles",
                    roles,
                    "is not [worker]: a pool holds workers only",
                    "put etcd members and control planes in the cluster stack",
                )
    return cluster


def node_index(path: str) -> int | None:
    """The index of the node a problem's path is on (`nodes[i]...`); None: on no node."""
    if not path.startswith("nodes[") or "]" not in path:
        return None
    return int(path[len("nodes[") : path.index("]")])


def node_field(path: str) -> str:
    """What of its node a problem's path names (`.name` of `nodes[3].name`)."""
    return path[path.index("]") + 1 :] if "]" in path else path


def cluster_problem(problem: Problem, pool_size: int, settings: Mapping[str, Any], cluster: str) -> Problem:
    """A problem found in the merged configuration, as the pool's user must read it: one on a
    cluster node (`nodes[j]` past the pool's own) or on a cluster setting names the cluster."""
    path = problem.path
    index = node_index(path)
    if index is not None:
        if index < pool_size:
            return problem
        nodes = settings.get("nodes", [])
        name = nodes[index - pool_size].get("name") if index - pool_size < len(nodes) else "?"
        return Problem(
            "pool.cluster",
            cluster,
            f"its node {name} ({node_field(path).lstrip('.') or 'the node'}): {problem.message}",
            problem.remedy,
            problem.warning,
        )
    if path.split(".")[0].split("[")[0] in POOL_KEYS:
        return problem
    return Problem(
        "pool.cluster",
        cluster,
        f"its setting {path} = {show(problem.value)}: {problem.message}",
        f"{problem.remedy} (in the cluster stack)",
        problem.warning,
    )


SettingsReader = Callable[[str], Mapping[str, Any]]
