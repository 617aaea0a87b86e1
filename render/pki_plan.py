"""The certificate plan: every CA and leaf the cluster needs, as data, from the ClusterSpec.

Pure: no Pulumi. components/pki.py turns each CertSpec into pulumi-tls resources, tests check the
issued certificates against the same plan. Sources for every identity and SAN (see docs/pki.md):
kubeadm cmd/kubeadm/app/phases/certs/certlist.go and util/pkiutil (certificate list, SANs),
kubeadm phases/kubeconfig (component identities), Kubernetes RBAC default bindings.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from spec.addresses import is_ip
from spec.model import ClusterSpec, NodeSpec

# The three trust roots; leaves name their issuer by these.
CLUSTER_CA = "ca"
FRONT_PROXY_CA = "front-proxy-ca"
ETCD_CA = "etcd-ca"
CAS = (CLUSTER_CA, FRONT_PROXY_CA, ETCD_CA)

# pulumi-tls allowed_uses values (snake_case: the provider's own names, pulumi-tls#151).
SERVER_AUTH = "server_auth"
CLIENT_AUTH = "client_auth"

# RBAC identities (CN = user, O = group) the API server derives from client certificates.
ADMIN_CN = "kubernetes-admin"
# The exported admin's group, bound to cluster-admin by RBAC (render/bootstrap.py): revoked by
# deleting that binding, unlike system:masters (kubeadm's kubeadm:cluster-admins, since 1.29).
CLUSTER_ADMINS_GROUP = "k8s-from-scratch:cluster-admins"
SUPER_ADMIN_CN = "kubernetes-super-admin"
MASTERS_GROUP = "system:masters"  # bypasses RBAC: the break-glass super-admin only
APISERVER_KUBELET_CLIENT_CN = "kube-apiserver-kubelet-client"
CONTROLLER_MANAGER_CN = "system:kube-controller-manager"
SCHEDULER_CN = "system:kube-scheduler"
KUBE_PROXY_CN = "system:kube-proxy"
CSR_APPROVER_CN = "k8s-from-scratch:csr-approver"
FRONT_PROXY_CLIENT_CN = "front-proxy-client"  # = --requestheader-allowed-names
APISERVER_ETCD_CLIENT_CN = "kube-apiserver-etcd-client"
ETCD_HEALTHCHECK_CN = "kube-etcd-healthcheck-client"


@dataclass(frozen=True)
class CertSpec:
    name: str  # resource part and key of Pki.expiries: "apiserver", "etcd-server-<node>", ...
    issuer: str  # the CA that signs it; a CA names itself
    common_name: str
    organization: str | None
    key_usages: tuple[str, ...]
    ext_key_usages: tuple[str, ...]
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    is_ca: bool
    validity_hours: int
    early_renewal_hours: int

    @property
    def allowed_uses(self) -> list[str]:
        """pulumi-tls takes key usages and extended key usages in one list."""
        return [*self.key_usages, *self.ext_key_usages]

    @property
    def subject(self) -> dict[str, str]:
        """pulumi-tls subject args (snake_case SDK names)."""
        subject = {"common_name": self.common_name}
        if self.organization:
            subject["organization"] = self.organization
        return subject


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    """First occurrence wins: stable order, so resource inputs never reorder between runs."""
    seen: dict[str, None] = {}
    for v in values:
        seen.setdefault(v, None)
    return tuple(seen)


def _split(hosts: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Host names go to DNS SANs, addresses to IP SANs (normalised, so ::1 and 0:0::1 are one)."""
    dns: list[str] = []
    ips: list[str] = []
    for host in hosts:
        if not host:
            continue
        if is_ip(host):
            ips.append(str(ipaddress.ip_address(host)))
        else:
            dns.append(host.lower())
    return _unique(dns), _unique(ips)


def _node_hosts(node: NodeSpec) -> list[str]:
    return [node.name, node.internal_address, node.address]


def leaf_key_usages(key_algorithm: str) -> tuple[str, ...]:
    """digitalSignature always; keyEncipherment only for RSA keys.

    keyEncipherment means RSA key transport; RFC 5480 section 3 does not allow it on an EC key,
    so an ECDSA leaf carries digitalSignature alone (as Go's generate_cert does).
    """
    return ("digital_signature", "key_encipherment") if key_algorithm == "RSA" else ("digital_signature",)


CA_KEY_USAGES = ("digital_signature", "cert_signing", "crl_signing")


def apiserver_sans(spec: ClusterSpec) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Every name a client may dial the API server by.

    In-cluster: the `kubernetes` Service's names and ClusterIP. Hosts: every control plane's name
    and addresses (one certificate serves them all). Clients: the apiEndpoint host (LB/VIP/DNS),
    and localhost/127.0.0.1 for the controller-manager and scheduler kubeconfigs.
    """
    domain = spec.network.cluster_domain
    hosts: list[str] = [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        f"kubernetes.default.svc.{domain}",
        "localhost",
        spec.network.api_service_ip,
        "127.0.0.1",
        spec.api_endpoint.host,
    ]
    for node in spec.control_plane_nodes:
        hosts += _node_hosts(node)
    return _split(hosts)


def etcd_sans(node: NodeSpec) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """kubeadm's etcd server and peer SANs: node name, localhost, node IPs, 127.0.0.1 and ::1."""
    return _split([node.name, "localhost", node.internal_address, node.address, "127.0.0.1", "::1"])


def plan(spec: ClusterSpec) -> tuple[CertSpec, ...]:
    """Every certificate, CAs first (each leaf's issuer precedes it)."""
    p = spec.pki
    ca_hours = p.ca_validity_days * 24
    leaf_hours = p.cert_validity_days * 24
    renew_hours = p.renew_before_days * 24
    leaf_usages = leaf_key_usages(p.key_algorithm)

    def ca(name: str, cn: str) -> CertSpec:
        # Renewing a CA re-signs it with the same key and subject: every certificate it issued
        # (kubelet certificates signed by the controller-manager included) stays valid.
        return CertSpec(name, name, cn, None, CA_KEY_USAGES, (), (), (), True, ca_hours, renew_hours)

    def leaf(
        name: str,
        issuer: str,
        cn: str,
        ekus: tuple[str, ...],
        org: str | None = None,
        sans: tuple[tuple[str, ...], tuple[str, ...]] = ((), ()),
    ) -> CertSpec:
        return CertSpec(
            name, issuer, cn, org, leaf_usages, ekus, sans[0], sans[1], False, leaf_hours, renew_hours
        )

    client = (CLIENT_AUTH,)
    server = (SERVER_AUTH,)
    # etcd checks client certificates on its own outbound peer connections and some clients of
    # the server port; kubeadm gives both etcd certificates serverAuth and clientAuth.
    both = (SERVER_AUTH, CLIENT_AUTH)
    certs = [
        ca(CLUSTER_CA, "kubernetes"),
        ca(FRONT_PROXY_CA, "front-proxy-ca"),
        ca(ETCD_CA, "etcd-ca"),
        leaf("apiserver", CLUSTER_CA, "kube-apiserver", server, sans=apiserver_sans(spec)),
        # No group: least privilege. Bootstrap binds this user to the built-in ClusterRole
        # system:kubelet-api-admin (the kubelet API only) instead of kubeadm's cluster-admin.
        leaf("apiserver-kubelet-client", CLUSTER_CA, APISERVER_KUBELET_CLIENT_CN, client),
        leaf("admin", CLUSTER_CA, ADMIN_CN, client, CLUSTER_ADMINS_GROUP),
        # Only the program's own provider uses it (it creates the binding the admin's group
        # needs); never exported: docs/security.md says how to get it in an emergency.
        leaf("super-admin", CLUSTER_CA, SUPER_ADMIN_CN, client, MASTERS_GROUP),
        leaf("controller-manager", CLUSTER_CA, CONTROLLER_MANAGER_CN, client),
        leaf("scheduler", CLUSTER_CA, SCHEDULER_CN, client),
        # The default ClusterRoleBinding system:node-proxier names the user system:kube-proxy.
        leaf("kube-proxy", CLUSTER_CA, KUBE_PROXY_CN, client),
        leaf("csr-approver", CLUSTER_CA, CSR_APPROVER_CN, client),
        leaf("front-proxy-client", FRONT_PROXY_CA, FRONT_PROXY_CLIENT_CN, client),
        leaf("apiserver-etcd-client", ETCD_CA, APISERVER_ETCD_CLIENT_CN, client),
        leaf("etcd-healthcheck-client", ETCD_CA, ETCD_HEALTHCHECK_CN, client),
    ]
    for node in spec.etcd_nodes:
        sans = etcd_sans(node)
        certs.append(leaf(f"etcd-server-{node.name}", ETCD_CA, node.name, both, sans=sans))
        certs.append(leaf(f"etcd-peer-{node.name}", ETCD_CA, node.name, both, sans=sans))
    return tuple(certs)


def renewal_generation(anchor: datetime, now: datetime, validity_hours: int, renew_before_hours: int) -> int:
    """How many renewal periods have begun since `anchor` (the issuing CA's notBefore).

    A leaf issued in period g is replaced when period g+1 begins; a period lasts
    validity - renewBefore, so a leaf is re-issued no later than renewBefore before it expires,
    provided `pulumi up` runs in that window. Used as the leaf's replacement trigger: it changes
    only at a period boundary, so two evaluations of the program agree (see docs/pki.md).
    """
    period = timedelta(hours=validity_hours - renew_before_hours)
    if period <= timedelta(0):
        raise ValueError("renewBefore must be shorter than the validity")
    if now <= anchor:
        return 0
    return (now - anchor) // period


def parse_time(text: str) -> datetime:
    """The provider's validity times (Go RFC 3339, nanoseconds, any offset) as aware datetimes."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return parsed


def rfc3339_utc(text: str) -> str:
    """Normalised for the expiry output: UTC, whole seconds (what the certificate encodes)."""
    return parse_time(text).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
