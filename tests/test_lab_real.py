"""The lab for real: two nspawn hosts on a test bridge, SSH into both, they reach each other and the
mirror, a pinned artifact installs from the mirror with the real install script, kubelet and
containerd start inside (when the toolchain built them), and destroy leaves nothing behind.

Needs root, systemd-nspawn (systemd-container), debootstrap and ssh; run with `-m lab -s` to see
the timings. Uses its own work dir, bridge (10.231.1.0/24) and mirror port, so a running dev lab
is not touched; the base rootfs cache is shared with the dev lab.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import mirror
from mockrun.program import REPO
from render import artifacts
from render.artifacts import install_script, remove_script
from render.scripts import inline
from spec.model import BinariesSpec
from spec.parse import parse

pytestmark = pytest.mark.lab

LAB_SH = REPO / "lab" / "lab.sh"
WORK = Path("/var/lib/k8s-from-scratch-lab-test")
ENV = {
    "K8SFS_LAB_WORK_DIR": str(WORK),
    "K8SFS_LAB_BASE_DIR": os.environ.get("K8SFS_LAB_BASE_DIR", "/var/lib/k8s-from-scratch-lab/base"),
    "K8SFS_LAB_BRIDGE": "br-k8sfs-test",
    "K8SFS_LAB_GATEWAY": "10.231.1.1/24",
    "K8SFS_LAB_MIRROR_PORT": "8089",
}
GATEWAY = "10.231.1.1"
HOSTS = {"t-lab-a": "10.231.1.11", "t-lab-b": "10.231.1.12"}
MIRROR_URL = f"http://{GATEWAY}:8089"
MACHINE_SYSCTLS = (
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "fs.inotify.max_user_watches",
    "fs.inotify.max_user_instances",
)
TOOLCHAIN = mirror.TOOLCHAIN_DIR


def lab_sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", str(LAB_SH), *args], capture_output=True, text=True, env={**os.environ, **ENV}, timeout=900
    )
    if check and result.returncode != 0:
        raise AssertionError(f"lab.sh {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def timed(label: str, *args: str) -> subprocess.CompletedProcess[str]:
    start = time.monotonic()
    result = lab_sh(*args)
    print(f"\n[lab timing] {label}: {time.monotonic() - start:.1f} s")
    return result


class Ssh:
    def __init__(self, key: Path) -> None:
        self.key = key

    def __call__(self, host: str, command: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "ssh",
                "-i",
                str(self.key),
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "ConnectTimeout=10",
                f"root@{HOSTS[host]}",
                command,
            ],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def ok(self, host: str, command: str, stdin: str | None = None) -> str:
        result = self(host, command, stdin)
        assert result.returncode == 0, f"{host}: {command}\n{result.stdout}\n{result.stderr}"
        return result.stdout


def sysctls() -> dict[str, str]:
    return {
        k: subprocess.run(["sysctl", "-n", k], capture_output=True, text=True).stdout.strip()
        for k in MACHINE_SYSCTLS
    }


def leftovers(name: str) -> list[str]:
    found = []
    if Path(f"/run/netns/k8sfs-lab-{name}").exists():
        found.append("netns")
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    veth = (
        "k8sfs"
        + subprocess.run(
            ["sh", "-c", f"printf %s {name} | sha256sum | cut -c1-8"], capture_output=True, text=True
        ).stdout.strip()
    )
    if f" {veth}@" in links or f" {veth}:" in links:
        found.append(f"veth {veth}")
    procs = subprocess.run(["pgrep", "-f", f"--machine={name} "], capture_output=True, text=True).stdout
    if procs.strip():
        found.append(f"nspawn processes {procs.split()}")
    if (WORK / "hosts" / name).exists():
        found.append("rootfs/host dir")
    if (WORK / "run" / f"{name}.pid").exists():
        found.append("pid file")
    if Path("/run/systemd/system").is_dir():
        state = subprocess.run(
            ["systemctl", "is-active", f"k8sfs-lab-{name}.service"], capture_output=True, text=True
        ).stdout.strip()
        if state in ("active", "activating", "deactivating"):
            found.append(f"unit {state}")
    for mount in Path("/sys/fs/cgroup").iterdir():
        if (mount / "k8sfs-lab" / name).exists():
            found.append(f"cgroup {mount.name}")
    with open("/proc/self/mountinfo") as handle:
        if str(WORK / "hosts" / name) in handle.read():
            found.append("mount")
    return found


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ssh]:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    for tool in ("systemd-nspawn", "debootstrap", "ssh", "ssh-keygen", "ip"):
        if shutil.which(tool) is None:
            pytest.skip(
                f"{tool} is missing: apt-get install systemd-container debootstrap openssh-client iproute2"
            )
    tmp = tmp_path_factory.mktemp("lab")
    key = tmp / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    before = sysctls()
    served = tmp / "mirror"
    served.mkdir()
    (served / "hello.txt").write_text("from the lab mirror\n")
    created: list[str] = []
    try:
        timed("base rootfs (cached after the first build)", "base")
        for name, ip in HOSTS.items():
            out = timed(f"create {name}", "create", name, ip, key.with_suffix(".pub").read_text().strip())
            created.append(name)
            assert out.stdout.strip().startswith("ssh-ed25519 ")  # its host key, for pinning
        timed("mirror-start", "mirror-start", str(served))
        yield Ssh(key)
    finally:
        for name in created:
            timed(f"destroy {name}", "destroy", name)
            lab_sh("destroy", name)  # idempotent: nothing left to do, still a success
        lab_sh("mirror-stop", check=False)
        lab_sh("network-down", check=False)
        problems = {name: leftovers(name) for name in HOSTS}
        bridge = subprocess.run(["ip", "link", "show", ENV["K8SFS_LAB_BRIDGE"]], capture_output=True)
        after = sysctls()
        shutil.rmtree(WORK / "mirror-test", ignore_errors=True)
        assert all(not p for p in problems.values()), f"left behind: {problems}"
        assert bridge.returncode != 0, "the test bridge is still there"
        assert after == before, f"kernel settings not restored: {before} -> {after}"
        shutil.rmtree(WORK)


def test_hosts_boot_systemd_and_accept_our_key(lab: Ssh) -> None:
    for name in HOSTS:
        out = lab.ok(
            name, "hostname; whoami; systemctl is-system-running || true; systemd-detect-virt || true"
        )
        hostname, user, state, virt = out.split()
        assert (hostname, user, virt) == (name, "root", "systemd-nspawn")
        assert state in ("running", "degraded")


def test_hosts_reach_each_other_and_the_mirror(lab: Ssh) -> None:
    a, b = HOSTS
    assert "1 received" in lab.ok(a, f"ping -c1 -W3 {HOSTS[b]}")
    assert "1 received" in lab.ok(b, f"ping -c1 -W3 {HOSTS[a]}")
    lab.ok(a, f"timeout 5 bash -c 'exec 3<>/dev/tcp/{HOSTS[b]}/22'")
    for name in HOSTS:
        lab.ok(name, f"curl -fsS -o /dev/null {MIRROR_URL}/")  # the mirror (whichever folder it serves)


def test_hosts_have_no_route_off_the_lab(lab: Ssh) -> None:
    # Only the bridge is reachable: no NAT, no forwarding to the machine's other networks.
    result = lab(next(iter(HOSTS)), "ip route get 1.1.1.1; timeout 3 bash -c 'exec 3<>/dev/tcp/1.1.1.1/443'")
    assert result.returncode != 0


def test_artifact_installs_from_the_mirror_with_its_checksum(lab: Ssh, tmp_path: Path) -> None:
    """The real install script, rendered for a lab spec fed by the mirror's checksums."""
    toolchain = tmp_path / "tc"
    folder = toolchain / "etcd" / "v3.6.16" / "linux-amd64"
    folder.mkdir(parents=True)
    for binary in ("etcd", "etcdctl", "etcdutl"):
        (folder / binary).write_text(f"#!/bin/sh\necho lab-{binary}\n")
    artifact = artifacts.artifact("etcd", "3.6.16", "amd64")
    served = WORK / "mirror-test"
    checksum = mirror.build_artifact(artifact, [toolchain], served)
    lab_sh("mirror-start", str(served))
    # Parsed only: this test wires the binaries itself (load_spec would want the whole mirror).
    spec, _ = parse({"lab": {"enabled": True}, "versions": {"etcd": "3.6.16"}}, "dev")
    spec = dataclasses.replace(
        spec, binaries=BinariesSpec(base_url=MIRROR_URL, checksums={artifact.key: checksum})
    )
    host = next(iter(HOSTS))
    out = lab.ok(host, "sh -s", inline(install_script(spec, artifact)))
    assert "etcd 3.6.16: installed" in out
    assert lab.ok(host, "/usr/local/bin/etcdctl") == "lab-etcdctl\n"
    assert "already installed" in lab.ok(host, "sh -s", inline(install_script(spec, artifact)))
    # A mirror file that does not match the pinned checksum is refused.
    bad = dataclasses.replace(
        spec, binaries=BinariesSpec(base_url=MIRROR_URL, checksums={artifact.key: "sha256:" + "0" * 64})
    )
    lab.ok(host, "sh -s", inline(remove_script(artifact)))
    refused = lab(host, "sh -s", inline(install_script(bad, artifact)))
    assert refused.returncode != 0 and "refusing to install" in refused.stderr
    lab.ok(host, "test ! -e /usr/local/bin/etcdctl")


def test_kernel_interfaces_kubernetes_needs_are_writable(lab: Ssh) -> None:
    host = next(iter(HOSTS))
    lab.ok(host, "sysctl -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1")
    # Machine-wide, like host preparation's: the lab restores it when the bridge goes (fixture).
    lab.ok(host, "sysctl -w fs.inotify.max_user_instances=8192")
    lab.ok(host, "test -r /dev/kmsg")
    if lab.ok(host, "stat -fc %T /sys/fs/cgroup").strip() == "cgroup2fs":
        lab.ok(host, "mkdir /sys/fs/cgroup/k8sfs-probe && rmdir /sys/fs/cgroup/k8sfs-probe")
    else:
        for controller in ("memory", "cpu", "pids", "cpuset"):
            lab.ok(
                host, f"mkdir /sys/fs/cgroup/{controller}/probe && rmdir /sys/fs/cgroup/{controller}/probe"
            )
        # Each host sees its own cgroup subtree as the root (kubelets must not share kubepods).
        assert lab.ok(host, "cat /proc/self/cgroup | grep memory").strip().endswith(":/")
    # iptables works in the host's own network namespace.
    lab.ok(host, "iptables -w -N K8SFS-PROBE && iptables -w -X K8SFS-PROBE")


def test_containerd_and_kubelet_run_inside_a_host(lab: Ssh) -> None:
    """Everything the cluster needs from a node that pulls no image: containerd's CRI and overlayfs
    snapshotter, kubelet's container manager on cgroup v1 (failCgroupV1: false) with kubepods."""
    k8s = TOOLCHAIN / "kubernetes" / "v1.35.4" / "linux-amd64"
    ctr = TOOLCHAIN / "containerd" / "v2.3.7" / "linux-amd64"
    if not (k8s / "kubelet").is_file() or not (ctr / "containerd").is_file():
        pytest.skip(
            f"kubelet/containerd are not built in {TOOLCHAIN} (toolchain/build.sh kubernetes containerd)"
        )
    host = next(iter(HOSTS))
    root = WORK / "hosts" / host / "rootfs"
    for source in (k8s / "kubelet", ctr / "containerd", ctr / "containerd-shim-runc-v2", ctr / "ctr"):
        shutil.copy2(source, root / "usr/local/bin" / source.name)
    setup = r"""
set -e
mkdir -p /etc/containerd /var/lib/kubelet
cat >/etc/containerd/config.toml <<'EOF'
version = 3
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  SystemdCgroup = true
EOF
cat >/var/lib/kubelet/config.yaml <<'EOF'
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
failCgroupV1: false
authentication: {anonymous: {enabled: false}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
EOF
systemd-run --unit=containerd --property=Delegate=yes --property=KillMode=process /usr/local/bin/containerd
for i in $(seq 30); do ctr version >/dev/null 2>&1 && break; sleep 1; done
systemd-run --unit=kubelet /usr/local/bin/kubelet --config=/var/lib/kubelet/config.yaml
for i in $(seq 60); do curl -fsS http://127.0.0.1:10248/healthz 2>/dev/null && exit 0; sleep 1; done
journalctl -u kubelet --no-pager | tail -30 >&2
exit 1
"""
    assert lab.ok(host, "bash -s", setup) == "ok"
    plugins = lab.ok(host, "ctr plugins ls")
    assert any(
        line.split()[1:2] == ["overlayfs"] and line.split()[-1] == "ok" for line in plugins.splitlines()
    )
    assert any(line.split()[1:2] == ["cri"] and line.split()[-1] == "ok" for line in plugins.splitlines())
    lab.ok(host, "systemctl is-active kubelet containerd")
    if lab.ok(host, "stat -fc %T /sys/fs/cgroup").strip() != "cgroup2fs":
        lab.ok(host, "test -d /sys/fs/cgroup/memory/kubepods.slice")
    lab.ok(host, "systemctl stop kubelet containerd")


def crash(name: str) -> None:
    """What a reboot leaves: no host processes, no overlay mount, no network namespace."""
    if Path("/run/systemd/system").is_dir():
        subprocess.run(["systemctl", "kill", "-s", "KILL", f"k8sfs-lab-{name}.service"], check=True)
    else:
        pid = (WORK / "run" / f"{name}.pid").read_text().strip()
        subprocess.run(["kill", "-KILL", pid], check=True)
        for procs in Path("/sys/fs/cgroup/pids/k8sfs-lab", name).rglob("cgroup.procs"):
            for p in procs.read_text().split():
                subprocess.run(["kill", "-KILL", p], check=False)
    time.sleep(1)
    subprocess.run(["umount", str(WORK / "hosts" / name / "rootfs")], check=False)
    subprocess.run(["ip", "netns", "del", f"k8sfs-lab-{name}"], check=False)


def test_revive_boots_a_crashed_host_again_with_its_state(lab: Ssh) -> None:
    name = list(HOSTS)[1]
    lab.ok(name, "echo kept > /root/state-marker")
    crash(name)
    assert lab(name, "true").returncode != 0
    assert "stopped" in lab_sh("status").stdout
    timed(f"revive {name}", "revive")
    assert lab.ok(name, "cat /root/state-marker; systemctl is-system-running || true").split()[0] == "kept"
    lab.ok(name, f"curl -fsS -o /dev/null {MIRROR_URL}/")  # the mirror (whichever folder it serves)
