"""etcd: rendered flags/unit, and a real 3-member cluster started from the rendered flags."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import ipaddress
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from components.pki import Pki
from render import etcd
from render.scripts import inline
from render.systemd import render_unit
from spec.model import ClusterSpec
from tests.support.specs import config_spec
from tests.support.wiring import build_members

REMOVED_ETCD_FLAGS = ("--enable-v2", "--experimental-enable-v2v3", "--logger=capnslog", "--ca-file")


def etcd_nodes(addresses: tuple[str, ...] = ("10.1.0.1", "10.1.0.2", "10.1.0.3")) -> list[dict[str, object]]:
    """Nodes e1, e2, ... at these addresses, each an etcd member and a control plane."""
    return [
        {"name": f"e{i + 1}", "address": a, "roles": ["etcd", "control-plane"]}
        for i, a in enumerate(addresses)
    ]


def test_flags_name_every_member_and_use_tls_everywhere() -> None:
    spec = config_spec(etcd_nodes())
    f = dict(etcd.flags(spec, spec.nodes[1]))
    assert f["initial-cluster"] == (
        "e1=https://10.1.0.1:2380,e2=https://10.1.0.2:2380,e3=https://10.1.0.3:2380"
    )
    assert f["initial-cluster-state"] == "new"
    assert f["listen-client-urls"] == "https://10.1.0.2:2379,https://127.0.0.1:2379"
    assert f["advertise-client-urls"] == "https://10.1.0.2:2379"
    assert f["listen-peer-urls"] == "https://10.1.0.2:2380"
    assert f["client-cert-auth"] == f["peer-client-cert-auth"] == "true"
    assert f["trusted-ca-file"] == f["peer-trusted-ca-file"] == "/etc/etcd/pki/ca.crt"
    assert f["tls-min-version"] == "TLS1.2"
    assert "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" in f["cipher-suites"]
    assert etcd.endpoints(spec) == "https://10.1.0.1:2379,https://10.1.0.2:2379,https://10.1.0.3:2379"


def test_flags_by_version_and_tls13() -> None:
    spec = config_spec(etcd_nodes())
    old = dict(etcd.flags(spec, spec.nodes[0], version="3.4.23"))
    assert "tls-min-version" not in old  # 3.4.23 does not know it
    assert dict(etcd.flags(spec, spec.nodes[0], version="3.5.21"))["tls-min-version"] == "TLS1.2"
    tls13 = config_spec(etcd_nodes(), security={"tlsMinVersion": "VersionTLS13"})
    f = dict(etcd.flags(tls13, tls13.nodes[0]))
    assert f["tls-min-version"] == "TLS1.3" and "cipher-suites" not in f


@pytest.mark.parametrize("version", ["3.4.23", "3.5.21", "3.6.15"])
def test_no_removed_etcd_flag_is_rendered(version: str) -> None:
    spec = config_spec(etcd_nodes())
    text = render_unit(etcd.unit(spec, spec.nodes[0], version))
    for flag in REMOVED_ETCD_FLAGS:
        assert flag not in text
    assert "--experimental" not in text  # deprecated in 3.6, removed in 3.7


def test_unit_runs_as_the_etcd_user_with_notify() -> None:
    spec = config_spec(etcd_nodes())
    text = etcd.unit_text(spec, spec.nodes[0])
    assert "User=etcd" in text and "Type=notify" in text
    assert "ExecStart=/usr/local/bin/etcd \\\n  --name=e1 \\\n" in text


def test_user_script_makes_a_private_data_dir() -> None:
    script = etcd.user_script()
    assert "chmod 0700 /var/lib/etcd" in script and "useradd --system" in script
    assert "userdel etcd" in etcd.remove_user_script() and "rm -rf /var/lib/etcd" in etcd.remove_user_script()


# --- a real cluster -------------------------------------------------------------------------


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclasses.dataclass
class Pair:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def write(self, cert_path: str, key_path: str) -> None:
        Path(cert_path).parent.mkdir(parents=True, exist_ok=True)
        Path(cert_path).write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        Path(key_path).write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        os.chmod(key_path, 0o600)


def _unsigned(
    cn: str, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, ca: bool
) -> x509.CertificateBuilder:
    """A certificate for `cn`, valid for a day, a CA or not, before the key usages are added."""
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )


def _ca(cn: str) -> Pair:
    key = _key()
    cert = (
        _unsigned(cn, _name(cn), key, ca=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    return Pair(cert, key)


def _leaf(ca: Pair, cn: str, server: bool, client: bool, sans: tuple[str, ...] = ()) -> Pair:
    """As the certificate table says: etcd server and peer certs are serverAuth + clientAuth."""
    key = _key()
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + (
        [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
    )
    builder = (
        _unsigned(cn, ca.cert.subject, key, ca=False)
        .add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    if sans:
        names: list[x509.GeneralName] = []
        for san in sans:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(san)))
            except ValueError:
                names.append(x509.DNSName(san))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return Pair(builder.sign(ca.key, hashes.SHA256()), key)


def _free(ip: str, port: int) -> bool:
    with socket.socket() as s:
        # Like etcd (Go listeners), ignore TIME_WAIT leftovers: only a real listener counts.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True


@dataclasses.dataclass
class Cluster:
    spec: ClusterSpec
    layouts: dict[str, etcd.EtcdLayout]
    procs: dict[str, subprocess.Popen[bytes]]
    client: Pair
    foreign_client: Pair
    ca_path: str
    tmp: Path

    def etcdctl(
        self, endpoint: str, *args: str, client: Pair | None = None
    ) -> subprocess.CompletedProcess[str]:
        pair = client or self.client
        cert, key = self.tmp / "cli.crt", self.tmp / "cli.key"
        pair.write(str(cert), str(key))
        cmd = [
            "etcdctl",
            f"--endpoints={endpoint}",
            f"--cacert={self.ca_path}",
            f"--cert={cert}",
            f"--key={key}",
            "--dial-timeout=3s",
            "--command-timeout=5s",
            *args,
        ]
        env = {**os.environ, "ETCDCTL_API": "3"}
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=30)


ADDRESSES = ("127.0.0.71", "127.0.0.72", "127.0.0.73")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    for tool in ("etcd", "etcdctl", "curl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install etcd-server etcd-client curl)")
    if not all(_free(ip, p) for ip in ADDRESSES for p in (2379, 2380)):
        pytest.skip("the loopback addresses for the test cluster are busy")
    version = subprocess.run(["etcd", "--version"], capture_output=True, text=True).stdout.split()[2]
    spec = config_spec(etcd_nodes(ADDRESSES))
    etcd_ca, other_ca = _ca("etcd-ca"), _ca("another-ca")
    layouts: dict[str, etcd.EtcdLayout] = {}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    health = _leaf(etcd_ca, "kube-etcd-healthcheck-client", server=False, client=True)
    for node in spec.etcd_nodes:
        layout = etcd.EtcdLayout(
            data_dir=str(tmp_path / node.name / "data"),
            pki_dir=str(tmp_path / node.name / "pki"),
            binary=shutil.which("etcd") or "etcd",
            local_listener=False,  # three members share this host's 127.0.0.1
            metrics_url=None,
        )
        layouts[node.name] = layout
        sans = (node.name, node.internal_address, "localhost", "127.0.0.1")
        _leaf(etcd_ca, node.name, True, True, sans).write(layout.server_cert, layout.server_key)
        _leaf(etcd_ca, node.name, True, True, sans).write(layout.peer_cert, layout.peer_key)
        health.write(layout.healthcheck_cert, layout.healthcheck_key)
        Path(layout.ca).write_bytes(etcd_ca.cert.public_bytes(serialization.Encoding.PEM))
        os.makedirs(layout.data_dir, mode=0o700)
        argv = etcd.unit(spec, node, version, layout).exec_start  # exactly what the unit runs
        log = open(tmp_path / f"{node.name}.log", "wb")  # noqa: SIM115 (closed with the process)
        procs[node.name] = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT)
    client = _leaf(etcd_ca, "kube-apiserver-etcd-client", server=False, client=True)
    foreign = _leaf(other_ca, "kube-apiserver-etcd-client", server=False, client=True)
    c = Cluster(spec, layouts, procs, client, foreign, layouts["e1"].ca, tmp_path)
    try:
        yield c
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait_healthy(c: Cluster, names: list[str], budget: float = 60) -> None:
    deadline = time.monotonic() + budget
    pending = list(names)
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            node = c.spec.node(name)
            check = etcd.health_check(c.layouts[name], etcd.client_url(node))
            if subprocess.run(["sh", "-c", check], timeout=20).returncode == 0:
                pending.remove(name)
        time.sleep(0.5)
    logs = {n: (c.tmp / f"{n}.log").read_text()[-2000:] for n in pending}
    assert not pending, f"members not healthy: {logs}"


@pytest.mark.realtool
def test_real_three_member_cluster_from_rendered_flags(cluster: Cluster) -> None:
    c = cluster
    _wait_healthy(c, ["e1", "e2", "e3"])
    url = {n.name: etcd.client_url(n) for n in c.spec.etcd_nodes}

    members = c.etcdctl(url["e1"], "member", "list")
    assert members.returncode == 0, members.stderr
    assert all(n in members.stdout for n in ("e1", "e2", "e3"))

    put = c.etcdctl(url["e1"], "put", "/registry/test", "hello")
    assert put.returncode == 0, put.stderr
    got = c.etcdctl(url["e3"], "get", "/registry/test", "--print-value-only")
    assert got.stdout.strip() == "hello"

    # A client certificate from another CA is refused at the TLS handshake.
    refused = c.etcdctl(url["e2"], "get", "/registry/test", client=c.foreign_client)
    assert refused.returncode != 0
    assert "hello" not in refused.stdout
    # So is a client without any certificate, over plain curl.
    no_cert = subprocess.run(
        ["curl", "-sS", "--max-time", "5", "--cacert", c.ca_path, f"{url['e2']}/health"],
        capture_output=True,
        text=True,
    )
    assert '"health":"true"' not in no_cert.stdout

    # Lose one member: the other two keep a quorum and keep answering.
    c.procs["e1"].terminate()
    c.procs["e1"].wait(timeout=10)
    _wait_healthy(c, ["e2", "e3"], budget=30)
    put2 = c.etcdctl(url["e2"], "put", "/registry/after", "still-here")
    assert put2.returncode == 0, put2.stderr
    got2 = c.etcdctl(url["e3"], "get", "/registry/after", "--print-value-only")
    assert got2.stdout.strip() == "still-here"
    dead = subprocess.run(["sh", "-c", etcd.health_check(c.layouts["e1"], url["e1"])], timeout=20)
    assert dead.returncode != 0  # the health check does tell a dead member apart


# --- the component under the mocks -----------------------------------------------------------


def test_etcd_member_graph_secrets_and_rolling_restart() -> None:
    from mockrun.program import run_function

    spec = config_spec(etcd_nodes())
    keys: list[str] = []

    def program() -> None:
        pki = Pki("pki", spec)
        pki.etcd_server["e1"].key_pem.apply(keys.append)
        build_members(spec, pki)

    graph = run_function(program)
    members = graph.of_type("k8s-from-scratch:index:EtcdMember")
    assert [m.name for m in members] == ["etcd-e1", "etcd-e2", "etcd-e3"]
    e1 = {r.name: r for r in graph.children(graph.named("etcd-e1"))}
    e2 = {r.name: r for r in graph.children(graph.named("etcd-e2"))}
    assert set(e1) == {"etcd-e1-user", "etcd-e1-files", "etcd-e1-service", "etcd-e1-health"}

    files = e1["etcd-e1-files"]
    assert "stdin" in files.secret_paths  # keys travel only on stdin, as secrets
    assert (
        "PRIVATE KEY" not in files.inputs["create"]
        and base64.b64encode(keys[0].encode()).decode() in files.inputs["stdin"]
    )
    assert "/etc/etcd/pki/server.key 0600 etcd:etcd" in files.inputs["create"]
    assert "/etc/systemd/system/etcd.service 0600 root:root" in files.inputs["create"]  # CIS 1.1.7
    assert "chmod 0700 /var/lib/etcd" in e1["etcd-e1-user"].inputs["create"]

    service = e1["etcd-e1-service"]
    assert "systemctl disable --now" in inline(service.inputs["delete"])
    assert "NO_BLOCK='yes'" in service.inputs["create"]
    assert files.urn in service.dependencies
    assert e1["etcd-e1-service"].urn in e2["etcd-e2-service"].dependencies  # one at a time
    assert service.urn in e1["etcd-e1-health"].dependencies
    host_children = [r.urn for r in graph.children(graph.named("host-e1"))]
    assert set(host_children) <= set(e1["etcd-e1-user"].dependencies)  # host prepared first


def test_changed_cert_changes_only_the_hash_in_the_service_command() -> None:
    import re

    from mockrun.program import run_function

    spec = config_spec(etcd_nodes())
    first = run_function(lambda: build_members(spec)).named("etcd-e1-service").inputs["create"]
    second_spec = dataclasses.replace(spec, cluster_name="other")  # changes the unit's text
    second = run_function(lambda: build_members(second_spec)).named("etcd-e1-service").inputs["create"]
    hash_of = re.compile(r"HASH='([0-9a-f]{64})'")
    assert hash_of.search(first) and hash_of.search(second)
    assert hash_of.search(first).group(1) != hash_of.search(second).group(1)  # type: ignore[union-attr]
    assert hash_of.sub("", first) == hash_of.sub("", second)
