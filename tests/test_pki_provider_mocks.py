"""The tls and random mocks behave like the providers where it matters to the Pki."""

from __future__ import annotations

import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mockrun import random_mock, tls_mock
from mockrun.mocks import RESOURCE_HANDLERS
from mockrun.tls_mock import ProviderError

KEY = RESOURCE_HANDLERS["tls:index/privateKey:PrivateKey"]
SELF = RESOURCE_HANDLERS["tls:index/selfSignedCert:SelfSignedCert"]
CSR = RESOURCE_HANDLERS["tls:index/certRequest:CertRequest"]
SIGNED = RESOURCE_HANDLERS["tls:index/locallySignedCert:LocallySignedCert"]
STRING = RESOURCE_HANDLERS["random:index/randomString:RandomString"]
PASSWORD = RESOURCE_HANDLERS["random:index/randomPassword:RandomPassword"]
BYTES = RESOURCE_HANDLERS["random:index/randomBytes:RandomBytes"]


def ca(curve: str = "P256") -> tuple[dict, dict]:
    _, key = KEY("k", {"algorithm": "ECDSA", "ecdsaCurve": curve})
    _, cert = SELF(
        "c",
        {
            "privateKeyPem": key["privateKeyPem"],
            "subject": {"commonName": "test-ca"},
            "isCaCertificate": True,
            "allowedUses": ["cert_signing", "crl_signing"],
            "validityPeriodHours": 48,
        },
    )
    return key, cert


def test_private_key_defaults_to_p224_like_the_provider() -> None:
    _, state = KEY("k", {"algorithm": "ECDSA"})
    assert state["ecdsaCurve"] == "P224"
    key = serialization.load_pem_private_key(state["privateKeyPem"].encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp224r1"
    assert state["privateKeyPem"].startswith("-----BEGIN EC PRIVATE KEY-----")
    assert state["privateKeyOpenssh"] == ""  # OpenSSH has no P-224


def test_private_key_outputs() -> None:
    _, state = KEY("k", {"algorithm": "RSA", "rsaBits": 2048})
    assert state["privateKeyPem"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert state["privateKeyPemPkcs8"].startswith("-----BEGIN PRIVATE KEY-----")
    assert state["publicKeyOpenssh"].startswith("ssh-rsa ")
    assert re.fullmatch(r"([0-9a-f]{2}:){15}[0-9a-f]{2}", state["publicKeyFingerprintMd5"])
    assert state["publicKeyFingerprintSha256"].startswith("SHA256:")


@pytest.mark.parametrize("inputs", [{}, {"algorithm": "DSA"}, {"algorithm": "ECDSA", "ecdsaCurve": "P192"}])
def test_private_key_rejects_what_the_provider_rejects(inputs: dict) -> None:
    with pytest.raises(ProviderError):
        KEY("k", inputs)


@pytest.mark.parametrize("use", ["digitalSignature", "serverAuth", "certSign", "server auth"])
def test_camel_case_or_unknown_uses_are_rejected(use: str) -> None:
    key, _ = ca()
    with pytest.raises(ProviderError, match="allowed_uses"):
        SELF(
            "c",
            {
                "privateKeyPem": key["privateKeyPem"],
                "subject": {"commonName": "x"},
                "allowedUses": [use],
                "validityPeriodHours": 1,
            },
        )


def test_every_documented_use_is_accepted() -> None:
    assert len(tls_mock.ALLOWED_USES) == 23


def test_self_signed_ca_has_a_subject_key_id_and_a_ca_needs_a_subject() -> None:
    key, state = ca()
    cert = x509.load_pem_x509_certificate(state["certPem"].encode())
    cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert state["readyForRenewal"] is False and state["keyAlgorithm"] == "ECDSA"
    with pytest.raises(ProviderError, match="Distinguished Name"):
        SELF(
            "c",
            {
                "privateKeyPem": key["privateKeyPem"],
                "isCaCertificate": True,
                "allowedUses": [],
                "validityPeriodHours": 1,
            },
        )


def sign(ca_key: dict, ca_cert: dict, leaf_key: dict, **extra: object) -> dict:
    _, csr = CSR(
        "r",
        {
            "privateKeyPem": leaf_key["privateKeyPem"],
            "subject": {"commonName": "leaf"},
            "dnsNames": ["a.example"],
        },
    )
    inputs = {
        "certRequestPem": csr["certRequestPem"],
        "caCertPem": ca_cert["certPem"],
        "caPrivateKeyPem": ca_key["privateKeyPem"],
        "allowedUses": ["digital_signature", "client_auth"],
        "validityPeriodHours": 5,
        **extra,
    }
    cert_id, state = SIGNED("s", inputs)
    assert state["caKeyAlgorithm"] == "ECDSA"
    assert cert_id == str(x509.load_pem_x509_certificate(state["certPem"].encode()).serial_number)
    return state


def test_locally_signed_cert_takes_sans_from_the_csr_and_the_ca_key_id() -> None:
    ca_key, ca_cert = ca()
    _, leaf_key = KEY("l", {"algorithm": "ECDSA", "ecdsaCurve": "P384"})
    state = sign(ca_key, ca_cert, leaf_key)
    cert = x509.load_pem_x509_certificate(state["certPem"].encode())
    issuer = x509.load_pem_x509_certificate(ca_cert["certPem"].encode())
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == ["a.example"]
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    with pytest.raises(x509.ExtensionNotFound):  # only with set_subject_key_id
        cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert state["validityEndTime"].endswith("Z") and state["earlyRenewalHours"] == 0


def test_a_ca_key_that_does_not_match_the_ca_certificate_is_refused() -> None:
    _, ca_cert = ca()
    other_key, _ = ca()
    _, leaf_key = KEY("l", {"algorithm": "ECDSA", "ecdsaCurve": "P256"})
    with pytest.raises(ProviderError, match="doesn't match"):
        sign(other_key, ca_cert, leaf_key)


@pytest.mark.parametrize("extra", [{"validityPeriodHours": None}, {"earlyRenewalHours": -1}])
def test_bad_validity_is_refused(extra: dict) -> None:
    ca_key, ca_cert = ca()
    _, leaf_key = KEY("l", {"algorithm": "ECDSA", "ecdsaCurve": "P256"})
    with pytest.raises(ProviderError):
        sign(ca_key, ca_cert, leaf_key, **extra)


def test_random_string_id_is_its_result_and_password_id_is_none() -> None:
    charset = {"length": 16, "upper": False, "special": False}
    string_id, string_state = STRING("s", charset)
    assert string_id == string_state["result"]
    password_id, password_state = PASSWORD("p", charset)
    assert password_id == "none" and re.fullmatch(r"[a-z0-9]{16}", password_state["result"])


@pytest.mark.parametrize(
    "inputs",
    [
        {},
        {"length": 0},
        {"length": 2, "minLower": 3},
        {"length": 4, "upper": False, "lower": False, "numeric": False, "special": False},
    ],
)
def test_random_string_rejects_impossible_requests(inputs: dict) -> None:
    with pytest.raises(ProviderError):
        random_mock.random_string(inputs)


def test_random_bytes() -> None:
    rid, state = BYTES("b", {"length": 32})
    assert rid == "none" and len(bytes.fromhex(state["hex"])) == 32
    with pytest.raises(ProviderError):
        BYTES("b", {"length": 0})
