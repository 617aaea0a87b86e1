"""A faithful pulumi-tls (5.x = terraform-provider-tls 4.x) mock: real keys and certificates.

Handlers take the wire inputs (camelCase) and build what the provider would with `cryptography`
instead of Go's crypto/x509: the requested algorithm and curve (default P224, like the
provider), the subject, SANs, allowed uses (the provider's snake_case names; anything else
fails like its validator), validity, CA flag and key identifiers, and the computed outputs.
Mirrored provider behaviour (terraform-provider-tls internal/provider):
- PEM formats: RSA PKCS#1, EC SEC1, Ed25519 PKCS#8; public keys PKIX; OpenSSH forms.
- createCertificate: NotBefore = now, NotAfter = now + validity_period_hours, 128-bit random
  serial (the resource id), KeyUsage critical, BasicConstraints critical, CA certificates get a
  subject key id, set_subject_key_id adds one to any certificate; a locally signed certificate
  gets the CA's subject key id as authority key id (Go does that when issuer != subject);
  set_authority_key_id on a self-signed certificate needs a subject key id.
- LocallySignedCert copies only subject and SANs from the CSR; extensions come from the inputs.
- Go refuses to sign when the CA key does not match the CA certificate; so do we.
- ready_for_renewal is false at create (the plan-time check only applies to existing state).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import secrets
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mockrun.mocks import resource_handler

PrivateKeyTypes = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKeyTypes = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

ALGORITHMS = ("RSA", "ECDSA", "ED25519")
CURVES: dict[str, ec.EllipticCurve] = {
    "P224": ec.SECP224R1(),
    "P256": ec.SECP256R1(),
    "P384": ec.SECP384R1(),
    "P521": ec.SECP521R1(),
}
SSH_CURVE_NAMES = {"P256": "nistp256", "P384": "nistp384", "P521": "nistp521"}

KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "cert_signing",
    "crl_signing",
    "encipher_only",
    "decipher_only",
)
EXT_KEY_USAGES: dict[str, x509.ObjectIdentifier] = {
    "any_extended": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    "server_auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code_signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email_protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "ipsec_end_system": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
    "ipsec_tunnel": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
    "ipsec_user": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp_signing": ExtendedKeyUsageOID.OCSP_SIGNING,
    "microsoft_server_gated_crypto": x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    "netscape_server_gated_crypto": x509.ObjectIdentifier("2.16.840.1.113730.4.1"),
    "microsoft_commercial_code_signing": x509.ObjectIdentifier("1.3.6.1.4.1.311.2.1.22"),
    "microsoft_kernel_code_signing": x509.ObjectIdentifier("1.3.6.1.4.1.311.61.1.1"),
}
ALLOWED_USES = frozenset(KEY_USAGES) | frozenset(EXT_KEY_USAGES)

# pkix.Name.ToRDNSequence order, which is how Go writes a subject.
SUBJECT_FIELDS: tuple[tuple[str, x509.ObjectIdentifier], ...] = (
    ("country", NameOID.COUNTRY_NAME),
    ("province", NameOID.STATE_OR_PROVINCE_NAME),
    ("locality", NameOID.LOCALITY_NAME),
    ("streetAddresses", NameOID.STREET_ADDRESS),
    ("postalCode", NameOID.POSTAL_CODE),
    ("organization", NameOID.ORGANIZATION_NAME),
    ("organizationalUnit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("commonName", NameOID.COMMON_NAME),
    ("serialNumber", NameOID.SERIAL_NUMBER),
    ("emailAddress", NameOID.EMAIL_ADDRESS),
)


class ProviderError(Exception):
    """What the real provider reports as a diagnostic error (the deployment fails)."""


# --- keys -------------------------------------------------------------------------------


def _require(inputs: dict[str, Any], key: str, resource: str) -> Any:
    value = inputs.get(key)
    if value is None or value == "":
        raise ProviderError(f"{resource}: the argument {key!r} is required")
    return value


def generate_key(algorithm: str, curve: str, rsa_bits: int) -> PrivateKeyTypes:
    if algorithm == "RSA":
        if rsa_bits < 1024:
            raise ProviderError(f"crypto/rsa: {rsa_bits}-bit keys are insecure")
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    if algorithm == "ECDSA":
        return ec.generate_private_key(CURVES[curve])
    return ed25519.Ed25519PrivateKey.generate()


def private_key_pem(key: PrivateKeyTypes) -> str:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        fmt = serialization.PrivateFormat.PKCS8
    else:
        fmt = serialization.PrivateFormat.TraditionalOpenSSL  # PKCS#1 / SEC1
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def _openssh_supported(key: PrivateKeyTypes) -> bool:
    return not (isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp224r1")


def parse_private_key(pem: str, what: str) -> tuple[PrivateKeyTypes, str]:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as err:
        raise ProviderError(f"failed to parse {what}: {err}") from err
    if isinstance(key, rsa.RSAPrivateKey):
        return key, "RSA"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key, "ECDSA"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key, "ED25519"
    raise ProviderError(f"{what}: unsupported key type {type(key).__name__}")


@resource_handler("tls:index/privateKey:PrivateKey")
def _private_key(name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    algorithm = _require(inputs, "algorithm", "tls_private_key")
    if algorithm not in ALGORITHMS:
        raise ProviderError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    curve = inputs.get("ecdsaCurve") or "P224"  # the provider's default (too weak: always pass one)
    if curve not in CURVES:
        raise ProviderError(f"ecdsa_curve must be one of {tuple(CURVES)}, got {curve!r}")
    rsa_bits = int(inputs.get("rsaBits") or 2048)
    key = generate_key(algorithm, curve, rsa_bits)
    public = key.public_key()
    public_der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    openssh_private = openssh_public = ""
    md5 = sha256 = ""
    if _openssh_supported(key):
        openssh_private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ).decode()
        openssh_public = (
            public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
            + "\n"
        )
        blob = base64.b64decode(openssh_public.split()[1])
        md5 = ":".join(f"{b:02x}" for b in hashlib.md5(blob).digest())
        sha256 = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    state = {
        **inputs,
        "algorithm": algorithm,
        "ecdsaCurve": curve,
        "rsaBits": rsa_bits,
        "privateKeyPem": private_key_pem(key),
        "privateKeyPemPkcs8": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        "privateKeyOpenssh": openssh_private,
        "publicKeyPem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
        "publicKeyOpenssh": openssh_public,
        "publicKeyFingerprintMd5": md5,
        "publicKeyFingerprintSha256": sha256,
    }
    return hashlib.sha1(public_der).hexdigest(), state


# --- certificates -----------------------------------------------------------------------


def subject_name(subject: dict[str, Any] | None) -> x509.Name:
    attributes: list[x509.NameAttribute] = []
    for key, oid in SUBJECT_FIELDS:
        value = (subject or {}).get(key)
        if not value:
            continue
        for item in value if isinstance(value, list) else [value]:
            attributes.append(x509.NameAttribute(oid, str(item)))
    return x509.Name(attributes)


def _sans(inputs: dict[str, Any]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in inputs.get("dnsNames") or []]
    for ip in inputs.get("ipAddresses") or []:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError as err:
            raise ProviderError(f"invalid IP address {ip!r}") from err
    names += [x509.UniformResourceIdentifier(u) for u in inputs.get("uris") or []]
    return names


def _allowed_uses(inputs: dict[str, Any]) -> list[str]:
    uses = inputs.get("allowedUses")
    if uses is None:
        raise ProviderError("the argument 'allowed_uses' is required")
    bad = [u for u in uses if u not in ALLOWED_USES]
    if bad:
        raise ProviderError(f"allowed_uses: {bad} not in {sorted(ALLOWED_USES)}")
    return list(uses)


def _hours(inputs: dict[str, Any], key: str, required: bool) -> int:
    value = inputs.get(key)
    if value is None:
        if required:
            raise ProviderError(f"the argument {key!r} is required")
        return 0
    hours = int(value)
    if hours < 0:
        raise ProviderError(f"{key} must be at least 0, got {hours}")
    return hours


def subject_key_id(public: PublicKeyTypes) -> bytes:
    """generateSubjectKeyID: SHA-1 of the marshalled public key."""
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return hashlib.sha1(b"\x04" + bytes([len(raw)]) + raw).digest()  # asn1.Marshal([]byte)
    # EC point / PKCS#1 RSAPublicKey: the subjectPublicKey bits, as cryptography hashes them.
    return x509.SubjectKeyIdentifier.from_public_key(public).digest


def _signature_hash(key: PrivateKeyTypes) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None:
    """Go's default signature algorithm for the signing key."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1":
        return hashes.SHA384()
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp521r1":
        return hashes.SHA512()
    return hashes.SHA256()


def _go_time(t: dt.datetime) -> str:
    """time.Time.MarshalText (RFC 3339 with trailing zero fraction digits trimmed), in UTC."""
    text = t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "Z"


def create_certificate(
    *,
    subject: x509.Name,
    sans: list[x509.GeneralName],
    public: PublicKeyTypes,
    issuer: x509.Name,
    issuer_ski: bytes | None,
    signing_key: PrivateKeyTypes,
    inputs: dict[str, Any],
    self_signed: bool,
) -> tuple[str, dict[str, Any]]:
    """createCertificate + x509.CreateCertificate, in cryptography."""
    uses = _allowed_uses(inputs)
    validity = _hours(inputs, "validityPeriodHours", required=True)
    early = _hours(inputs, "earlyRenewalHours", required=False)
    is_ca = bool(inputs.get("isCaCertificate"))
    if is_ca and len(subject) == 0:
        raise ProviderError(
            "Invalid Certificate Subject: must contain at least one Distinguished Name for a CA"
        )
    not_before = dt.datetime.now(dt.UTC)
    not_after = not_before + dt.timedelta(hours=validity)
    serial = secrets.randbits(128)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(serial or 1)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    max_path = inputs.get("maxPathLength")
    path_length = int(max_path) if is_ca and max_path is not None and int(max_path) >= 0 else None
    builder = builder.add_extension(x509.BasicConstraints(ca=is_ca, path_length=path_length), critical=True)
    if any(u in KEY_USAGES for u in uses):
        flags = {u: u in uses for u in KEY_USAGES}
        try:
            key_usage = x509.KeyUsage(
                digital_signature=flags["digital_signature"],
                content_commitment=flags["content_commitment"],
                key_encipherment=flags["key_encipherment"],
                data_encipherment=flags["data_encipherment"],
                key_agreement=flags["key_agreement"],
                key_cert_sign=flags["cert_signing"],
                crl_sign=flags["crl_signing"],
                encipher_only=flags["encipher_only"],
                decipher_only=flags["decipher_only"],
            )
        except ValueError as err:
            raise ProviderError(str(err)) from err
        builder = builder.add_extension(key_usage, critical=True)
    ekus = [EXT_KEY_USAGES[u] for u in uses if u in EXT_KEY_USAGES]
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    ski = subject_key_id(public) if is_ca or inputs.get("setSubjectKeyId") else None
    if ski:
        builder = builder.add_extension(x509.SubjectKeyIdentifier(ski), critical=False)
    if self_signed:
        if inputs.get("setAuthorityKeyId"):
            if not ski:
                raise ProviderError(
                    "Invalid Certificate Authority: could not determine Authority Key Identifier"
                )
            aki = x509.AuthorityKeyIdentifier(ski, None, None)
            builder = builder.add_extension(aki, critical=False)
    elif issuer_ski:
        aki = x509.AuthorityKeyIdentifier(issuer_ski, None, None)
        builder = builder.add_extension(aki, critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(signing_key, _signature_hash(signing_key))
    state = {
        **inputs,
        "isCaCertificate": is_ca,
        "earlyRenewalHours": early,
        "setSubjectKeyId": bool(inputs.get("setSubjectKeyId")),
        "certPem": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "validityStartTime": _go_time(not_before),
        "validityEndTime": _go_time(not_after),
        "readyForRenewal": False,
    }
    return str(serial or 1), state


@resource_handler("tls:index/selfSignedCert:SelfSignedCert")
def _self_signed_cert(name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    key, algorithm = parse_private_key(
        _require(inputs, "privateKeyPem", "tls_self_signed_cert"), "private key"
    )
    subject = subject_name(inputs.get("subject"))
    cert_id, state = create_certificate(
        subject=subject,
        sans=_sans(inputs),
        public=key.public_key(),
        issuer=subject,
        issuer_ski=None,
        signing_key=key,
        inputs=inputs,
        self_signed=True,
    )
    state["keyAlgorithm"] = algorithm
    state["setAuthorityKeyId"] = bool(inputs.get("setAuthorityKeyId"))
    return cert_id, state


@resource_handler("tls:index/certRequest:CertRequest")
def _cert_request(name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    key, algorithm = parse_private_key(_require(inputs, "privateKeyPem", "tls_cert_request"), "private key")
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject_name(inputs.get("subject")))
    sans = _sans(inputs)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    csr = builder.sign(key, _signature_hash(key))
    pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    state = {**inputs, "certRequestPem": pem, "keyAlgorithm": algorithm}
    return hashlib.sha1(pem.encode()).hexdigest(), state


def _pem_block(pem: str, kind: str, what: str) -> None:
    if f"-----BEGIN {kind}-----" not in pem:
        raise ProviderError(f"failed to decode PEM of expected type {kind!r} from {what}")


@resource_handler("tls:index/locallySignedCert:LocallySignedCert")
def _locally_signed_cert(name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    csr_pem = _require(inputs, "certRequestPem", "tls_locally_signed_cert")
    ca_pem = _require(inputs, "caCertPem", "tls_locally_signed_cert")
    _pem_block(csr_pem, "CERTIFICATE REQUEST", "cert_request_pem")
    _pem_block(ca_pem, "CERTIFICATE", "ca_cert_pem")
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    ca_key, ca_algorithm = parse_private_key(
        _require(inputs, "caPrivateKeyPem", "tls_locally_signed_cert"), "CA private key"
    )
    ca_cert = x509.load_pem_x509_certificate(ca_pem.encode())
    if ca_cert.public_key() != ca_key.public_key():
        raise ProviderError("x509: provided PrivateKey doesn't match parent's PublicKey")
    try:
        san_ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        sans = list(san_ext.value)
    except x509.ExtensionNotFound:
        sans = []
    try:
        issuer_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        issuer_ski = None
    cert_id, state = create_certificate(
        subject=csr.subject,
        sans=sans,
        public=csr.public_key(),  # type: ignore[arg-type]
        issuer=ca_cert.subject,
        issuer_ski=issuer_ski,
        signing_key=ca_key,
        inputs=inputs,
        self_signed=False,
    )
    state["caKeyAlgorithm"] = ca_algorithm
    return cert_id, state
