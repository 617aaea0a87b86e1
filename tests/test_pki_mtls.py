"""Real mutual-TLS handshakes with the issued certificates: openssl s_server -Verify / s_client.

Each pair is a connection the cluster makes: a client with its certificate, a server that
requires one and trusts only the CA the real server trusts (--client-ca-file, etcd
--trusted-ca-file, --requestheader-client-ca-file). The client checks the server's chain and
the name it dials. Every pair succeeds with the right certificates and fails with a client
certificate from another CA (and, where it matters, with a certificate lacking clientAuth or a
name the server certificate does not carry). Ephemeral localhost ports, bounded timeouts, the
server is always killed.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.pki import Built, built, built_rsa, need_openssl, pem_files

pytestmark = pytest.mark.realtool

REQUEST = "GET / HTTP/1.0\r\n\r\n"
SERVED = "HTTP/1.0 200 ok"  # s_server -www answers with this once the handshake succeeded


@dataclass
class Handshake:
    ok: bool
    client: str
    server: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def handshake(
    b: Built,
    tmp: Path,
    *,
    client: str,
    server: str = "apiserver",
    client_ca: str = "ca",
    server_ca: str = "ca",
    name: str = "kubernetes",
) -> Handshake:
    """`server` requires a client certificate signed by `client_ca`; `client` trusts `server_ca`
    and verifies that the server certificate carries `name` (a DNS name or an IP address).
    The defaults are kube-apiserver's: served as "kubernetes", cluster CA on both sides."""
    openssl = need_openssl()
    s_cert, s_key = pem_files(b, tmp, server)
    c_cert, c_key = pem_files(b, tmp, client)
    trust_clients, _ = pem_files(b, tmp, client_ca)
    trust_server, _ = pem_files(b, tmp, server_ca)
    port = free_port()
    out, err = tmp / f"server-{port}.out", tmp / f"server-{port}.err"
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen(
            [
                *(openssl, "s_server", "-accept", f"127.0.0.1:{port}", "-cert", s_cert, "-key", s_key),
                *("-CAfile", trust_clients, "-Verify", "2", "-verify_return_error", "-naccept", "1", "-www"),
            ],
            stdout=o,
            stderr=e,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 10
        while "ACCEPT" not in out.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"s_server did not start: {err.read_text()}")
            time.sleep(0.02)
        check = ["-verify_ip", name] if name[0].isdigit() or ":" in name else ["-verify_hostname", name]
        result = subprocess.run(
            [
                *(openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-cert", c_cert, "-key", c_key),
                *(
                    "-CAfile",
                    trust_server,
                    "-verify_return_error",
                    *check,
                    "-servername",
                    "pki-test",
                    "-ign_eof",
                ),
            ],
            input=REQUEST,
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
        ok = result.returncode == 0 and SERVED in result.stdout
        return Handshake(ok, result.stdout + result.stderr, err.read_text())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


HA = "Pulumi.ha-calico.yaml"
AGGREGATED = {"client_ca": "front-proxy-ca"}  # an extension API server, dialled as the apiserver


def etcd_ca(server: str) -> dict[str, str]:
    """An etcd member's `server` certificate, clients and server both trusting the etcd CA."""
    return {"server": server, "client_ca": "etcd-ca", "server_ca": "etcd-ca"}


@pytest.fixture
def ha() -> Built:
    return built(HA)


# --- kube-apiserver: clients authenticate against the cluster CA (--client-ca-file) --------


@pytest.mark.parametrize("client", ["admin", "controller-manager", "scheduler", "kube-proxy", "csr-approver"])
def test_apiserver_accepts_cluster_clients(ha: Built, tmp_path: Path, client: str) -> None:
    h = handshake(ha, tmp_path, client=client)
    assert h.ok, h.client + h.server


@pytest.mark.parametrize(
    "name",
    [
        "kubernetes.default.svc.cluster.local",
        "k8s-api.example.internal",
        "127.0.0.1",
        "10.96.0.1",
        "10.20.0.12",
        "cp3",
    ],
)
def test_apiserver_certificate_answers_to_every_way_in(ha: Built, tmp_path: Path, name: str) -> None:
    h = handshake(ha, tmp_path, client="admin", name=name)
    assert h.ok, h.client


@pytest.mark.parametrize("client", ["apiserver-etcd-client", "front-proxy-client", "etcd-peer-cp1"])
def test_apiserver_refuses_clients_of_other_cas(ha: Built, tmp_path: Path, client: str) -> None:
    h = handshake(ha, tmp_path, client=client)
    assert not h.ok
    assert "verify error" in h.server or "certificate verify failed" in h.server, h.server


def test_a_server_only_certificate_cannot_act_as_a_client(ha: Built, tmp_path: Path) -> None:
    # Same CA, but no clientAuth: openssl checks the ssl_client purpose as kube-apiserver checks the EKU.
    h = handshake(ha, tmp_path, client="apiserver")
    assert not h.ok
    assert "unsuitable certificate purpose" in h.server, h.server


def test_client_refuses_a_name_the_apiserver_certificate_lacks(ha: Built, tmp_path: Path) -> None:
    assert not handshake(ha, tmp_path, client="admin", name="evil.example.com").ok


def test_client_refuses_an_apiserver_from_another_ca(ha: Built, tmp_path: Path) -> None:
    assert not handshake(ha, tmp_path, client="admin", server_ca="etcd-ca").ok


# --- etcd: clients and peers against the etcd CA (--trusted-ca-file, --peer-trusted-ca-file) -


@pytest.mark.parametrize("client", ["apiserver-etcd-client", "etcd-healthcheck-client"])
def test_etcd_server_accepts_etcd_clients(ha: Built, tmp_path: Path, client: str) -> None:
    for ip in ("10.20.0.11", "127.0.0.1", "::1"):
        h = handshake(ha, tmp_path, **etcd_ca("etcd-server-cp1"), client=client, name=ip)
        assert h.ok, h.client + h.server


@pytest.mark.parametrize("client", ["admin", "apiserver-kubelet-client", "front-proxy-client"])
def test_etcd_server_refuses_clients_of_other_cas(ha: Built, tmp_path: Path, client: str) -> None:
    h = handshake(ha, tmp_path, **etcd_ca("etcd-server-cp1"), client=client, name="10.20.0.11")
    assert not h.ok
    assert "verify error" in h.server or "certificate verify failed" in h.server, h.server


def test_etcd_server_certificate_is_only_for_its_member(ha: Built, tmp_path: Path) -> None:
    assert not handshake(
        ha, tmp_path, **etcd_ca("etcd-server-cp1"), client="apiserver-etcd-client", name="10.20.0.12"
    ).ok


@pytest.mark.parametrize(
    ("server", "client", "ip"),
    [("cp1", "cp2", "10.20.0.11"), ("cp2", "cp3", "10.20.0.12"), ("cp3", "cp1", "10.20.0.13")],
)
def test_etcd_peers_authenticate_each_other(
    ha: Built, tmp_path: Path, server: str, client: str, ip: str
) -> None:
    # A peer certificate is a server certificate to the member it serves and a client
    # certificate to the member it dials: both EKUs are exercised here.
    h = handshake(ha, tmp_path, **etcd_ca(f"etcd-peer-{server}"), client=f"etcd-peer-{client}", name=ip)
    assert h.ok, h.client + h.server


@pytest.mark.parametrize("client", ["front-proxy-client", "admin"])
def test_etcd_peer_refuses_certificates_of_other_cas(ha: Built, tmp_path: Path, client: str) -> None:
    assert not handshake(ha, tmp_path, **etcd_ca("etcd-peer-cp1"), client=client, name="10.20.0.11").ok


# --- aggregation: extension API servers trust only the front-proxy CA -----------------------


def test_front_proxy_client_is_accepted_by_an_aggregated_server(ha: Built, tmp_path: Path) -> None:
    h = handshake(ha, tmp_path, **AGGREGATED, client="front-proxy-client")
    assert h.ok, h.client + h.server


@pytest.mark.parametrize("client", ["admin", "apiserver-kubelet-client"])
def test_aggregated_server_refuses_cluster_clients_as_proxies(ha: Built, tmp_path: Path, client: str) -> None:
    assert not handshake(ha, tmp_path, **AGGREGATED, client=client).ok


# --- the other key types ---------------------------------------------------------------------


@pytest.mark.parametrize("which", ["rsa-3072", "ecdsa-p521"])
def test_handshakes_with_rsa_and_p521_keys(tmp_path: Path, which: str) -> None:
    b = built_rsa() if which == "rsa-3072" else built("Pulumi.s4-oraclelinux7-everything-systemd.yaml")
    member = b.spec.etcd_nodes[0]
    assert handshake(b, tmp_path, client="admin", name="kubernetes.default").ok
    etcd = etcd_ca(f"etcd-server-{member.name}")
    h = handshake(b, tmp_path, **etcd, client="apiserver-etcd-client", name=member.internal_address)
    assert h.ok, h.client + h.server
    assert not handshake(b, tmp_path, client="apiserver-etcd-client").ok
