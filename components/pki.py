"""The cluster PKI: three CAs, every leaf certificate, keys and kubeconfigs.

Thin: render.pki_plan decides every certificate (identity, usages, SANs, validity), this
component turns the plan into pulumi-tls resources and builds kubeconfigs with
render.kubeconfig. Keys, the encryption key and kubeconfigs are Pulumi secrets (each node's
bootstrap token is components.bootstrap's).
Renewal is described in docs/pki.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pulumi
import pulumi_random as random
import pulumi_tls as tls

from components import type_token
from render import control_plane, pki_plan
from render.kubeconfig import render_kubeconfig
from spec.model import ClusterSpec, PkiSpec

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The clock the renewal triggers read unless a caller passes another (tests move it)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class CertKeyPair:
    cert_pem: pulumi.Output[str]
    key_pem: pulumi.Output[str]  # secret


@dataclass(frozen=True)
class _Issued:
    pair: CertKeyPair
    cert: tls.SelfSignedCert | tls.LocallySignedCert


def _key_args(p: PkiSpec) -> dict[str, Any]:
    # Only the argument that applies: changing the curve must not replace RSA keys, and the
    # provider's default curve (P224) must never be used.
    if p.key_algorithm == "RSA":
        return {"algorithm": "RSA", "rsa_bits": p.rsa_bits}
    return {"algorithm": "ECDSA", "ecdsa_curve": p.ecdsa_curve}


def renewal_trigger(
    anchor: pulumi.Output[str], cert: pki_plan.CertSpec, now: Callable[[], datetime]
) -> pulumi.Output[str]:
    """Changes when the leaf's renewal period begins: the engine then replaces (re-issues) it."""

    def generation(start: str) -> str:
        g = pki_plan.renewal_generation(
            pki_plan.parse_time(start), now(), cert.validity_hours, cert.early_renewal_hours
        )
        return f"renewal-{g}"

    return anchor.apply(generation)


class Pki(pulumi.ComponentResource):
    """Every certificate of the plan as a CertKeyPair attribute (ca, apiserver, etcd_server[node],
    ...), the service-account key pair, the encryption key, the kubeconfigs
    and `expiries`; secrets are Pulumi secrets."""

    def __init__(
        self, name: str, spec: ClusterSpec, clock: Clock = utc_now, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("Pki"), name, None, opts)
        self._name = name
        self._clock = clock
        self._key_args = _key_args(spec.pki)
        self.plan = pki_plan.plan(spec)

        issued: dict[str, _Issued] = {}
        for cert in self.plan:  # CAs come first, so every leaf finds its issuer here
            if cert.is_ca:
                issued[cert.name] = self._ca(cert)
            else:
                issued[cert.name] = self._leaf(cert, issued[cert.issuer])

        def pair(cert_name: str) -> CertKeyPair:
            return issued[cert_name].pair

        self.ca = pair(pki_plan.CLUSTER_CA)
        self.front_proxy_ca = pair(pki_plan.FRONT_PROXY_CA)
        self.etcd_ca = pair(pki_plan.ETCD_CA)
        self.apiserver = pair("apiserver")
        self.apiserver_kubelet_client = pair("apiserver-kubelet-client")
        self.apiserver_etcd_client = pair("apiserver-etcd-client")
        self.front_proxy_client = pair("front-proxy-client")
        self.etcd_healthcheck_client = pair("etcd-healthcheck-client")
        self.admin = pair("admin")
        self.super_admin = pair("super-admin")
        self.controller_manager = pair("controller-manager")
        self.scheduler = pair("scheduler")
        self.kube_proxy = pair("kube-proxy")
        self.csr_approver = pair("csr-approver")
        self.etcd_server = {n.name: pair(f"etcd-server-{n.name}") for n in spec.etcd_nodes}
        self.etcd_peer = {n.name: pair(f"etcd-peer-{n.name}") for n in spec.etcd_nodes}

        # The service-account token signing key is its own key pair (not the controller-manager's
        # client key as in S4): rotating one must not force rotating the other.
        sa_key = tls.PrivateKey(
            f"{name}-service-account-key", **self._key_args, opts=pulumi.ResourceOptions(parent=self)
        )
        self.service_account_key_pem = sa_key.private_key_pem
        self.service_account_public_pem = sa_key.public_key_pem

        # 32 random bytes: the key size secretbox requires and the largest aesgcm/aescbc take.
        encryption = random.RandomBytes(
            f"{name}-encryption-key", length=32, opts=pulumi.ResourceOptions(parent=self)
        )
        self.encryption_key: pulumi.Output[str] = pulumi.Output.secret(encryption.base64)

        cluster = spec.cluster_name
        public = spec.api_endpoint.url
        self.admin_kubeconfig = self._kubeconfig(cluster, public, pki_plan.ADMIN_CN, self.admin)
        self.super_admin_kubeconfig = self._kubeconfig(
            cluster, public, pki_plan.SUPER_ADMIN_CN, self.super_admin
        )
        # Each control plane's controller-manager and scheduler talk to their local apiserver,
        # on the port it binds (apiEndpoint's when that names a control plane).
        local = control_plane.local_api_url(spec)
        self.controller_manager_kubeconfig = self._kubeconfig(
            cluster, local, pki_plan.CONTROLLER_MANAGER_CN, self.controller_manager
        )
        self.scheduler_kubeconfig = self._kubeconfig(cluster, local, pki_plan.SCHEDULER_CN, self.scheduler)
        self.kube_proxy_kubeconfig = self._kubeconfig(
            cluster, public, pki_plan.KUBE_PROXY_CN, self.kube_proxy
        )
        self.csr_approver_kubeconfig = self._kubeconfig(
            cluster, public, pki_plan.CSR_APPROVER_CN, self.csr_approver
        )
        ends = {c.name: issued[c.name].cert.validity_end_time for c in self.plan}
        self.expiries = pulumi.Output.all(**ends).apply(
            lambda e: {k: pki_plan.rfc3339_utc(v) for k, v in sorted(e.items())}
        )

        self.register_outputs(
            {
                "certificates": {c.name: issued[c.name].pair.cert_pem for c in self.plan},
                "privateKeys": {c.name: issued[c.name].pair.key_pem for c in self.plan},
                "expiries": self.expiries,
                "serviceAccountPublicKey": self.service_account_public_pem,
                "serviceAccountKey": self.service_account_key_pem,
                "encryptionKey": self.encryption_key,
                "kubeconfigs": {
                    "admin": self.admin_kubeconfig,
                    "superAdmin": self.super_admin_kubeconfig,
                    "controllerManager": self.controller_manager_kubeconfig,
                    "scheduler": self.scheduler_kubeconfig,
                    "kubeProxy": self.kube_proxy_kubeconfig,
                    "csrApprover": self.csr_approver_kubeconfig,
                },
            }
        )

    def _key(self, cert: pki_plan.CertSpec) -> tls.PrivateKey:
        return tls.PrivateKey(
            f"{self._name}-{cert.name}-key", **self._key_args, opts=pulumi.ResourceOptions(parent=self)
        )

    def _ca(self, cert: pki_plan.CertSpec) -> _Issued:
        key = self._key(cert)
        ca = tls.SelfSignedCert(
            f"{self._name}-{cert.name}-cert",
            private_key_pem=key.private_key_pem,
            subject=tls.SelfSignedCertSubjectArgs(**cert.subject),
            is_ca_certificate=True,
            set_subject_key_id=True,
            allowed_uses=cert.allowed_uses,
            validity_period_hours=cert.validity_hours,
            # Re-signs the CA (same key, same subject) inside the window; leaves follow.
            early_renewal_hours=cert.early_renewal_hours,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return _Issued(CertKeyPair(ca.cert_pem, key.private_key_pem), ca)

    def _leaf(self, cert: pki_plan.CertSpec, issuer: _Issued) -> _Issued:
        key = self._key(cert)
        csr = tls.CertRequest(
            f"{self._name}-{cert.name}-csr",
            private_key_pem=key.private_key_pem,
            subject=tls.CertRequestSubjectArgs(**cert.subject),
            dns_names=list(cert.dns_names),
            ip_addresses=list(cert.ip_addresses),
            opts=pulumi.ResourceOptions(parent=self),
        )
        signed = tls.LocallySignedCert(
            f"{self._name}-{cert.name}-cert",
            cert_request_pem=csr.cert_request_pem,
            ca_cert_pem=issuer.pair.cert_pem,
            ca_private_key_pem=issuer.pair.key_pem,
            allowed_uses=cert.allowed_uses,
            validity_period_hours=cert.validity_hours,
            early_renewal_hours=cert.early_renewal_hours,
            set_subject_key_id=True,
            opts=pulumi.ResourceOptions(
                parent=self,
                # Re-issue at the start of each renewal period, whether or not the provider's own
                # early-renewal check fires (pulumi-tls#39; docs/pki.md "Renewal").
                replacement_trigger=renewal_trigger(issuer.cert.validity_start_time, cert, self._clock),
            ),
        )
        return _Issued(CertKeyPair(signed.cert_pem, key.private_key_pem), signed)

    def _kubeconfig(self, cluster: str, server: str, user: str, pair: CertKeyPair) -> pulumi.Output[str]:
        rendered = pulumi.Output.all(self.ca.cert_pem, pair.cert_pem, pair.key_pem).apply(
            lambda v: render_kubeconfig(
                cluster, server, v[0], user, client_cert_pem=v[1], client_key_pem=v[2]
            )
        )
        return pulumi.Output.secret(rendered)
