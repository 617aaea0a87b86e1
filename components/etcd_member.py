"""`EtcdMember`: one etcd member as a systemd service, with TLS for clients and peers."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import pulumi

from components import type_token
from components.steps import ManagedFile, content_hash, files_step, script_step
from render import artifacts, etcd, systemd
from render.host_files import FileMeta
from spec.model import ClusterSpec, NodeSpec


def _files(spec: ClusterSpec, node: NodeSpec, pki: Any, layout: etcd.EtcdLayout) -> list[ManagedFile]:
    u = etcd.USER
    server, peer, health = pki.etcd_server[node.name], pki.etcd_peer[node.name], pki.etcd_healthcheck_client
    return [
        ManagedFile(FileMeta(layout.ca, "0644", u, u), pki.etcd_ca.cert_pem),
        ManagedFile(FileMeta(layout.server_cert, "0644", u, u), server.cert_pem),
        ManagedFile(FileMeta(layout.server_key, "0600", u, u), server.key_pem, secret=True),
        ManagedFile(FileMeta(layout.peer_cert, "0644", u, u), peer.cert_pem),
        ManagedFile(FileMeta(layout.peer_key, "0600", u, u), peer.key_pem, secret=True),
        # The health check runs as root over SSH; etcd itself never reads these.
        ManagedFile(FileMeta(layout.healthcheck_cert, "0644"), health.cert_pem),
        ManagedFile(FileMeta(layout.healthcheck_key, "0600"), health.key_pem, secret=True),
        ManagedFile(FileMeta(f"{systemd.UNIT_DIR}/{etcd.UNIT}"), etcd.unit_text(spec, node)),
    ]


class EtcdMember(pulumi.ComponentResource):
    """Children: user (+ data dir 0700) -> files (certs, keys, unit) -> service -> health.

    `restart_after`: the previous member's `service` step. Chaining members this way makes a
    config change restart them one at a time, each waiting until it is healthy again, so the
    cluster keeps its quorum. On first creation members start without blocking (a new
    cluster only becomes ready once a quorum runs) and `ready` waits for health.
    """

    def __init__(
        self,
        name: str,
        spec: ClusterSpec,
        node: NodeSpec,
        host: Any,
        pki: Any,
        opts: pulumi.ResourceOptions | None = None,
        restart_after: Sequence[pulumi.Resource] = (),
    ) -> None:
        super().__init__(type_token("EtcdMember"), name, None, opts)
        layout = etcd.EtcdLayout()
        conn = host.connection
        user = script_step(
            f"{name}-user",
            conn,
            create=etcd.user_script(layout),
            delete=etcd.remove_user_script(layout),
            # The host must be prepared and the etcd binary installed first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[host.ready]),
        )
        files = _files(spec, node, pki, layout)
        written = files_step(
            f"{name}-files",
            conn,
            files,
            # Files are owned by the etcd user, which the user step creates.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[user]),
            dirs=(layout.pki_dir, "/etc/etcd"),
        )
        binary = next(a for a in artifacts.node_artifacts(spec, node) if a.name == "etcd")
        binary_sum = artifacts.checksum(spec, binary) or ""
        # A changed file or etcd binary changes this hash -> an update that restarts the member.
        restart_hash = content_hash(files).apply(
            lambda h: hashlib.sha256(f"{h}\n{binary_sum}".encode()).hexdigest()
        )
        check = etcd.health_check(layout)
        self.service = script_step(
            f"{name}-service",
            conn,
            create=restart_hash.apply(
                lambda h: systemd.service_script(
                    etcd.UNIT, h, check=check, wait_after_start=False, no_block_start=True
                )
            ),
            delete=systemd.stop_script(etcd.UNIT),
            # Unit and certs first; previous member first, so restarts roll one by one.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[written, user, *restart_after]),
        )
        self.health = script_step(
            f"{name}-health",
            conn,
            create=systemd.wait_script(f"etcd member {node.name}", check, unit=etcd.UNIT),
            delete="true",  # it only reads
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.service]),
        )
        self.ready: pulumi.Resource = self.health
        self.client_url = etcd.client_url(node)
        self.register_outputs(
            {"node": node.name, "clientUrl": self.client_url, "peerUrl": etcd.peer_url(node)}
        )
