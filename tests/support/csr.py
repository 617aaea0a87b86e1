"""Kubelet-serving CSRs for the CSR policy tests: a cluster with DNS, IPv4 and IPv6 node
addresses, PKCS#10 requests built with `cryptography`, and the per-node allow lists."""

from __future__ import annotations

import base64
import ipaddress
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from render import csr_policy as cp
from spec.model import ClusterSpec
from tests.support.specs import config_spec

KEY = ec.generate_private_key(ec.SECP256R1())


def cluster() -> ClusterSpec:
    return config_spec(
        [
            {
                "name": "cp1",
                "address": "cp1.example.com",
                "internalAddress": "192.168.10.11",
                "roles": ["etcd", "control-plane"],
            },
            {"name": "w1", "address": "192.168.10.21", "roles": ["worker"]},
            {"name": "w6", "address": "fd00::21", "roles": ["worker"]},
        ],
    )


def request(
    cn: str | None,
    sans: list[x509.GeneralName] | None,
    orgs: tuple[str, ...] = ("system:nodes",),
    extra: list[x509.NameAttribute] | None = None,
    multi_valued: bool = False,
) -> str:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs] + (extra or [])
    if cn is not None:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    name = x509.Name([x509.RelativeDistinguishedName(attrs)]) if multi_valued else x509.Name(attrs)
    builder = x509.CertificateSigningRequestBuilder().subject_name(name)
    if sans is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    pem = builder.sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    return base64.b64encode(pem).decode()


def dns(v: str) -> x509.DNSName:
    return x509.DNSName(v)


def ip(v: str) -> x509.IPAddress:
    return x509.IPAddress(ipaddress.ip_address(v))


# Each node's bootstrap token id, as the program's random tokens give them.
TOKEN_IDS = {"cp1": "c0ffee", "w1": "abcdef", "w6": "w6w6w6"}


def identities() -> dict[str, cp.NodeIdentity]:
    return cp.node_identities(cluster(), TOKEN_IDS)


def allow_lists() -> list[dict[str, Any]]:
    """Every kubelet node's allow-list ConfigMap, as the program creates them."""
    return [cp.allow_configmap(n, TOKEN_IDS[n.name]) for n in cluster().kubelet_nodes]
