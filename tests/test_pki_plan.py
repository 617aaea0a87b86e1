"""The certificate plan of every preset against the reference table (kubeadm certlist.go/kubeconfig.go,
Kubernetes RBAC defaults, etcd docs), written out here independently of render/pki_plan.py."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mockrun.tls_mock import ALLOWED_USES
from render import pki_plan
from spec.model import ClusterSpec
from tests.support.specs import PRESETS, preset_spec

CLIENT = frozenset({"client_auth"})
SERVER = frozenset({"server_auth"})
PEER = frozenset({"server_auth", "client_auth"})

# name: (issuer, CN, O, EKUs). etcd members are added per node below.
REFERENCE: dict[str, tuple[str, str, str | None, frozenset[str]]] = {
    "apiserver": ("ca", "kube-apiserver", None, SERVER),
    # kubeadm (>= 1.29) puts kubeadm:cluster-admins here; we grant the kubelet API only (docs/pki.md).
    "apiserver-kubelet-client": ("ca", "kube-apiserver-kubelet-client", None, CLIENT),
    "admin": ("ca", "kubernetes-admin", "k8s-from-scratch:cluster-admins", CLIENT),
    "super-admin": ("ca", "kubernetes-super-admin", "system:masters", CLIENT),
    "controller-manager": ("ca", "system:kube-controller-manager", None, CLIENT),
    "scheduler": ("ca", "system:kube-scheduler", None, CLIENT),
    "kube-proxy": ("ca", "system:kube-proxy", None, CLIENT),
    "csr-approver": ("ca", "k8s-from-scratch:csr-approver", None, CLIENT),
    "front-proxy-client": ("front-proxy-ca", "front-proxy-client", None, CLIENT),
    "apiserver-etcd-client": ("etcd-ca", "kube-apiserver-etcd-client", None, CLIENT),
    "etcd-healthcheck-client": ("etcd-ca", "kube-etcd-healthcheck-client", None, CLIENT),
}
CAS = {"ca": "kubernetes", "front-proxy-ca": "front-proxy-ca", "etcd-ca": "etcd-ca"}


def reference(spec: ClusterSpec) -> dict[str, tuple[str, str, str | None, frozenset[str]]]:
    table = dict(REFERENCE)
    for node in spec.etcd_nodes:
        table[f"etcd-server-{node.name}"] = ("etcd-ca", node.name, None, PEER)
        table[f"etcd-peer-{node.name}"] = ("etcd-ca", node.name, None, PEER)
    return table


def expected_apiserver_sans(spec: ClusterSpec) -> tuple[set[str], set[str]]:
    dns = {
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        f"kubernetes.default.svc.{spec.network.cluster_domain}",
        "localhost",
    }
    ips = {str(ipaddress.ip_network(spec.network.service_cidr)[1]), "127.0.0.1"}
    for host in [spec.api_endpoint.host] + [
        h for n in spec.control_plane_nodes for h in (n.name, n.address, n.internal_address)
    ]:
        try:
            ips.add(str(ipaddress.ip_address(host)))
        except ValueError:
            dns.add(host)
    return dns, ips


@pytest.fixture(params=PRESETS, ids=lambda p: p.name)
def spec(request: pytest.FixtureRequest) -> ClusterSpec:
    path: Path = request.param
    return preset_spec(path)


def test_every_certificate_matches_the_reference_table(spec: ClusterSpec) -> None:
    plan = {c.name: c for c in pki_plan.plan(spec)}
    table = reference(spec)
    assert set(plan) == set(table) | set(CAS)
    for name, (issuer, cn, org, ekus) in table.items():
        cert = plan[name]
        assert (cert.issuer, cert.common_name, cert.organization) == (issuer, cn, org), name
        assert set(cert.ext_key_usages) == ekus, name
        assert not cert.is_ca, name
    for name, cn in CAS.items():
        ca = plan[name]
        assert (ca.issuer, ca.common_name, ca.organization, ca.is_ca) == (name, cn, None, True)
        assert set(ca.key_usages) == {"digital_signature", "cert_signing", "crl_signing"}
        assert ca.ext_key_usages == () and ca.dns_names == () and ca.ip_addresses == ()


def test_leaf_key_usages_follow_the_key_algorithm(spec: ClusterSpec) -> None:
    # keyEncipherment is RSA key transport: only on RSA keys (RFC 5480 forbids it on EC keys).
    expected = (
        {"digital_signature", "key_encipherment"}
        if spec.pki.key_algorithm == "RSA"
        else {"digital_signature"}
    )
    for cert in pki_plan.plan(spec):
        if not cert.is_ca:
            assert set(cert.key_usages) == expected, cert.name


def test_rsa_leaves_add_key_encipherment() -> None:
    spec = preset_spec("ha-calico", {"pki": {"keyAlgorithm": "RSA"}})
    leaves = [c for c in pki_plan.plan(spec) if not c.is_ca]
    assert leaves and all(set(c.key_usages) == {"digital_signature", "key_encipherment"} for c in leaves)


def test_allowed_uses_are_the_providers_snake_case_names(spec: ClusterSpec) -> None:
    for cert in pki_plan.plan(spec):
        assert cert.allowed_uses and set(cert.allowed_uses) <= ALLOWED_USES, cert.name


def test_only_server_certificates_carry_sans(spec: ClusterSpec) -> None:
    for cert in pki_plan.plan(spec):
        has_sans = bool(cert.dns_names or cert.ip_addresses)
        assert has_sans == ("server_auth" in cert.ext_key_usages), cert.name


def test_apiserver_sans_cover_every_way_to_reach_it(spec: ClusterSpec) -> None:
    apiserver = next(c for c in pki_plan.plan(spec) if c.name == "apiserver")
    dns, ips = expected_apiserver_sans(spec)
    assert set(apiserver.dns_names) == dns
    assert set(apiserver.ip_addresses) == ips
    assert len(apiserver.dns_names) == len(dns) and len(apiserver.ip_addresses) == len(ips), "duplicates"


def test_etcd_member_sans_are_the_member_only(spec: ClusterSpec) -> None:
    plan = {c.name: c for c in pki_plan.plan(spec)}
    for node in spec.etcd_nodes:
        for kind in ("server", "peer"):
            cert = plan[f"etcd-{kind}-{node.name}"]
            assert set(cert.dns_names) == {node.name, "localhost"}
            assert set(cert.ip_addresses) == {node.internal_address, node.address, "127.0.0.1", "::1"}


def test_validity_and_renewal_come_from_the_pki_settings(spec: ClusterSpec) -> None:
    p = spec.pki
    for cert in pki_plan.plan(spec):
        days = p.ca_validity_days if cert.is_ca else p.cert_validity_days
        assert cert.validity_hours == days * 24, cert.name
        assert cert.early_renewal_hours == p.renew_before_days * 24, cert.name


def test_cas_come_before_their_leaves_and_names_are_unique(spec: ClusterSpec) -> None:
    plan = pki_plan.plan(spec)
    seen: set[str] = set()
    for cert in plan:
        assert cert.name not in seen
        assert cert.is_ca or cert.issuer in seen, f"{cert.name} before its issuer"
        seen.add(cert.name)


# --- exact SANs for three presets, spelled out ------------------------------------------


def test_ha_preset_apiserver_sans_exactly() -> None:
    spec = preset_spec("ha-calico")
    apiserver = next(c for c in pki_plan.plan(spec) if c.name == "apiserver")
    assert apiserver.dns_names == (
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "localhost",
        "k8s-api.example.internal",
        "cp1",
        "cp2",
        "cp3",
    )
    assert apiserver.ip_addresses == ("10.96.0.1", "127.0.0.1", "10.20.0.11", "10.20.0.12", "10.20.0.13")
    peer = next(c for c in pki_plan.plan(spec) if c.name == "etcd-peer-cp2")
    assert peer.dns_names == ("cp2", "localhost")
    assert peer.ip_addresses == ("10.20.0.12", "127.0.0.1", "::1")


def test_s4_preset_uses_its_service_range_curve_and_lifetimes() -> None:
    spec = preset_spec("s4-oraclelinux7-everything-systemd")
    plan = {c.name: c for c in pki_plan.plan(spec)}
    assert plan["apiserver"].ip_addresses == ("10.0.0.1", "127.0.0.1", "192.168.100.10")
    assert plan["apiserver"].dns_names[-1] == "ol7"
    assert plan["ca"].validity_hours == 5475 * 24
    assert plan["admin"].validity_hours == 365 * 24
    assert plan["admin"].early_renewal_hours == 30 * 24
    assert set(plan) >= {"etcd-server-ol7", "etcd-peer-ol7"}


def test_lab_preset_names_every_lab_control_plane() -> None:
    spec = preset_spec("dev")
    apiserver = next(c for c in pki_plan.plan(spec) if c.name == "apiserver")
    assert "lab-cp-1" in apiserver.dns_names
    assert spec.control_plane_nodes[0].address in apiserver.ip_addresses


def test_ipv6_and_hostname_addresses_are_classified() -> None:
    dns, ips = pki_plan._split(["Node-A.example.com", "fd00::0:1", "10.0.0.1", "fd00::1"])
    assert dns == ("node-a.example.com",)
    assert ips == ("fd00::1", "10.0.0.1")


# --- renewal ----------------------------------------------------------------------------

T0 = datetime(2026, 1, 1, tzinfo=UTC)
V, R = 365 * 24, 30 * 24  # hours


@pytest.mark.parametrize(
    ("elapsed", "generation"),
    [
        (timedelta(0), 0),
        (timedelta(days=334, hours=23), 0),
        (timedelta(days=335), 1),
        (timedelta(days=669), 1),
        (timedelta(days=670), 2),
        (timedelta(days=-3), 0),
    ],
)
def test_renewal_generation_changes_at_period_boundaries(elapsed: timedelta, generation: int) -> None:
    assert pki_plan.renewal_generation(T0, T0 + elapsed, V, R) == generation


def test_every_leaf_is_reissued_before_its_renewal_window_ends() -> None:
    """Issued at any time t (generation g), the trigger changes by the time t + V - R."""
    period = timedelta(hours=V - R)
    for hours in range(0, 4 * 365 * 24, 97):
        issued = T0 + timedelta(hours=hours)
        g = pki_plan.renewal_generation(T0, issued, V, R)
        next_boundary = T0 + (g + 1) * period
        assert issued < next_boundary <= issued + timedelta(hours=V - R)
        assert pki_plan.renewal_generation(T0, next_boundary, V, R) == g + 1


def test_renewal_generation_refuses_a_window_as_long_as_the_validity() -> None:
    with pytest.raises(ValueError, match="shorter"):
        pki_plan.renewal_generation(T0, T0, 24, 24)


def test_provider_times_are_normalised_to_utc_seconds() -> None:
    assert pki_plan.rfc3339_utc("2027-11-23T03:59:56.123456789Z") == "2027-11-23T03:59:56Z"
    assert pki_plan.rfc3339_utc("2027-11-23T04:59:56.5+01:00") == "2027-11-23T03:59:56Z"
    with pytest.raises(ValueError):
        pki_plan.parse_time("2027-11-23T03:59:56")
