"""`ControlPlane`: kube-apiserver, kube-controller-manager and kube-scheduler on one node."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from components import type_token
from components.host import NodeSite
from components.pki import Pki
from components.steps import ManagedFile, files_step, script_step, service_step
from render import artifacts, ports, systemd
from render import control_plane as cp
from render.host_files import FileMeta
from spec.model import ClusterSpec, NodeSpec


def _meta(path: str, mode: str = "0600") -> FileMeta:
    return FileMeta(path, mode, cp.USER, cp.USER)


def _files(spec: ClusterSpec, node: NodeSpec, pki: Pki) -> dict[str, list[ManagedFile]]:
    """Files per service that reads them (shared ones listed under each reader)."""
    units = cp.unit_texts(spec, node)
    ca = ManagedFile(_meta(cp.CA_CRT, "0644"), pki.ca.cert_pem)
    front_ca = ManagedFile(_meta(cp.FRONT_PROXY_CA_CRT, "0644"), pki.front_proxy_ca.cert_pem)
    sa_key = ManagedFile(_meta(cp.SA_KEY), pki.service_account_key_pem, secret=True)
    rendered: pulumi.Output[str] = pulumi.Output.from_input(pki.encryption_key).apply(
        lambda k: cp.encryption_config(spec, k)
    )
    encryption: pulumi.Output[str] = pulumi.Output.secret(rendered)
    apiserver = [
        ca,
        front_ca,
        sa_key,
        ManagedFile(_meta(cp.APISERVER_CRT, "0644"), pki.apiserver.cert_pem),
        ManagedFile(_meta(cp.APISERVER_KEY), pki.apiserver.key_pem, secret=True),
        ManagedFile(_meta(cp.KUBELET_CLIENT_CRT, "0644"), pki.apiserver_kubelet_client.cert_pem),
        ManagedFile(_meta(cp.KUBELET_CLIENT_KEY), pki.apiserver_kubelet_client.key_pem, secret=True),
        ManagedFile(_meta(cp.ETCD_CA_CRT, "0644"), pki.etcd_ca.cert_pem),
        ManagedFile(_meta(cp.ETCD_CLIENT_CRT, "0644"), pki.apiserver_etcd_client.cert_pem),
        ManagedFile(_meta(cp.ETCD_CLIENT_KEY), pki.apiserver_etcd_client.key_pem, secret=True),
        ManagedFile(_meta(cp.FRONT_PROXY_CLIENT_CRT, "0644"), pki.front_proxy_client.cert_pem),
        ManagedFile(_meta(cp.FRONT_PROXY_CLIENT_KEY), pki.front_proxy_client.key_pem, secret=True),
        ManagedFile(_meta(cp.SA_PUB, "0644"), pki.service_account_public_pem),
        ManagedFile(_meta(cp.ENCRYPTION_CONFIG), encryption, secret=True),
        ManagedFile(_meta(cp.AUDIT_POLICY, "0644"), cp.audit_policy()),
        ManagedFile(_meta(cp.ADMISSION_CONFIG, "0644"), cp.admission_config()),
        ManagedFile(FileMeta(f"{systemd.UNIT_DIR}/{cp.APISERVER}.service"), units[cp.APISERVER]),
    ]
    kcm = [
        ca,
        front_ca,
        sa_key,
        ManagedFile(_meta(cp.CA_KEY), pki.ca.key_pem, secret=True),  # signs kubelet certificates
        ManagedFile(_meta(cp.KCM_KUBECONFIG), pki.controller_manager_kubeconfig, secret=True),
        ManagedFile(FileMeta(f"{systemd.UNIT_DIR}/{cp.KCM}.service"), units[cp.KCM]),
    ]
    scheduler = [
        ManagedFile(_meta(cp.SCHEDULER_KUBECONFIG), pki.scheduler_kubeconfig, secret=True),
        ManagedFile(_meta(cp.SCHEDULER_CONFIG, "0644"), cp.scheduler_config(spec)),
        ManagedFile(FileMeta(f"{systemd.UNIT_DIR}/{cp.SCHEDULER}.service"), units[cp.SCHEDULER]),
    ]
    return {cp.APISERVER: apiserver, cp.KCM: kcm, cp.SCHEDULER: scheduler}


class ControlPlane(pulumi.ComponentResource):
    """Children: user -> files (one bundle on stdin) -> apiserver (waits for /livez and /readyz)
    -> controller-manager and scheduler (each waits for /healthz).

    `restart_after`: the previous control plane's `apiserver` step, so changed flags restart
    the API servers one node at a time behind `apiEndpoint`.
    """

    def __init__(
        self,
        name: str,
        site: NodeSite,
        pki: Pki,
        etcd_ready: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
        restart_after: Sequence[pulumi.Resource] = (),
    ) -> None:
        super().__init__(type_token("ControlPlane"), name, None, opts)
        spec, node, host = site.spec, site.node, site.host
        user = script_step(
            f"{name}-user",
            host.steps,
            create=cp.user_script(),
            delete=cp.remove_user_script(),
            # Binaries and OS settings first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[host.ready]),
        )
        per_service = _files(spec, node, pki)
        bundle: dict[str, ManagedFile] = {}
        for files in per_service.values():
            for f in files:
                bundle.setdefault(f.meta.path, f)
        written = files_step(
            f"{name}-files",
            host.steps,
            list(bundle.values()),
            # Owned by the kube user, which the user step creates.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[user]),
            dirs=(f"{cp.PKI}/etcd", cp.PKI),
        )
        server = next(a for a in artifacts.node_artifacts(spec, node) if a.name == "kubernetes-server")

        def service(part: str, unit: str, check: str, deps: Sequence[pulumi.Resource]) -> pulumi.Resource:
            return service_step(
                f"{name}-{part}",
                host.steps,
                f"{unit}.service",
                per_service[unit],
                service=lambda h: systemd.service_script(f"{unit}.service", h, check=check),
                stop=systemd.stop_script(f"{unit}.service"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[user, *deps]),
                installed_by=written,
                # Its changed files or binaries restart it.
                binary_sum=artifacts.checksum(spec, server) or "",
            )

        # etcd must answer before the apiserver can become ready; the previous control plane's
        # apiserver must be back before this one restarts.
        self.apiserver = service(
            "apiserver", cp.APISERVER, cp.apiserver_health_check(spec), [*etcd_ready, *restart_after]
        )
        # Both talk to the local apiserver through their kubeconfigs.
        self.controller_manager = service(
            "controller-manager", cp.KCM, cp.local_health_check(ports.CONTROLLER_MANAGER), [self.apiserver]
        )
        self.scheduler = service(
            "scheduler", cp.SCHEDULER, cp.local_health_check(ports.SCHEDULER), [self.apiserver]
        )
        # Depending on the component waits for all three services to be healthy.
        self.ready: pulumi.Resource = self
        self.register_outputs({"node": node.name, "advertiseAddress": node.internal_address})
