"""Fake hosts and a fake cluster for the engine bench: what `pulumi up` reaches, on this machine.

One private network namespace per bench run (`k8sfs-ebench-<pid>`; the lab's are `k8sfs-lab-*`):
- every node address of the stack is put on its loopback, and one sshd listens on port 22 of all of
  them with a ForceCommand (`host_command`) that reads stdin and exits 0: every host step connects,
  authenticates with the stack's key, has its stdin read and succeeds (nothing runs, no host is
  touched); a NodeHost reading kube-proxy's kubeconfig from a control plane gets the stack's;
- the stack's API endpoint name resolves inside the namespace (`ip netns exec` bind-mounts
  /etc/netns/<name>/hosts over /etc/hosts) to a real etcd + kube-apiserver +
  kube-controller-manager from the toolchain, started once the stack's PKI exists (the API
  server serves the stack's own apiserver certificate and trusts its cluster CA, so the program's
  kubeconfigs work as is), with bench/fake_kubelet.py registering the nodes and starting pods, so
  that the Kubernetes provider's creates and awaits finish as on a healthy cluster. The
  controller-manager and the fake kubelet use the `admin_cert` they are given: the stack's
  super-admin (bench.engine.cluster_pki).

Every process is started by this module in the namespace and stopped by it (by process group,
then whatever `ip netns pids` still lists); the namespace and its /etc/netns folder are removed.
A site left behind by a killed run (its pid gone) is removed by the next one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from render import node_admission

REPO = Path(__file__).resolve().parents[1]
PREFIX = "k8sfs-ebench-"
SSHD = "/usr/sbin/sshd"
HOST_COMMAND = "host.sh"
KUBE_PROXY_FILE = "kube-proxy.kubeconfig"


class SiteError(RuntimeError):
    pass


def toolchain_dir() -> Path:
    return Path(os.environ.get("K8SFS_TOOLCHAIN_DIR", "/var/cache/k8s-from-scratch/toolchain"))


def versions() -> dict[str, str]:
    out = {}
    for line in (REPO / "toolchain" / "versions.env").read_text().splitlines():
        if ":=" in line and line.startswith(": "):
            key, _, value = line.removeprefix(': "${').partition(":=")
            out[key] = value.rstrip('}"')
    return out


def cluster_binaries() -> dict[str, Path]:
    """etcd, kube-apiserver and kube-controller-manager as toolchain/build.sh lays them out."""
    v = versions()
    kube = toolchain_dir() / "kubernetes" / v["K8SFS_KUBERNETES_VERSION"] / "linux-amd64"
    etcd = toolchain_dir() / "etcd" / v["K8SFS_ETCD_VERSION"] / "linux-amd64"
    return {
        "etcd": etcd / "etcd",
        "kube-apiserver": kube / "kube-apiserver",
        "kube-controller-manager": kube / "kube-controller-manager",
    }


def missing_tools() -> str | None:
    """Why the fake site cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespace, sshd on port 22)"
    for tool in (SSHD, shutil.which("ip"), shutil.which("ssh-keygen")):
        if not tool or not os.path.exists(tool):
            return "needs sshd, ssh-keygen and ip (openssh-server, openssh-client, iproute2)"
    absent = [str(p) for p in cluster_binaries().values() if not p.is_file()]
    return f"toolchain/build.sh has not built {', '.join(absent)}" if absent else None


def host_command(folder: Path) -> str:
    """What every fake host runs for every command: reads its stdin (a step's bundle) and runs
    nothing, but gives a NodeHost kube-proxy's kubeconfig when it reads it from a control plane
    (components/node_host.py checks it against the program's hash; the bench writes it into
    `folder` once the stack's PKI exists: FakeSite.set_kube_proxy_kubeconfig)."""
    read = node_admission.kube_proxy_kubeconfig().strip()
    return (
        "#!/bin/sh\n"
        'case "$SSH_ORIGINAL_COMMAND" in\n'
        f'  "{read}"*) cat >/dev/null; cat {folder / KUBE_PROXY_FILE} ;;\n'
        "  *) cat >/dev/null ;;\n"
        "esac\n"
    )


def sshd_config(folder: Path) -> str:
    """An sshd that accepts the stack's key as root on every address and runs nothing."""
    return (
        "Port 22\nListenAddress 0.0.0.0\n"
        f"HostKey {folder / 'host_key'}\nPidFile {folder / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nUseDNS no\n"
        # The engine opens one connection per step, --parallel of them at once (8 by default).
        "MaxStartups 1000\nMaxSessions 1000\n"
        # Every host step: its stdin read (the files bundle), then success. Nothing runs.
        f"ForceCommand {folder / HOST_COMMAND}\n"
        "LogLevel ERROR\n"
    )


def hosts_file(names: dict[str, str]) -> str:
    lines = ["127.0.0.1 localhost"] + [f"{address} {name}" for name, address in sorted(names.items())]
    return "\n".join(lines) + "\n"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _netns_pids(name: str) -> list[int]:
    done = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, check=False)
    return [int(p) for p in done.stdout.split() if p.isdigit()]


def _remove_netns(name: str) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = _netns_pids(name)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while pids and _netns_pids(name) and time.monotonic() < deadline:
            time.sleep(0.2)
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    shutil.rmtree(Path("/etc/netns") / name, ignore_errors=True)


def remove_stale_sites() -> list[str]:
    """Sites whose bench process is gone (killed before it cleaned up): removed."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    removed = []
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        owner = name.removeprefix(PREFIX)
        if name.startswith(PREFIX) and owner.isdigit() and not _alive(int(owner)):
            _remove_netns(name)
            removed.append(name)
    return removed


class FakeSite:
    """Use as a context manager; `run`/`popen` prefix commands to run inside the namespace."""

    def __init__(self, workdir: Path) -> None:
        self.name = f"{PREFIX}{os.getpid()}"
        self.workdir = workdir / "site"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: list[IO[bytes]] = []
        self.api_url: str | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> FakeSite:
        remove_stale_sites()
        if os.path.exists(f"/run/netns/{self.name}"):
            _remove_netns(self.name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True)
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True, capture_output=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for proc in reversed(list(self.procs.values())):
            self._stop(proc)
        self.procs.clear()
        for log in self.logs:
            log.close()
        self.logs.clear()
        _remove_netns(self.name)

    @staticmethod
    def _stop(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)

    # --- running things inside -----------------------------------------------------------------

    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def _start(self, label: str, command: Sequence[str], env: dict[str, str] | None = None) -> None:
        log = (self.workdir / f"{label}.log").open("wb")
        self.logs.append(log)
        self.procs[label] = subprocess.Popen(
            [*self.prefix(), *command],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped as one
            env=env,
        )

    def _check_running(self, label: str) -> None:
        proc = self.procs[label]
        if proc.poll() is not None:
            tail = (self.workdir / f"{label}.log").read_text(errors="replace")[-3000:]
            raise SiteError(f"{label} exited ({proc.returncode}):\n{tail}")

    def _wait_port(self, label: str, host: str, port: int, seconds: float = 60) -> None:
        probe = f"import socket; socket.create_connection(({host!r}, {port}), timeout=1).close()"
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._check_running(label)
            done = subprocess.run(
                [*self.prefix(), sys.executable, "-c", probe], capture_output=True, check=False
            )
            if done.returncode == 0:
                return
            time.sleep(0.3)
        raise SiteError(f"{label} does not listen on {host}:{port} after {seconds} s")

    # --- hosts ---------------------------------------------------------------------------------

    def add_addresses(self, addresses: Sequence[str]) -> None:
        """Each address on the namespace's loopback (a /32: exactly the stack's addresses)."""
        batch = "".join(f"address add {a}/32 dev lo\n" for a in dict.fromkeys(addresses))
        done = subprocess.run(
            ["ip", "-n", self.name, "-batch", "-"], input=batch, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SiteError(f"node addresses not put on the loopback: {done.stderr[-500:]}")

    def set_names(self, names: dict[str, str]) -> None:
        folder = Path("/etc/netns") / self.name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "hosts").write_text(hosts_file(names))

    def start_sshd(self, public_key: str) -> None:
        folder = self.workdir / "sshd"
        folder.mkdir(exist_ok=True)
        os.chmod(folder, 0o700)
        if not (folder / "host_key").exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "host_key")],
                check=True,
                capture_output=True,
            )
        (folder / "authorized_keys").write_text(public_key)
        (folder / HOST_COMMAND).write_text(host_command(folder))
        os.chmod(folder / HOST_COMMAND, 0o755)
        (folder / "sshd_config").write_text(sshd_config(folder))
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation folder
        self._start("sshd", [SSHD, "-D", "-e", "-f", str(folder / "sshd_config")])
        self._wait_port("sshd", "127.0.0.1", 22)

    def set_kube_proxy_kubeconfig(self, text: str) -> None:
        """What the fake control planes give a NodeHost that reads kube-proxy's kubeconfig."""
        (self.workdir / "sshd" / KUBE_PROXY_FILE).write_text(text)

    # --- cluster -------------------------------------------------------------------------------

    def start_cluster(
        self, pki: dict[str, str], api_host: str, api_port: int, service_cidr: str, nodes: Sequence[str]
    ) -> None:
        """etcd, kube-apiserver (serving `pki`'s apiserver certificate for `api_host:api_port`),
        kube-controller-manager and the fake kubelet. `pki`: ca, apiserver_cert, apiserver_key,
        sa_key, sa_pub, admin_cert, admin_key (PEM)."""
        folder = self.workdir / "cluster"
        folder.mkdir(exist_ok=True)
        os.chmod(folder, 0o700)
        for label, pem in pki.items():
            (folder / f"{label}.pem").write_text(pem)
        f = {label: str(folder / f"{label}.pem") for label in pki}
        bins = cluster_binaries()
        self._start(
            "etcd",
            [
                str(bins["etcd"]),
                f"--data-dir={folder / 'etcd'}",
                "--listen-client-urls=http://127.0.0.1:2379",
                "--advertise-client-urls=http://127.0.0.1:2379",
                "--listen-peer-urls=http://127.0.0.1:2380",
                "--unsafe-no-fsync",  # a throw-away store: nothing to keep across a crash
                "--log-level=warn",
            ],
        )
        self._wait_port("etcd", "127.0.0.1", 2379)
        self._start(
            "kube-apiserver",
            [
                str(bins["kube-apiserver"]),
                "--etcd-servers=http://127.0.0.1:2379",
                "--bind-address=0.0.0.0",
                f"--secure-port={api_port}",
                "--advertise-address=127.0.0.1",
                f"--tls-cert-file={f['apiserver_cert']}",
                f"--tls-private-key-file={f['apiserver_key']}",
                f"--client-ca-file={f['ca']}",
                f"--service-account-key-file={f['sa_pub']}",
                f"--service-account-signing-key-file={f['sa_key']}",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-cluster-ip-range={service_cidr}",
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",  # the CNI's DaemonSet is privileged
                f"--cert-dir={folder / 'certs'}",
                "--v=0",
            ],
        )
        self.api_url = f"https://{api_host}:{api_port}"
        self._wait_ready(f)
        kubeconfig = folder / "admin.kubeconfig"
        kubeconfig.write_text(admin_kubeconfig(self.api_url, f["ca"], f["admin_cert"], f["admin_key"]))
        self._start(
            "kube-controller-manager",
            [
                str(bins["kube-controller-manager"]),
                f"--kubeconfig={kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                # No kubelets to watch: nodes are never NotReady, their pods never evicted.
                "--controllers=*,-nodelifecycle",
                f"--service-account-private-key-file={f['sa_key']}",
                f"--root-ca-file={f['ca']}",
                "--v=0",
            ],
        )
        (folder / "nodes").write_text("\n".join(nodes) + "\n")
        self._start(
            "fake-kubelet",
            [
                sys.executable,
                "-m",
                "bench.fake_kubelet",
                f"--server={self.api_url}",
                f"--ca={f['ca']}",
                f"--cert={f['admin_cert']}",
                f"--key={f['admin_key']}",
                f"--nodes={folder / 'nodes'}",
            ],
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        time.sleep(1)
        for label in ("kube-controller-manager", "fake-kubelet"):
            self._check_running(label)

    def _wait_ready(self, f: dict[str, str], seconds: float = 90) -> None:
        """/readyz of the API server, asked from inside the namespace as the admin."""
        assert self.api_url is not None
        probe = (
            "import ssl, urllib.request, sys\n"
            f"c = ssl.create_default_context(cafile={f['ca']!r})\n"
            f"c.load_cert_chain({f['admin_cert']!r}, {f['admin_key']!r})\n"
            f"urllib.request.urlopen({self.api_url + '/readyz'!r}, context=c, timeout=3).read()\n"
        )
        deadline = time.monotonic() + seconds
        last = ""
        while time.monotonic() < deadline:
            self._check_running("kube-apiserver")
            done = subprocess.run(
                [*self.prefix(), sys.executable, "-c", probe], capture_output=True, text=True, check=False
            )
            if done.returncode == 0:
                return
            last = (done.stderr.strip().splitlines() or [""])[-1]
            time.sleep(0.5)
        raise SiteError(f"kube-apiserver not ready after {seconds} s: {last}")


def admin_kubeconfig(server: str, ca: str, cert: str, key: str) -> str:
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: bench\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\n"
        f"users:\n- name: admin\n  user:\n    client-certificate: {cert}\n    client-key: {key}\n"
        "contexts:\n- name: bench\n  context:\n    cluster: bench\n    user: admin\n"
        "current-context: bench\n"
    )
