"""Components wired as components.cluster wires them, for graph tests under the mocks."""

from __future__ import annotations

from components.etcd_member import EtcdMember
from components.pki import Pki
from spec.model import ClusterSpec


def build_members(spec: ClusterSpec, pki: Pki | None = None) -> list[EtcdMember]:
    """Hosts and members as the Cluster wires them: each member restarts after the previous."""
    from components.host import Host, NodeSite, connection

    pki = pki or Pki("pki", spec)
    members: list[EtcdMember] = []
    for node in spec.etcd_nodes:
        host = Host(f"host-{node.name}", spec, node, connection(node))
        previous = [members[-1].service] if members else []
        members.append(
            EtcdMember(f"etcd-{node.name}", NodeSite(spec, node, host), pki, restart_after=previous)
        )
    return members
