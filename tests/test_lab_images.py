"""The cluster's images, built here (toolchain/images.sh), served by the lab's registry (lab.sh
registry-start) and pulled back by digest: every reference resolves from the registry, pause is a
static binary that runs, CoreDNS answers a query dig (from the agnhost image) sends it, flannel's
image has iptables/nftables/ipset that run, the CNI plugin image can do its init container's copy.

Needs root, Go and the Debian packages toolchain/images.sh installs. Builds the images when they
are missing (cached afterwards: seconds). Uses its own work dir, bridge (10.231.2.0/24) and
registry port, so a running dev lab is not touched; everything it starts it stops.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mockrun.program import REPO

pytestmark = pytest.mark.lab

LAB_SH = REPO / "lab" / "lab.sh"
IMAGES_SH = REPO / "toolchain" / "images.sh"
TOOLCHAIN = Path(os.environ.get("K8SFS_TOOLCHAIN_DIR", "/var/cache/k8s-from-scratch/toolchain"))
REGISTRY_VERSION = "v3.1.2"
CONTAINERD = TOOLCHAIN / "containerd" / "v2.3.7" / "linux-amd64"  # toolchain/build.sh containerd
WORK = Path("/var/lib/k8s-from-scratch-lab-images-test")
GATEWAY = "10.231.2.1"
PORT = "5001"
REGISTRY = f"{GATEWAY}:{PORT}"
ENV = {
    "K8SFS_LAB_WORK_DIR": str(WORK),
    "K8SFS_LAB_BASE_DIR": os.environ.get("K8SFS_LAB_BASE_DIR", "/var/lib/k8s-from-scratch-lab/base"),
    "K8SFS_LAB_BRIDGE": "br-k8sfs-img",
    "K8SFS_LAB_GATEWAY": f"{GATEWAY}/24",
    "K8SFS_LAB_REGISTRY_PORT": PORT,
}
IMAGES = {
    "pause": "registry.k8s.io/pause:3.10.1",
    "coredns": "registry.k8s.io/coredns/coredns:v1.15.0",
    "flannel": "ghcr.io/flannel-io/flannel:v0.28.10",
    "flannel-cni-plugin": "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel1",
    "agnhost": "registry.k8s.io/e2e-test-images/agnhost:2.52",
}


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(args), capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout
    )
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def lab_sh(*args: str) -> subprocess.CompletedProcess[str]:
    return run("bash", str(LAB_SH), *args, env=ENV)


def timed(label: str, *args: str, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    start = time.monotonic()
    out = run(*args, env=env, timeout=timeout).stdout
    print(f"\n[images timing] {label}: {time.monotonic() - start:.1f} s")
    return out


def repository(ref: str) -> str:
    """registry.k8s.io/coredns/coredns:v1.15.0 -> coredns/coredns (the mirror layout)."""
    return ref.split("/", 1)[1].rsplit(":", 1)[0]


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


@pytest.fixture(scope="module")
def built() -> dict[str, str]:
    """name -> manifest digest of every image toolchain/images.sh built (building what is missing)."""
    if os.geteuid() != 0:
        pytest.skip("building images (umoci unpack) and the lab's bridge need root")
    if shutil.which("go") is None:
        pytest.skip("go is not on PATH (the toolchain's Go)")
    timed("images.sh build (cached after the first build)", "bash", str(IMAGES_SH), "build", timeout=7200)
    listed = run("bash", str(IMAGES_SH), "list").stdout.split()
    assert listed == list(IMAGES.values())
    digests = {}
    for name, ref in IMAGES.items():
        folder = TOOLCHAIN / "images" / ref.rsplit(":", 1)[0] / ref.rsplit(":", 1)[1]
        assert (folder / "SHA256SUMS").is_file(), f"{name}: {folder} is incomplete"
        digests[name] = (folder / "digest").read_text().strip()
    return digests


@pytest.fixture(scope="module")
def registry(built: dict[str, str]) -> Iterator[str]:
    """The lab registry on a test bridge, stopped and removed with its bridge and data at the end."""
    binary_dir = TOOLCHAIN / "registry" / REGISTRY_VERSION / "linux-amd64"
    try:
        out = timed("registry-start", "bash", str(LAB_SH), "registry-start", str(binary_dir), env=ENV)
        assert out.strip() == REGISTRY
        # Idempotent: a second start finds it running.
        assert lab_sh("registry-start", str(binary_dir)).stdout.strip() == REGISTRY
        yield REGISTRY
    finally:
        subprocess.run(["bash", str(LAB_SH), "registry-stop"], env={**os.environ, **ENV}, capture_output=True)
        subprocess.run(["bash", str(LAB_SH), "network-down"], env={**os.environ, **ENV}, capture_output=True)
        still = port_open(GATEWAY, int(PORT)) if _bridge_exists() else False
        bridge = _bridge_exists()
        procs = subprocess.run(
            ["pgrep", "-f", f"registry serve {WORK}/run/registry.yml"], capture_output=True, text=True
        ).stdout.split()
        shutil.rmtree(WORK, ignore_errors=True)
        assert not procs, f"registry processes left: {procs}"
        assert not still, "the registry port still answers"
        assert not bridge, "the test bridge is still there"


def _bridge_exists() -> bool:
    return (
        subprocess.run(["ip", "link", "show", ENV["K8SFS_LAB_BRIDGE"]], capture_output=True).returncode == 0
    )


@pytest.fixture(scope="module")
def pushed(registry: str) -> dict[str, str]:
    """name -> the pushed reference by digest, as `images.sh push` prints it."""
    out = timed("images.sh push", "bash", str(IMAGES_SH), "push", registry)
    lines = out.split()
    assert len(lines) == len(IMAGES), out
    refs = {}
    for name, ref in IMAGES.items():
        want = f"{registry}/{repository(ref)}:{ref.rsplit(':', 1)[1]}@"
        found = [line for line in lines if line.startswith(want)]
        assert len(found) == 1, f"{name}: no line {want}... in\n{out}"
        refs[name] = found[0]
    return refs


@pytest.fixture(scope="module")
def pulled(pushed: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """name -> the root filesystem of the image pulled back from the registry by digest."""
    base = tmp_path_factory.mktemp("pulled")
    roots = {}
    try:
        for name, ref in pushed.items():
            layout = base / name / "oci"
            layout.parent.mkdir(parents=True)
            run(
                "skopeo",
                "--insecure-policy",
                "copy",
                "--quiet",
                "--src-tls-verify=false",
                f"docker://{by_digest(ref)}",
                f"oci:{layout}:pulled",
            )
            run("umoci", "unpack", "--image", f"{layout}:pulled", str(base / name / "bundle"))
            roots[name] = base / name / "bundle" / "rootfs"
        yield roots
    finally:
        shutil.rmtree(base, ignore_errors=True)


def skopeo_inspect(*args: str) -> str:
    return run("skopeo", "inspect", "--tls-verify=false", *args).stdout


def by_digest(pushed_ref: str) -> str:
    """HOST:PORT/path:tag@sha256:... -> HOST:PORT/path@sha256:... (skopeo takes one or the other)."""
    tagged, digest = pushed_ref.rsplit("@", 1)
    return tagged.rsplit(":", 1)[0] + "@" + digest


def image_config(ref: str) -> dict[str, object]:
    config: dict[str, object] = json.loads(skopeo_inspect("--config", f"docker://{by_digest(ref)}"))["config"]
    return config


def chroot(root: Path, *argv: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["chroot", str(root), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        input=input,
        env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
    )


# --------------------------------------------------------------------------- the registry


def test_push_prints_each_image_by_the_digest_it_built(built: dict[str, str], pushed: dict[str, str]) -> None:
    for name, ref in pushed.items():
        assert ref.endswith("@" + built[name]), (name, ref, built[name])


def test_every_reference_resolves_by_digest_from_the_registry(pushed: dict[str, str]) -> None:
    for name, ref in pushed.items():
        tagged, digest = ref.rsplit("@", 1)
        repo = tagged.rsplit(":", 1)[0]
        raw = skopeo_inspect("--raw", f"docker://{repo}@{digest}")
        assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == digest, name
        # The tag names the same manifest.
        assert json.loads(skopeo_inspect(f"docker://{tagged}"))["Digest"] == digest, name
        manifest = json.loads(raw)
        # umoci writes OCI manifests without the optional mediaType; the registry serves them as
        # OCI (test_registry_speaks_plain_http_as_a_node_pulls).
        assert manifest["schemaVersion"] == 2
        assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
        assert len(manifest["layers"]) == 1
        config = json.loads(skopeo_inspect("--config", f"docker://{repo}@{digest}"))
        assert (config["os"], config["architecture"]) == ("linux", "amd64"), name


def test_registry_speaks_plain_http_as_a_node_pulls(pushed: dict[str, str]) -> None:
    """What containerd does with a plain-HTTP mirror (hosts.toml): GET the manifest by digest."""
    ref = pushed["pause"]
    tagged, digest = ref.rsplit("@", 1)
    path = tagged.split("/", 1)[1].rsplit(":", 1)[0]
    out = run(
        "curl",
        "-fsS",
        "-D",
        "-",
        "-o",
        "/dev/null",
        "-H",
        "Accept: application/vnd.oci.image.manifest.v1+json",
        f"http://{REGISTRY}/v2/{path}/manifests/{digest}",
    ).stdout
    assert f"docker-content-digest: {digest}" in out.lower()
    assert "content-type: application/vnd.oci.image.manifest.v1+json" in out.lower()


def test_registry_start_is_idempotent_and_keeps_its_data_across_a_restart(
    registry: str, pushed: dict[str, str]
) -> None:
    binary_dir = TOOLCHAIN / "registry" / REGISTRY_VERSION / "linux-amd64"
    lab_sh("registry-stop")
    assert not port_open(GATEWAY, int(PORT))
    lab_sh("registry-stop")  # nothing to stop: still a success
    lab_sh("registry-start", str(binary_dir))
    tagged, digest = pushed["coredns"].rsplit("@", 1)
    assert json.loads(skopeo_inspect(f"docker://{tagged}"))["Digest"] == digest
    assert (
        WORK / "registry" / "docker" / "registry" / "v2" / "repositories" / "coredns" / "coredns"
    ).is_dir()


# --------------------------------------------------------------------------- the images


def elf_is_static(path: Path) -> bool:
    """No PT_INTERP program header: nothing to load at run time (64-bit little-endian ELF)."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, f"{path} is not an ELF64 LE file"
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    types = [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]
    return 3 not in types  # PT_INTERP


def test_pause_is_a_static_binary_that_runs(pushed: dict[str, str], pulled: dict[str, Path]) -> None:
    pause = pulled["pause"] / "pause"
    assert elf_is_static(pause)
    out = run(str(pause), "-v").stdout
    assert out.strip() == "pause.c v3.10.1"
    config = image_config(pushed["pause"])
    assert config["Entrypoint"] == ["/pause"]
    assert config["User"] == "65535:65535"
    # Nothing but the binary (and its folder).
    assert sorted(p.name for p in pulled["pause"].iterdir()) == ["pause"]


def test_coredns_is_1_15_0(pushed: dict[str, str], pulled: dict[str, Path]) -> None:
    out = run(str(pulled["coredns"] / "coredns"), "-version").stdout
    assert "CoreDNS-1.15.0" in out
    assert image_config(pushed["coredns"])["Entrypoint"] == ["/coredns"]


def test_flannel_has_iptables_nftables_and_ipset_that_run(
    pushed: dict[str, str], pulled: dict[str, Path]
) -> None:
    root = pulled["flannel"]
    assert image_config(pushed["flannel"])["Entrypoint"] == ["/opt/bin/flanneld"]
    for tool in (
        "iptables",
        "ip6tables",
        "iptables-save",
        "iptables-restore",
        "iptables-legacy",
        "nft",
        "ipset",
    ):
        assert (root / "usr" / "sbin" / tool).exists(), tool
    version = chroot(root, "iptables", "--version")
    assert version.returncode == 0 and "(nf_tables)" in version.stdout, version
    for argv in (
        ("ip6tables", "--version"),
        ("iptables-legacy", "--version"),
        ("nft", "--version"),
        ("ipset", "--version"),
    ):
        result = chroot(root, *argv)
        assert result.returncode == 0, (argv, result.stderr)
    flanneld = chroot(root, "/opt/bin/flanneld", "--version")
    assert "v0.28.10" in flanneld.stdout + flanneld.stderr, flanneld
    assert (root / "opt" / "bin" / "install-conf").is_file()  # the chart's install-cni init container
    # render/cni/flannel.py's install-cni init container: cp -f <config> /etc/cni/net.d/...
    (root / "etc" / "cni" / "net.d").mkdir(parents=True, exist_ok=True)
    copied = chroot(root, "cp", "-f", "/etc/nsswitch.conf", "/etc/cni/net.d/10-flannel.conflist")
    assert copied.returncode == 0, copied.stderr


def test_flannel_cni_plugin_image_does_its_init_containers_copy(
    pushed: dict[str, str], pulled: dict[str, Path]
) -> None:
    root = pulled["flannel-cni-plugin"]
    assert elf_is_static(root / "flannel")
    (root / "opt" / "cni" / "bin").mkdir(parents=True, exist_ok=True)
    # The chart's install-cni-plugin container: command cp, args -f /flannel /opt/cni/bin/flannel.
    copied = chroot(root, "cp", "-f", "/flannel", "/opt/cni/bin/flannel")
    assert copied.returncode == 0, copied.stderr
    assert (root / "opt/cni/bin/flannel").read_bytes() == (root / "flannel").read_bytes()
    version = subprocess.run(
        [str(root / "flannel")], env={"CNI_COMMAND": "VERSION"}, capture_output=True, text=True, timeout=30
    )
    assert '"cniVersion"' in version.stdout, version
    assert elf_is_static(Path(os.path.realpath(root / "bin" / "busybox")))


def test_agnhost_has_what_the_smoke_check_runs_and_dig_resolves_through_coredns(
    pushed: dict[str, str], pulled: dict[str, Path]
) -> None:
    """dig from the agnhost image asks CoreDNS from the CoreDNS image (on 127.0.0.1 only)."""
    agnhost = pulled["agnhost"]
    config = image_config(pushed["agnhost"])
    assert config["Entrypoint"] == ["/agnhost"]
    assert (agnhost / "agnhost").is_file()
    tools = chroot(
        agnhost,
        "/bin/sh",
        "-c",
        "command -v grep && command -v dig && command -v curl && command -v head && "
        "echo 'nameserver 10.96.0.10' | grep -qx 'nameserver 10.96.0.10' && /agnhost --help",
    )
    assert tools.returncode == 0, tools.stderr
    assert "netexec" in tools.stdout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        dns_port = s.getsockname()[1]
    corefile = pulled["coredns"].parent / "Corefile"
    hosts = "10.96.0.1 kubernetes.default.svc.cluster.local"
    corefile.write_text(f".:{dns_port} {{\n  bind 127.0.0.1\n  hosts {{\n    {hosts}\n  }}\n}}\n")
    coredns = subprocess.Popen(
        [str(pulled["coredns"] / "coredns"), "-conf", str(corefile)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        answer = ""
        for _ in range(50):
            dig = chroot(
                agnhost,
                "dig",
                "+short",
                "+time=1",
                "+tries=1",
                "-p",
                str(dns_port),
                "@127.0.0.1",
                "kubernetes.default.svc.cluster.local.",
                "A",
            )
            answer = dig.stdout.strip()
            if answer == "10.96.0.1" or coredns.poll() is not None:
                break
            time.sleep(0.4)  # CoreDNS still starting
        assert answer == "10.96.0.1", (answer, dig.stderr, coredns.poll())
    finally:
        coredns.terminate()
        coredns.wait(timeout=10)


def test_containerd_pulls_them_by_digest_over_plain_http_and_runs_them(
    pushed: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """What a lab node does: the toolchain's containerd pulls each image by digest from the plain
    HTTP registry and unpacks it (overlayfs); runc runs a command in three of them."""
    if not (CONTAINERD / "containerd").is_file():
        pytest.skip(f"no containerd in {CONTAINERD}: toolchain/build.sh containerd")
    if shutil.which("runc") is None:
        pytest.skip("runc is missing: apt-get install runc")
    tmp = tmp_path_factory.mktemp("containerd")
    root = Path("/var/tmp") / f"k8sfs-images-test-containerd-{os.getpid()}"  # overlayfs, not tmpfs
    sock = tmp / "containerd.sock"
    (tmp / "config.toml").write_text(
        f'version = 3\nroot = "{root}/root"\nstate = "{tmp}/state"\n[grpc]\n  address = "{sock}"\n'
    )
    env = {**os.environ, "PATH": f"{CONTAINERD}:{os.environ['PATH']}"}
    log = (tmp / "containerd.log").open("w")
    daemon = subprocess.Popen(
        [str(CONTAINERD / "containerd"), "--config", str(tmp / "config.toml")],
        stdout=log,
        stderr=log,
        env=env,
    )
    ctr = [str(CONTAINERD / "ctr"), "--address", str(sock)]
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.1)
        for ref in pushed.values():
            # (its exit status says it pulled; the progress text it prints is not stable output)
            run(*ctr, "images", "pull", "--plain-http", "--platform", "linux/amd64", by_digest(ref))
        listed = run(*ctr, "images", "ls", "-q").stdout.split()
        assert sorted(listed) == sorted(by_digest(ref) for ref in pushed.values())
        checks = {
            "pause": (["/pause", "-v"], "pause.c v3.10.1"),
            "coredns": (["/coredns", "-version"], "CoreDNS-1.15.0"),
            "flannel": (["/opt/bin/flanneld", "--version"], "v0.28.10"),
        }
        for name, (argv, want) in checks.items():
            result = subprocess.run(
                [*ctr, "run", "--rm", by_digest(pushed[name]), f"k8sfs-test-{name}", *argv],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
            )
            assert want in result.stdout + result.stderr, (name, result.stdout, result.stderr)
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
        log.close()
        with open("/proc/self/mounts") as handle:
            mounts = [line.split()[1] for line in handle if str(root) in line or str(tmp) in line]
        for mount in reversed(mounts):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
