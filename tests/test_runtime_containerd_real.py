"""A real containerd reads our rendered config and serves the CRI with our runtime handlers.

Debian bookworm's containerd (1.6.x, config version 2) always runs when installed; a containerd
2.x built by toolchain/build.sh runs too when present, with its own format (2.3: version 4) and
with the format of the pinned default (2.2: version 3). Root, state, sockets
and the opt dir live in a temp dir, so nothing on this machine is touched. The CRI status comes
from the CRI gRPC API itself (runtime.v1.RuntimeService/Status, verbose), read with a few
lines of protobuf wire decoding: no crictl needed.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from render import runtime as rt
from tests.support.specs import TWO_NODES, config_spec
from tests.support.tools import stop

pytestmark = pytest.mark.realtool

TOOLCHAIN = os.environ.get("K8SFS_TOOLCHAIN_DIR", "/var/cache/k8s-from-scratch/toolchain")


def containerd_binaries() -> list[str]:
    found = []
    debian = shutil.which("containerd")
    if debian:
        found.append(debian)
    found += sorted(glob.glob(f"{TOOLCHAIN}/containerd/*/linux-*/containerd"))
    return found


def version_of(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"\sv?(\d+\.\d+\.\d+)", out)
    assert match, out
    return match.group(1)


# --- a minimal CRI client: protobuf wire format by hand --------------------------------------------


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def _fields(data: bytes) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            length, i = _varint(data, i)
            value, i = data[i : i + length], i + length
        else:
            raise ValueError(f"unexpected wire type {wire}")
        out.append((number, value))
    return out


def cri_status_info(address: str) -> dict[str, str]:
    """StatusResponse.info (field 2, map<string,string>) of a verbose Status call."""
    import grpc  # type: ignore[import-untyped]

    with grpc.insecure_channel(f"unix://{address}") as channel:
        status = channel.unary_unary("/runtime.v1.RuntimeService/Status")
        response = status(b"\x08\x01", timeout=10)  # StatusRequest{verbose: true}
    info = {}
    for number, entry in _fields(response):
        if number == 2:
            kv = dict(_fields(entry))
            info[kv[1].decode()] = kv[2].decode()
    return info


# --- running containerd ----------------------------------------------------------------------------


@pytest.fixture
def workdir() -> Iterator[Path]:
    # Short path: unix socket paths are limited to 108 bytes.
    path = Path(tempfile.mkdtemp(prefix="k8sfs-ctd-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def layout(base: Path, version: str) -> rt.ContainerdLayout:
    runc = shutil.which("runc") or "/usr/sbin/runc"
    (base / "net.d").mkdir()
    return rt.ContainerdLayout(
        root=str(base / "root"),
        state=str(base / "state"),
        address=str(base / "c.sock"),
        cni_conf_dir=str(base / "net.d"),
        runc=runc,
        # containerd 1.x unpacks "opt" plugins under /opt/containerd by default; 2.x has no such plugin.
        opt_dir=str(base / "opt") if version.startswith("1.") else None,
    )


def find(doc: Any, key: str) -> Any:
    """The first value under `key` anywhere in a JSON document (the layout differs by version)."""
    if isinstance(doc, dict):
        if key in doc:
            return doc[key]
        doc = list(doc.values())
    if isinstance(doc, list):
        for item in doc:
            found = find(item, key)
            if found is not None:
                return found
    return None


def start(binary: str, config: Path, base: Path) -> subprocess.Popen[bytes]:
    log = (base / "containerd.log").open("wb")
    proc = subprocess.Popen([binary, "--config", str(config)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not (base / "c.sock").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("containerd did not start:\n" + (base / "containerd.log").read_text())
        time.sleep(0.2)
    return proc


def cases() -> list[tuple[str, str]]:
    """(binary, version whose format we render): each binary's own, and on a containerd 2.x also
    the pinned default version's format (2.2 -> config version 3, which 2.3 migrates)."""
    pinned = config_spec(TWO_NODES).versions.containerd
    out = []
    for binary in containerd_binaries():
        version = version_of(binary)
        out.append((binary, version))
        if version.split(".")[0] == pinned.split(".")[0] and version != pinned:
            out.append((binary, pinned))
    return out


CASES = cases()


@pytest.mark.skipif(not CASES, reason="no containerd (apt-get install containerd runc)")
@pytest.mark.parametrize(("binary", "render_as"), CASES, ids=[f"{b}-as-{v}" for b, v in CASES])
@pytest.mark.parametrize("kata", [False, True], ids=["runc", "runc+kata"])
def test_containerd_serves_cri_with_our_handlers(
    binary: str, render_as: str, kata: bool, workdir: Path
) -> None:
    version = version_of(binary)
    spec = config_spec(TWO_NODES, runtime={"name": "containerd", "kata": kata})
    where = layout(workdir, version)
    config = workdir / "config.toml"
    config.write_text(rt.render_containerd_config(spec, where, version=render_as))

    # `config dump` parses the file as containerd does and prints the merged result.
    dump = subprocess.run(
        [binary, "--config", str(config), "config", "dump"], capture_output=True, text=True, timeout=30
    )
    assert dump.returncode == 0, dump.stderr
    assert where.address in dump.stdout
    if render_as == version:
        assert "migrated" not in dump.stderr, f"not the native config format of {version}: {dump.stderr}"
    sandbox = [line for line in dump.stdout.splitlines() if "sandbox" in line and "pause" in line]
    assert sandbox and rt.pause_image(spec) in sandbox[0], dump.stdout

    proc = start(binary, config, workdir)
    try:
        ctr = shutil.which("ctr") if "toolchain" not in binary else str(Path(binary).parent / "ctr")
        if ctr:
            plugins = subprocess.run(
                [ctr, "--address", where.address, "plugins", "ls"], capture_output=True, text=True, timeout=30
            ).stdout
            cri = [line.split() for line in plugins.splitlines() if " cri " in f" {line} "]
            assert cri and cri[0][-1] == "ok", plugins
        info = cri_status_info(where.address)
        cri_config = json.loads(info["config"])
    finally:
        stop(proc, grace=15)

    runtimes = find(cri_config, "runtimes")
    assert find(cri_config, "defaultRuntimeName") == "runc"
    assert set(runtimes) == ({"runc", rt.KATA_HANDLER} if kata else {"runc"})
    assert runtimes["runc"]["runtimeType"] == "io.containerd.runc.v2"
    assert runtimes["runc"]["options"]["SystemdCgroup"] is True
    assert runtimes["runc"]["options"]["BinaryName"] == where.runc
    if kata:
        assert runtimes[rt.KATA_HANDLER]["runtimeType"] == "io.containerd.kata.v2"
        assert runtimes[rt.KATA_HANDLER]["runtimePath"] == rt.KATA_SHIM
    # 1.x reports its sandbox image in the runtime status; 2.x keeps it in the image service.
    assert find(cri_config, "sandboxImage") in (None, rt.pause_image(spec))
    # containerd brings up the pods' lo itself with the loopback plugin: no loopback conf file.
    networks = json.loads(info["cniconfig"]).get("Networks") or []
    assert [n for n in networks if n.get("IFName") == "lo" and "loopback" in json.dumps(n)], networks
    assert find(cri_config, "confDir") == where.cni_conf_dir
    bin_dirs = find(cri_config, "binDirs") or [find(cri_config, "binDir")]
    assert bin_dirs == [where.cni_bin_dir]
    # security.selinux: enforcing (the default) turns SELinux labelling on; on a host without
    # SELinux containerd says so and serves the CRI anyway: one config for every host.
    assert find(cri_config, "enableSelinux") is True
    if not Path("/sys/fs/selinux/enforce").exists():
        assert "Selinux is not supported" in (workdir / "containerd.log").read_text()
