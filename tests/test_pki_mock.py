"""Each preset's Pki built under the faithful tls/random mocks; the issued PEMs checked for real.

cryptography checks every certificate against the plan and the reference (chain, usages, EKUs,
subject, SANs, validity, key type); `openssl verify` checks the chains and purposes the way TLS
peers will. Kubeconfigs, tokens and keys are parsed and matched to the certificates.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from render import control_plane as cp_render
from render import pki_plan
from tests.support.pki import Built, build, built, built_rsa, openssl
from tests.support.specs import PRESET_IDS, preset_spec

CURVES = {"P256": "secp256r1", "P384": "secp384r1", "P521": "secp521r1"}
EKU_OIDS = {"server_auth": ExtendedKeyUsageOID.SERVER_AUTH, "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH}
KU_ATTRS = {
    "digital_signature": "digital_signature",
    "key_encipherment": "key_encipherment",
    "cert_signing": "key_cert_sign",
    "crl_signing": "crl_sign",
}


def load(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def key_usages(cert: x509.Certificate) -> set[str]:
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    flags = {
        "digital_signature": ku.value.digital_signature,
        "content_commitment": ku.value.content_commitment,
        "key_encipherment": ku.value.key_encipherment,
        "data_encipherment": ku.value.data_encipherment,
        "key_agreement": ku.value.key_agreement,
        "cert_signing": ku.value.key_cert_sign,
        "crl_signing": ku.value.crl_sign,
    }
    return {name for name, on in flags.items() if on}


def ext_key_usages(cert: x509.Certificate) -> set[str]:
    try:
        ekus = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return set()
    names = {oid: name for name, oid in EKU_OIDS.items()}
    return {names[oid] for oid in ekus}


def sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return set(ext.get_values_for_type(x509.DNSName)), {
        str(ip) for ip in ext.get_values_for_type(x509.IPAddress)
    }


def subject(cert: x509.Certificate) -> list[tuple[str, str]]:
    return [(a.oid._name, str(a.value)) for a in cert.subject]


def ski(cert: x509.Certificate) -> bytes:
    return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


@pytest.fixture(params=PRESET_IDS)
def b(request: pytest.FixtureRequest) -> Built:
    return built(request.param)


def test_every_planned_certificate_is_exposed(b: Built) -> None:
    assert set(b.certs) == set(b.plan())
    assert set(b.values["expiries"]) == set(b.plan())


def test_every_certificate_is_exactly_as_planned(b: Built) -> None:
    plan = b.plan()
    now = datetime.now(UTC)
    for name, (cert_pem, _) in b.certs.items():
        spec = plan[name]
        cert = load(cert_pem)
        issuer = load(b.certs[spec.issuer][0])
        # Chain: signed by the planned CA (issuer name, signature, key identifiers).
        cert.verify_directly_issued_by(issuer)
        aki = (
            cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
            if not spec.is_ca
            else None
        )
        if aki is not None:
            assert aki.key_identifier == ski(issuer), name
        # Identity.
        expected_subject = [("commonName", spec.common_name)]
        if spec.organization:
            expected_subject.insert(0, ("organizationName", spec.organization))
        assert subject(cert) == expected_subject, name
        # Usages.
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert bc.critical and bc.value.ca == spec.is_ca, name
        assert key_usages(cert) == set(spec.key_usages), name
        assert ext_key_usages(cert) == set(spec.ext_key_usages), name
        # SANs: exactly the plan, nothing more.
        assert sans(cert) == (set(spec.dns_names), set(spec.ip_addresses)), name
        # Validity.
        assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(hours=spec.validity_hours), (
            name
        )
        assert abs(cert.not_valid_before_utc - now) < timedelta(minutes=5), name
        assert b.values["expiries"][name] == cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"), name


def test_leaves_chain_to_their_own_ca_only(b: Built) -> None:
    plan = b.plan()
    for name, spec in plan.items():
        if spec.is_ca:
            continue
        cert = load(b.certs[name][0])
        for ca in pki_plan.CAS:
            if ca == spec.issuer:
                continue
            with pytest.raises((ValueError, InvalidSignature)):
                cert.verify_directly_issued_by(load(b.certs[ca][0]))


def test_every_key_uses_the_configured_algorithm(b: Built) -> None:
    p = b.spec.pki
    keys = [k for _, k in b.certs.values()] + [b.values["service_account_key_pem"]]
    for key_pem in keys:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
        if p.key_algorithm == "RSA":
            assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == p.rsa_bits
        else:
            assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == CURVES[p.ecdsa_curve]
    for name, (cert_pem, key_pem) in b.certs.items():
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
        assert load(cert_pem).public_key() == key.public_key(), f"{name}: key does not match the certificate"
    sa_public = serialization.load_pem_public_key(b.values["service_account_public_pem"].encode())
    sa_key = serialization.load_pem_private_key(b.values["service_account_key_pem"].encode(), password=None)
    assert sa_public == sa_key.public_key()
    assert all(sa_public != load(c).public_key() for c, _ in b.certs.values()), "SA key reused"


def test_rsa_preset_keys_and_usages() -> None:
    b = built_rsa()
    for name, (cert_pem, key_pem) in b.certs.items():
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 3072, name
        cert = load(cert_pem)
        if not b.plan()[name].is_ca:
            assert key_usages(cert) == {"digital_signature", "key_encipherment"}, name
        assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)


def test_p521_certificates_are_signed_with_sha512() -> None:
    b = built("Pulumi.s4-oraclelinux7-everything-systemd.yaml")
    for name, (cert_pem, _) in b.certs.items():
        assert isinstance(load(cert_pem).signature_hash_algorithm, hashes.SHA512), name


def kubeconfig(b: Built, name: str) -> dict:
    doc = yaml.safe_load(b.kubeconfigs[name])
    assert doc["apiVersion"] == "v1" and doc["kind"] == "Config"
    (cluster,) = doc["clusters"]
    (user,) = doc["users"]
    (context,) = doc["contexts"]
    assert doc["current-context"] == context["name"]
    assert context["context"] == {"cluster": cluster["name"], "user": user["name"]}
    assert cluster["name"] == b.spec.cluster_name
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]).decode() == b.certs["ca"][0]
    return {"server": cluster["cluster"]["server"], "user": user["name"], "credentials": user["user"]}


@pytest.mark.parametrize(
    ("name", "cert", "local"),
    [
        ("admin", "admin", False),
        ("super-admin", "super-admin", False),
        ("controller-manager", "controller-manager", True),
        ("scheduler", "scheduler", True),
        ("kube-proxy", "kube-proxy", False),
        ("csr-approver", "csr-approver", False),
    ],
)
def test_certificate_kubeconfigs_embed_their_identity(b: Built, name: str, cert: str, local: bool) -> None:
    kc = kubeconfig(b, name)
    assert kc["server"] == ("https://127.0.0.1:6443" if local else b.spec.api_endpoint.url)
    creds = kc["credentials"]
    assert set(creds) == {"client-certificate-data", "client-key-data"}
    assert base64.b64decode(creds["client-certificate-data"]).decode() == b.certs[cert][0]
    assert base64.b64decode(creds["client-key-data"]).decode() == b.certs[cert][1]
    assert kc["user"] == b.plan()[cert].common_name


def test_the_encryption_key_has_the_required_shape(b: Built) -> None:
    assert len(base64.b64decode(b.values["encryption_key"], validate=True)) == 32


def test_the_server_certificates_answer_to_their_addresses(b: Built) -> None:
    """Hostname matching as a client does it (openssl's rules via cryptography's SAN values)."""
    apiserver = load(b.certs["apiserver"][0])
    dns, ips = sans(apiserver)
    assert b.spec.network.api_service_ip in ips
    host = b.spec.api_endpoint.host
    assert host in dns or str(ipaddress.ip_address(host)) in ips


# --- openssl ----------------------------------------------------------------------------


def write(tmp: Path, name: str, text: str) -> str:
    path = tmp / name
    path.write_text(text)
    return str(path)


@pytest.mark.realtool
@pytest.mark.parametrize("preset", PRESET_IDS)
def test_openssl_verifies_every_chain_and_purpose(preset: str, tmp_path: Path) -> None:
    b = built(preset)
    plan = b.plan()
    cas = {ca: write(tmp_path, f"{ca}.pem", b.certs[ca][0]) for ca in pki_plan.CAS}
    checked = 0
    for name, spec in plan.items():
        if spec.is_ca:
            continue
        leaf = write(tmp_path, f"{name}.pem", b.certs[name][0])
        for eku, purpose in (("server_auth", "sslserver"), ("client_auth", "sslclient")):
            result = openssl("verify", "-x509_strict", "-purpose", purpose, "-CAfile", cas[spec.issuer], leaf)
            if eku in spec.ext_key_usages:
                assert result.returncode == 0 and f"{leaf}: OK" in result.stdout, (
                    name,
                    purpose,
                    result.stderr,
                )
                checked += 1
            else:
                assert result.returncode != 0, f"{name} passed as {purpose} without {eku}"
        for ca, ca_file in cas.items():
            if ca != spec.issuer:
                wrong = openssl("verify", "-CAfile", ca_file, leaf)
                assert wrong.returncode != 0, f"{name} verified against {ca}"
    assert checked >= len(plan) - 3


@pytest.mark.realtool
def test_openssl_reads_the_apiserver_sans() -> None:
    b = built("Pulumi.ha-calico.yaml")
    text = openssl(
        "x509", "-noout", "-ext", "subjectAltName,keyUsage,extendedKeyUsage", stdin=b.certs["apiserver"][0]
    )
    assert text.returncode == 0, text.stderr
    for name in (
        "DNS:kubernetes.default.svc.cluster.local",
        "DNS:k8s-api.example.internal",
        "IP Address:10.96.0.1",
    ):
        assert name in text.stdout
    assert "TLS Web Server Authentication" in text.stdout and "Client Authentication" not in text.stdout
    assert "Key Encipherment" not in text.stdout  # ECDSA


# --- renewal ----------------------------------------------------------------------------


def triggers(b: Built) -> dict[str, object]:
    return {r.name: r.replacement_trigger for r in b.graph.registrations if r.type.endswith("Cert")}


def test_leaves_carry_a_renewal_trigger_and_cas_do_not() -> None:
    b = built("Pulumi.ha-calico.yaml")
    plan = b.plan()
    for name, trigger in triggers(b).items():
        cert = name.removeprefix("pki-").removesuffix("-cert")
        assert trigger == (None if plan[cert].is_ca else "renewal-0"), name


def shifted_now(shift: timedelta) -> datetime:
    return datetime.now(UTC) + shift


def test_the_trigger_moves_when_the_renewal_window_opens() -> None:
    spec = preset_spec("ha-calico")
    p = spec.pki
    opens = timedelta(days=p.cert_validity_days - p.renew_before_days)
    for shift, expected in (
        (opens - timedelta(hours=1), "renewal-0"),
        (opens + timedelta(hours=1), "renewal-1"),
    ):
        moved = build(spec, clock=functools.partial(shifted_now, shift))
        leaf_triggers = {n: t for n, t in triggers(moved).items() if t is not None}
        assert leaf_triggers and set(leaf_triggers.values()) == {expected}


def masked_inputs(b: Built) -> dict[str, dict]:
    """Inputs with generated material (PEMs, random results) masked: what the program decides."""

    def mask(value: object) -> object:
        if isinstance(value, dict):
            return {k: mask(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mask(v) for v in value]
        if isinstance(value, str) and "-----BEGIN" in value:
            return "<pem>"
        return value

    return {
        r.name: {"inputs": mask(r.inputs), "trigger": r.replacement_trigger} for r in b.graph.registrations
    }


def test_two_evaluations_give_identical_inputs() -> None:
    spec = preset_spec("ha-calico")
    first, second = masked_inputs(build(spec)), masked_inputs(build(spec))
    assert first == second
    key_inputs = first["pki-admin-key"]["inputs"]
    assert key_inputs == {"algorithm": "ECDSA", "ecdsaCurve": "P256"}  # never the provider's P224


def test_local_kubeconfigs_follow_the_apiserver_port_of_a_single_control_plane() -> None:
    """apiEndpoint naming the only control plane on 7443: kube-apiserver binds 7443, so its
    controller-manager and scheduler must dial 7443 too (they once kept 6443)."""
    spec = preset_spec("s5-no-cni", {"apiEndpoint": "172.18.0.2:7443"})
    node = spec.control_plane_nodes[0]
    assert "--secure-port=7443" in cp_render.unit_texts(spec, node)[cp_render.APISERVER]
    b = build(spec)
    for name in ("controller-manager", "scheduler"):
        assert kubeconfig(b, name)["server"] == "https://127.0.0.1:7443", name
