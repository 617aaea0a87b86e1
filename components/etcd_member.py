"""`EtcdMember`: one etcd member as a systemd service, with TLS for clients and peers."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from components import type_token
from components.host import NodeSite
from components.pki import Pki
from components.steps import ManagedFile, files_step, script_step, service_step
from render import artifacts, etcd, systemd
from render.host_files import FileMeta
from spec.model import ClusterSpec, NodeSpec


def _files(spec: ClusterSpec, node: NodeSpec, pki: Pki, layout: etcd.EtcdLayout) -> list[ManagedFile]:
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
        # Root's alone, as CIS 1.1.7 wants of what starts etcd.
        ManagedFile(FileMeta(f"{systemd.UNIT_DIR}/{etcd.UNIT}", "0600"), etcd.unit_text(spec, node)),
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
        site: NodeSite,
        pki: Pki,
        opts: pulumi.ResourceOptions | None = None,
        restart_after: Sequence[pulumi.Resource] = (),
    ) -> None:
        super().__init__(type_token("EtcdMember"), name, None, opts)
        spec, node, host = site.spec, site.node, site.host
        layout = etcd.EtcdLayout()
        user = script_step(
            f"{name}-user",
            host.steps,
            create=etcd.user_script(layout),
            delete=etcd.remove_user_script(layout),
            # The host must be prepared and the etcd binary installed first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[host.ready]),
        )
        files = _files(spec, node, pki, layout)
        written = files_step(
            f"{name}-files",
            host.steps,
            files,
            # Files are owned by the etcd user, which the user step creates.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[user]),
            dirs=(layout.pki_dir, "/etc/etcd"),
        )
        binary = next(a for a in artifacts.node_artifacts(spec, node) if a.name == "etcd")
        check = etcd.health_check(layout)
        self.service = service_step(
            f"{name}-service",
            host.steps,
            etcd.UNIT,
            files,
            service=lambda h: systemd.service_script(
                etcd.UNIT, h, check=check, wait_after_start=False, no_block_start=True
            ),
            stop=systemd.stop_script(etcd.UNIT),
            # The user owns the files; the previous member first, so restarts roll one by one.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[user, *restart_after]),
            installed_by=written,
            # A changed file or etcd binary restarts the member.
            binary_sum=artifacts.checksum(spec, binary) or "",
        )
        self.health = script_step(
            f"{name}-health",
            host.steps,
            create=systemd.wait_script(f"etcd member {node.name}", check, unit=etcd.UNIT),
            delete="true",  # it only reads
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.service]),
        )
        self.ready: pulumi.Resource = self.health
        self.client_url = etcd.client_url(node)
        self.register_outputs(
            {"node": node.name, "clientUrl": self.client_url, "peerUrl": etcd.peer_url(node)}
        )
