"""What a worker's NodeHost renders from, and the SSH keys its provider reads.

A NodeHost (components/node_host.py) is applied, refreshed and deleted by its provider from the
stack's state alone: its `settings` input is the cluster's configuration as resolved
(spec.pool.cluster_settings), with the control planes and this node as its only nodes, and
the provider renders the node's parts from it as the program did (`load_node`). SSH keys are
not in it: the provider reads them from the stack's configuration (`node_keys`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from spec.binaries import with_binaries
from spec.model import ClusterSpec, NodeSpec
from spec.parse import decode_config_value, parse, top_level_ssh
from spec.pool import cluster_settings, node_settings
from spec.problems import Problems

# node name -> (its SSH private key, its bastion's key or None)
NodeKeys = dict[str, tuple[str, str | None]]
# NodeKeys' entry for the top-level `ssh` key: a node removed from `nodes` is reached with it
# when its NodeHost is deleted.
ANY_NODE = ""


def is_node_host(node: NodeSpec) -> bool:
    """A node that runs kubelet and nothing of the control plane: one NodeHost."""
    return node.runs_kubelet and not (node.is_etcd or node.is_control_plane)


class NodeSettings:
    """The settings of each NodeHost of a cluster, its shared part built once."""

    def __init__(self, spec: ClusterSpec, raw: Mapping[str, Any]) -> None:
        base = cluster_settings(spec, raw)
        self.base = {k: v for k, v in base.items() if k != "nodes"}
        self.control = [node_settings(n) for n in spec.nodes if not is_node_host(n)]

    def text(self, node: NodeSpec) -> str:
        """The `settings` input of `node`'s NodeHost: one JSON text."""
        settings = {**self.base, "nodes": [*self.control, node_settings(node)]}
        return json.dumps(settings, sort_keys=True, separators=(",", ":"))


# A provider operation renders from the same settings several times (parts, admission, probe).
@functools.lru_cache(maxsize=64)
def load_node(settings: str, name: str) -> tuple[ClusterSpec, NodeSpec]:
    """The spec a NodeHost renders from, and its node. The program validated the configuration
    it came from: what parsing reports here (no SSH key, above all) is not this spec's concern."""
    problems = Problems()
    spec, problems = parse(json.loads(settings), "node-host", frozenset(), problems)
    spec = with_binaries(spec, problems)
    for node in spec.nodes:
        if node.name == name:
            return spec, node
    raise ValueError(f"the settings of NodeHost {name} do not have its node")


def node_keys(ssh: Any, nodes: Any) -> NodeKeys:
    """Each configured node's SSH key (and its bastion's), and the top-level one (`ANY_NODE`),
    from the stack configuration's `ssh` and `nodes` values as a dynamic provider gets them
    (JSON texts, secrets decrypted)."""
    raw = {"ssh": decode_config_value(ssh) or {}, "nodes": decode_config_value(nodes) or []}
    problems = Problems()
    spec, _ = parse(raw, "node-host", frozenset({"ssh", "nodes"}), problems)
    keys: NodeKeys = {}
    for name, node_ssh in [
        (ANY_NODE, top_level_ssh(raw, True, problems)),
        *((n.name, n.ssh) for n in spec.nodes),
    ]:
        if node_ssh.private_key is None:
            continue
        bastion = node_ssh.bastion
        bastion_key = bastion.private_key.reveal() if bastion and bastion.private_key else None
        keys[name] = (node_ssh.private_key.reveal(), bastion_key)
    return keys
