"""A real three-member etcd cluster on localhost with the HA preset's etcd certificates.

Peer TLS with peer client-cert auth (each member's peer certificate is server and client),
client TLS with client-cert auth; the API server's etcd client and the health-check client get
in, a cluster-CA certificate does not. Uses the toolchain's etcd (toolchain/build.sh etcd) or
etcd/etcdctl on PATH (Debian: etcd-server, etcd-client). Ephemeral ports, bounded timeouts,
every member killed at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.pki import built, pem_files

pytestmark = pytest.mark.realtool

TOOLCHAIN = Path(os.environ.get("K8SFS_TOOLCHAIN_DIR", "/var/cache/k8s-from-scratch/toolchain"))


def binaries() -> tuple[str, str]:
    for found in sorted(TOOLCHAIN.glob("etcd/*/linux-*/etcd"), reverse=True):
        ctl = found.with_name("etcdctl")
        if ctl.exists():
            return str(found), str(ctl)
    etcd, etcdctl = shutil.which("etcd"), shutil.which("etcdctl")
    if etcd is None or etcdctl is None:
        pytest.skip(
            "etcd/etcdctl not found (toolchain/build.sh etcd, or apt-get install etcd-server etcd-client)"
        )
    return etcd, etcdctl


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    etcd, etcdctl = binaries()
    b = built("Pulumi.ha-calico.yaml")
    members = [n.name for n in b.spec.etcd_nodes]
    tmp = tmp_path_factory.mktemp("etcd")
    ca, _ = pem_files(b, tmp, "etcd-ca")
    ports = free_ports(2 * len(members))
    client = {m: ports[i] for i, m in enumerate(members)}
    peer = {m: ports[len(members) + i] for i, m in enumerate(members)}
    initial = ",".join(f"{m}=https://127.0.0.1:{peer[m]}" for m in members)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for m in members:
            cert, key = pem_files(b, tmp, f"etcd-server-{m}")
            pcert, pkey = pem_files(b, tmp, f"etcd-peer-{m}")
            log = (tmp / f"{m}.log").open("wb")
            procs.append(
                subprocess.Popen(
                    [
                        etcd,
                        f"--name={m}",
                        f"--data-dir={tmp / m}",
                        f"--listen-client-urls=https://127.0.0.1:{client[m]}",
                        f"--advertise-client-urls=https://127.0.0.1:{client[m]}",
                        f"--listen-peer-urls=https://127.0.0.1:{peer[m]}",
                        f"--initial-advertise-peer-urls=https://127.0.0.1:{peer[m]}",
                        f"--initial-cluster={initial}",
                        "--initial-cluster-state=new",
                        "--initial-cluster-token=pki-test",
                        f"--cert-file={cert}",
                        f"--key-file={key}",
                        "--client-cert-auth",
                        f"--trusted-ca-file={ca}",
                        f"--peer-cert-file={pcert}",
                        f"--peer-key-file={pkey}",
                        "--peer-client-cert-auth",
                        f"--peer-trusted-ca-file={ca}",
                        "--listen-metrics-urls=",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            )
        endpoints = ",".join(f"https://127.0.0.1:{client[m]}" for m in members)

        def ctl(cert_name: str, *args: str) -> subprocess.CompletedProcess[str]:
            cert, key = pem_files(b, tmp, cert_name)
            return subprocess.run(
                [
                    *(
                        etcdctl,
                        f"--endpoints={endpoints}",
                        f"--cacert={ca}",
                        f"--cert={cert}",
                        f"--key={key}",
                    ),
                    *("--command-timeout=5s", "--dial-timeout=3s", *args),
                ],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
                env={**os.environ, "ETCDCTL_API": "3"},
            )

        deadline = time.monotonic() + 60
        while True:
            health = ctl("etcd-healthcheck-client", "endpoint", "health")
            if health.returncode == 0:
                break
            dead = [p for p in procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                logs = "\n".join((tmp / f"{m}.log").read_text()[-3000:] for m in members)
                pytest.fail(f"etcd cluster did not become healthy:\n{health.stderr}\n{logs}")
            time.sleep(0.5)
        yield ctl, members
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)


def test_members_form_a_cluster_over_mutual_peer_tls(cluster) -> None:
    ctl, members = cluster
    listed = ctl("apiserver-etcd-client", "member", "list", "-w", "simple")
    assert listed.returncode == 0, listed.stderr
    assert sorted(line.split(", ")[2] for line in listed.stdout.splitlines()) == sorted(members)
    assert all(", started, " in line for line in listed.stdout.splitlines())


def test_the_apiserver_client_reads_and_writes(cluster) -> None:
    ctl, _ = cluster
    assert ctl("apiserver-etcd-client", "put", "/registry/pki-test", "ok").returncode == 0
    got = ctl("apiserver-etcd-client", "get", "/registry/pki-test", "--print-value-only")
    assert got.returncode == 0 and got.stdout.strip() == "ok", got.stderr


@pytest.mark.parametrize("outsider", ["admin", "front-proxy-client", "apiserver-kubelet-client"])
def test_certificates_of_other_cas_are_refused(cluster, outsider: str) -> None:
    ctl, _ = cluster
    result = ctl(outsider, "get", "/registry/pki-test")
    assert result.returncode != 0
    assert "ok" not in result.stdout
