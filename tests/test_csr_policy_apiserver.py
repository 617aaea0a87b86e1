"""The approver and the bootstrap RBAC against a real kube-apiserver (and etcd) from the toolchain.

Proves what mocks cannot: our RBAC objects apply; a bootstrap token from our Secret may create a
CSR only once they exist, and not at all once it has expired; the approver's identity, with
exactly our ClusterRole, approves a node's first client certificate only from that node's own
token (a token stolen from another node gets nothing) and its kubelet-serving CSR with the real
kubectl's jsonpath output, leaves a bad one pending, and may not approve another signer's CSR.
Everything runs on 127.0.0.1 from a temp dir.
"""

from __future__ import annotations

import datetime
import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from render import bootstrap as bs
from render import csr_policy as cp
from render import node_pool as np
from render.kubeconfig import render_kubeconfig
from spec.model import NodeSpec, SshSpec
from tests.support.csr import TOKEN_IDS, allow_lists, cluster, dns, ip, request
from tests.support.tools import stop

pytestmark = pytest.mark.realtool

SSH = SshSpec("root", 22, None, None, None)
TOOLCHAIN = os.environ.get("K8SFS_TOOLCHAIN_DIR", "/var/cache/k8s-from-scratch/toolchain")


def tool(pattern: str) -> str | None:
    found = sorted(glob.glob(f"{TOOLCHAIN}/{pattern}"))
    return found[-1] if found else None


APISERVER = tool("kubernetes/*/linux-*/kube-apiserver")
KUBECTL = tool("kubernetes/*/linux-*/kubectl")
ETCD = tool("etcd/*/linux-*/etcd")
MISSING = [n for n, p in (("kube-apiserver", APISERVER), ("kubectl", KUBECTL), ("etcd", ETCD)) if p is None]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PEM = serialization.Encoding.PEM


def key_pem(key: Any) -> str:
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


class Ca:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(PEM).decode()

    def issue(self, cn: str, orgs: tuple[str, ...] = (), server_ip: str | None = None) -> tuple[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        subject = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([*subject, x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        if server_ip:
            builder = builder.add_extension(x509.SubjectAlternativeName([ip(server_ip)]), critical=False)
            usage = ExtendedKeyUsageOID.SERVER_AUTH
        else:
            usage = ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        return builder.sign(self.key, hashes.SHA256()).public_bytes(PEM).decode(), key_pem(key)


class Cluster:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.ca = Ca()
        self.port = free_port()
        self.server = f"https://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen[bytes]] = []

    def kubeconfig(self, name: str, cn: str, orgs: tuple[str, ...] = ()) -> Path:
        cert, key = self.ca.issue(cn, orgs)
        path = self.base / f"{name}.kubeconfig"
        path.write_text(
            render_kubeconfig("t", self.server, self.ca.pem, cn, client_cert_pem=cert, client_key_pem=key)
        )
        return path

    def token_kubeconfig(self, token: str) -> Path:
        path = self.base / "bootstrap.kubeconfig"
        path.write_text(render_kubeconfig("t", self.server, self.ca.pem, "kubelet-bootstrap", token=token))
        return path

    def start(self) -> None:
        b = self.base
        (b / "ca.crt").write_text(self.ca.pem)
        cert, key = self.ca.issue("kube-apiserver", server_ip="127.0.0.1")
        (b / "apiserver.crt").write_text(cert)
        (b / "apiserver.key").write_text(key)
        sa = ec.generate_private_key(ec.SECP256R1())
        (b / "sa.key").write_text(key_pem(sa))
        (b / "sa.pub").write_bytes(
            sa.public_key().public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        client, peer = free_port(), free_port()
        assert ETCD is not None and APISERVER is not None
        self._spawn(
            "etcd",
            [
                ETCD,
                f"--data-dir={b / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{client}",
                f"--advertise-client-urls=http://127.0.0.1:{client}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
            ],
        )
        self._spawn(
            "apiserver",
            [
                APISERVER,
                f"--etcd-servers=http://127.0.0.1:{client}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.port}",
                f"--tls-cert-file={b / 'apiserver.crt'}",
                f"--tls-private-key-file={b / 'apiserver.key'}",
                f"--client-ca-file={b / 'ca.crt'}",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={b / 'sa.pub'}",
                f"--service-account-signing-key-file={b / 'sa.key'}",
                "--service-cluster-ip-range=10.96.0.0/12",
                "--authorization-mode=Node,RBAC",
                "--enable-bootstrap-token-auth",
                "--enable-admission-plugins=NodeRestriction",
            ],
        )
        self.admin = self.kubeconfig("admin", "kubernetes-admin", ("system:masters",))
        deadline = time.monotonic() + 120
        while self.kubectl(self.admin, "get", "--raw", "/readyz", check=False).returncode != 0:
            for p in self.procs:
                assert p.poll() is None, (b / "apiserver.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (b / "apiserver.log").read_text()[-3000:]
            time.sleep(1)

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.base / f"{name}.log").open("wb")
        self.procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.base))

    def stop(self) -> None:
        for p in reversed(self.procs):
            stop(p, grace=20)

    def kubectl(
        self, kubeconfig: Path, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        assert KUBECTL is not None
        result = subprocess.run(
            [KUBECTL, f"--kubeconfig={kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check:
            assert result.returncode == 0, result.stderr
        return result


@pytest.fixture(scope="module")
def api() -> Iterator[Cluster]:
    if MISSING:
        pytest.skip(f"no {', '.join(MISSING)} in {TOOLCHAIN} (toolchain/build.sh kubernetes etcd)")
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    base = Path(tempfile.mkdtemp(prefix="k8sfs-api-"))
    c = Cluster(base)
    try:
        c.start()
        yield c
    finally:
        c.stop()
        shutil.rmtree(base, ignore_errors=True)


def csr_object(name: str, pem_b64: str, signer: str, usages: list[str]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {"request": pem_b64, "signerName": signer, "usages": usages},
        }
    )


W1_TOKEN = f"{TOKEN_IDS['w1']}.0123456789abcdef"
NEXT_YEAR = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=365)).strftime(
    "%Y-%m-%dT%H:%M:%SZ"
)


def add_token(api: Cluster, node: str, token: str, expiration: str = NEXT_YEAR) -> Path:
    token_id, secret = token.split(".")
    doc = bs.bootstrap_token_secret(node, token_id, secret, expiration)
    api.kubectl(api.admin, "apply", "-f", "-", stdin=yaml.safe_dump(doc))
    return api.token_kubeconfig(token)


def test_bootstrap_token_may_create_csrs_only_with_our_rbac(api: Cluster) -> None:
    bootstrap = add_token(api, "w1", W1_TOKEN)
    pem = request("system:node:w1", None)
    client_csr = csr_object(
        "node-csr-before", pem, "kubernetes.io/kube-apiserver-client-kubelet", ["client auth"]
    )
    before = api.kubectl(bootstrap, "create", "-f", "-", stdin=client_csr, check=False)
    assert before.returncode != 0 and "forbidden" in before.stderr.lower()

    # What Bootstrap and NodeJoin create: the namespace first, then RBAC and the allow lists.
    api.kubectl(api.admin, "apply", "-f", "-", stdin=yaml.safe_dump(bs.allow_namespace()))
    objects = "---\n".join(yaml.safe_dump(o) for o in [*bs.rbac_objects(), *allow_lists()])
    api.kubectl(api.admin, "apply", "-f", "-", stdin=objects)
    api.kubectl(
        api.admin, "apply", "-f", "-", stdin=yaml.safe_dump(bs.cluster_info_configmap(cluster(), api.ca.pem))
    )
    after = client_csr.replace("node-csr-before", "node-csr-after")
    deadline = time.monotonic() + 30  # RBAC caches settle within a second or two
    while api.kubectl(bootstrap, "create", "-f", "-", stdin=after, check=False).returncode != 0:
        assert time.monotonic() < deadline
        time.sleep(1)
    user = api.kubectl(api.admin, "get", "csr", "node-csr-after", "-o", "jsonpath={.spec.username}").stdout
    assert user == f"system:bootstrap:{TOKEN_IDS['w1']}"


def test_an_expired_token_is_refused(api: Cluster) -> None:
    yesterday = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    expired = add_token(api, "w6", f"{TOKEN_IDS['w6']}.fedcba9876543210", expiration=yesterday)
    result = api.kubectl(expired, "auth", "whoami", check=False)
    assert result.returncode != 0 and "unauthorized" in result.stderr.lower(), result


def apply_bootstrap_objects(api: Cluster) -> None:
    """What Bootstrap and NodeJoin create: the namespace first, then RBAC and the allow lists."""
    api.kubectl(api.admin, "apply", "-f", "-", stdin=yaml.safe_dump(bs.allow_namespace()))
    objects = "---\n".join(yaml.safe_dump(o) for o in [*bs.rbac_objects(), *allow_lists()])
    api.kubectl(api.admin, "apply", "-f", "-", stdin=objects)


def run_real_approver(api: Cluster) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One pass of the approver script with its own identity; retried while its RBAC settles."""
    approver_kubeconfig = api.kubeconfig("approver", "k8s-from-scratch:csr-approver")
    script = api.base / "approver.sh"
    assert KUBECTL is not None
    script.write_text(
        cp.approver_script(
            kubectl=KUBECTL, kubeconfig=str(approver_kubeconfig), ca_file=str(api.base / "ca.crt")
        )
    )
    deadline = time.monotonic() + 30
    while True:
        result = subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=120)
        if result.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert result.returncode == 0, result.stderr
    return approver_kubeconfig, result


def conditions(api: Cluster, name: str) -> str:
    return api.kubectl(api.admin, "get", "csr", name, "-o", "jsonpath={.status.conditions[*].type}").stdout


def test_a_token_gets_only_its_own_nodes_client_certificate(api: Cluster) -> None:
    apply_bootstrap_objects(api)
    stolen = add_token(api, "w1", W1_TOKEN)
    usages = ["digital signature", "client auth"]
    for name, node in (("client-w1", "w1"), ("client-stolen-for-cp1", "cp1")):
        doc = csr_object(name, request(f"system:node:{node}", None), cp.CLIENT_SIGNER, usages)
        deadline = time.monotonic() + 30
        while api.kubectl(stolen, "create", "-f", "-", stdin=doc, check=False).returncode != 0:
            assert time.monotonic() < deadline
            time.sleep(1)
    _, result = run_real_approver(api)
    assert "approved client-w1 from system:bootstrap:" in result.stdout, result.stdout
    assert f"token {TOKEN_IDS['w1']} is not cp1's" in result.stdout, result.stdout
    assert conditions(api, "client-w1") == "Approved"
    assert conditions(api, "client-stolen-for-cp1") == ""


def test_real_approver_approves_a_nodes_serving_csr_and_nothing_else(api: Cluster) -> None:
    apply_bootstrap_objects(api)
    node = api.kubeconfig("w1", "system:node:w1", ("system:nodes",))
    serving = ["digital signature", "key encipherment", "server auth"]
    good = request("system:node:w1", [dns("w1"), ip("192.168.10.21")])
    bad = request("system:node:w1", [dns("w1"), dns("evil.example.com")])
    api.kubectl(node, "create", "-f", "-", stdin=csr_object("serving-good", good, cp.SIGNER, serving))
    api.kubectl(node, "create", "-f", "-", stdin=csr_object("serving-bad", bad, cp.SIGNER, serving))
    client = csr_object("client-other-signer", good, "kubernetes.io/kube-apiserver-client", ["client auth"])
    api.kubectl(api.admin, "create", "-f", "-", stdin=client)

    approver_kubeconfig, result = run_real_approver(api)
    assert "approved serving-good from system:node:w1" in result.stdout
    assert "left pending serving-bad from system:node:w1: DNS evil.example.com" in result.stdout

    assert conditions(api, "serving-good") == "Approved"
    assert conditions(api, "serving-bad") == ""
    assert conditions(api, "client-other-signer") == ""
    # The approver's identity may not approve any other signer's requests.
    forbidden = api.kubectl(approver_kubeconfig, "certificate", "approve", "client-other-signer", check=False)
    assert forbidden.returncode != 0 and "forbidden" in forbidden.stderr.lower()
    assert conditions(api, "client-other-signer") == ""
    # Nor read anything but CSRs.
    secrets = api.kubectl(approver_kubeconfig, "get", "secrets", "-A", check=False)
    assert secrets.returncode != 0 and "forbidden" in secrets.stderr.lower()


def test_a_pool_node_leaving_is_forgotten_through_the_api(api: Cluster, tmp_path: Path) -> None:
    """A pool's destroy deletes its node's Node object with the cluster's admin credentials
    (render/node_pool.py: python3, the standard library, the credentials on stdin)."""
    node = NodeSpec("pool-1", "10.0.0.9", "10.0.0.9", frozenset({"worker"}), SSH, "amd64", "auto")
    api.kubectl(
        api.admin, "create", "-f", "-", stdin="apiVersion: v1\nkind: Node\nmetadata: {name: pool-1}\n"
    )
    credentials = np.api_credentials(api.admin.read_text())

    def forget(stdin: str) -> subprocess.CompletedProcess[str]:
        command = np.forget_node_command(node)
        return subprocess.run(["sh", "-c", command], input=stdin, capture_output=True, text=True, timeout=60)

    first = forget(credentials)
    assert first.returncode == 0 and "pool-1: Node object deleted" in first.stdout, first.stderr
    gone = api.kubectl(api.admin, "get", "node", "pool-1", check=False)
    assert gone.returncode != 0 and "not found" in gone.stderr.lower()
    again = forget(credentials)
    assert again.returncode == 0 and "already gone" in again.stdout, again.stderr
    # The key is in nothing it printed.
    assert "PRIVATE KEY" not in first.stdout + first.stderr + again.stdout + again.stderr
    # An API that does not answer does not stop a destroy.
    unreachable = json.loads(credentials) | {"server": f"https://127.0.0.1:{free_port()}"}
    down = forget(json.dumps(unreachable))
    assert down.returncode == 0 and "API unreachable, its Node object stays" in down.stderr
