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


def _public(path: str, content: pulumi.Input[str]) -> ManagedFile:
    """Certificates, policies and units: readable by all, written by root."""
    return ManagedFile(FileMeta(path, "0644"), content)


def _unit_file(service: str, units: dict[str, str]) -> ManagedFile:
    """Root's alone, as CIS 1.1.1-1.1.6 want of what starts a control-plane service."""
    return ManagedFile(FileMeta(f"{systemd.UNIT_DIR}/{service}.service", "0600"), units[service])


def _secret(path: str, content: pulumi.Input[str]) -> ManagedFile:
    """A key, kubeconfig or the encryption config: root's alone (CIS 1.1.15-1.1.21). The service
    that needs it reads its own copy, made at every start (render.control_plane.SECRETS)."""
    return ManagedFile(FileMeta(path, "0600"), content, secret=True)


def _secrets_helper() -> ManagedFile:
    """What each unit runs as root before its service starts, to copy the service's secrets."""
    return ManagedFile(FileMeta(systemd.SECRETS_HELPER, "0755"), systemd.secrets_helper_script())


def _files(spec: ClusterSpec, node: NodeSpec, pki: Pki) -> dict[str, list[ManagedFile]]:
    """Files per service that reads them (shared ones listed under each reader), its secrets
    and the helper that copies them among them: a changed file restarts its readers, and a
    restart copies the service's secrets afresh."""
    units = cp.unit_texts(spec, node)
    ca = _public(cp.CA_CRT, pki.ca.cert_pem)
    helper = _secrets_helper()
    front_ca = _public(cp.FRONT_PROXY_CA_CRT, pki.front_proxy_ca.cert_pem)
    rendered: pulumi.Output[str] = pulumi.Output.from_input(pki.encryption_key).apply(
        lambda k: cp.encryption_config(spec, k)
    )
    contents: dict[str, pulumi.Input[str]] = {
        cp.APISERVER_KEY: pki.apiserver.key_pem,
        cp.KUBELET_CLIENT_KEY: pki.apiserver_kubelet_client.key_pem,
        cp.ETCD_CLIENT_KEY: pki.apiserver_etcd_client.key_pem,
        cp.FRONT_PROXY_CLIENT_KEY: pki.front_proxy_client.key_pem,
        cp.SA_KEY: pki.service_account_key_pem,
        cp.ENCRYPTION_CONFIG: pulumi.Output.secret(rendered),
        cp.CA_KEY: pki.ca.key_pem,
        cp.KCM_KUBECONFIG: pki.controller_manager_kubeconfig,
        cp.SCHEDULER_KUBECONFIG: pki.scheduler_kubeconfig,
    }

    def secrets(service: str) -> list[ManagedFile]:
        return [_secret(path, contents[path]) for path in cp.SECRETS[service]] + [helper]

    apiserver = [
        ca,
        front_ca,
        _public(cp.APISERVER_CRT, pki.apiserver.cert_pem),
        _public(cp.KUBELET_CLIENT_CRT, pki.apiserver_kubelet_client.cert_pem),
        _public(cp.ETCD_CA_CRT, pki.etcd_ca.cert_pem),
        _public(cp.ETCD_CLIENT_CRT, pki.apiserver_etcd_client.cert_pem),
        _public(cp.FRONT_PROXY_CLIENT_CRT, pki.front_proxy_client.cert_pem),
        _public(cp.SA_PUB, pki.service_account_public_pem),
        _public(cp.AUDIT_POLICY, cp.audit_policy()),
        _public(cp.ADMISSION_CONFIG, cp.admission_config()),
        *secrets(cp.APISERVER),
        _unit_file(cp.APISERVER, units),
    ]
    kcm = [ca, front_ca, *secrets(cp.KCM), _unit_file(cp.KCM, units)]
    scheduler = [
        _public(cp.SCHEDULER_CONFIG, cp.scheduler_config(spec)),
        *secrets(cp.SCHEDULER),
        _unit_file(cp.SCHEDULER, units),
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
            # After the user step, which also removes what clusters made before kept elsewhere.
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
