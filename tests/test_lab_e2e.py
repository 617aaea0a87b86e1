"""End to end with the real Pulumi CLI: `pulumi up` the dev stack (the lab makes its hosts), the API
answers and every node registers, a second preview changes nothing, `pulumi destroy` leaves no lab
host, mirror or bridge behind.

Runs in a throw-away file backend with the repository's Pulumi.dev.yaml (a copy: `stack init`
writes an encryption salt). It uses the dev lab's addresses, so no dev lab may be running
(`make down` first). Pods pull no image here (no registry): nodes register, they need not be Ready.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab import mirror
from tests.harness.program import REPO

pytestmark = pytest.mark.lab

TOOLCHAIN = mirror.TOOLCHAIN_DIR
LAB_SH = REPO / "lab" / "lab.sh"


def pulumi_version() -> str:
    for line in (REPO / "toolchain" / "versions.env").read_text().splitlines():
        if "K8SFS_PULUMI_VERSION:=" in line:
            return line.split(":=", 1)[1].rstrip('}"')
    return ""


def pulumi_cli() -> Path | None:
    built = TOOLCHAIN / "pulumi" / pulumi_version() / "pulumi"
    if built.is_file():
        return built
    found = shutil.which("pulumi")
    return Path(found) if found else None


class Stack:
    def __init__(self, cli: Path, state: Path, config: Path) -> None:
        self.config = config
        self.env = {
            **os.environ,
            "PATH": f"{cli.parent}:{os.environ['PATH']}",
            "PULUMI_BACKEND_URL": f"file://{state}",
            "PULUMI_CONFIG_PASSPHRASE": "k8s-from-scratch-e2e",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        }

    def run(self, *args: str, check: bool = True, label: str = "") -> subprocess.CompletedProcess[str]:
        start = time.monotonic()
        result = subprocess.run(
            ["pulumi", *args, "--stack", "dev", "--config-file", str(self.config), "--non-interactive"],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if label:
            print(f"\n[e2e timing] {label}: {time.monotonic() - start:.1f} s")
        if check and result.returncode != 0:
            raise AssertionError(
                f"pulumi {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
            )
        return result


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, dict[str, Any]]]:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    cli = pulumi_cli()
    if cli is None:
        pytest.skip(f"no Pulumi CLI (toolchain/build.sh pulumi plugins builds it into {TOOLCHAIN}/pulumi)")
    if "Lab(" not in (REPO / "components" / "program.py").read_text():
        pytest.skip("components/program.py does not make the Lab yet")
    try:
        mirror.read_checksums(mirror.mirror_dir(mirror.spec_of_stack_file(REPO / "Pulumi.dev.yaml")))
    except (OSError, ValueError):
        pytest.skip("the lab mirror is not built (make lab-mirror)")
    status = subprocess.run(["bash", str(LAB_SH), "status"], capture_output=True, text=True).stdout
    if "host " in status:
        pytest.skip(f"a dev lab is running (make down first):\n{status}")
    tmp = tmp_path_factory.mktemp("e2e")
    config = tmp / "Pulumi.dev.yaml"
    shutil.copy(REPO / "Pulumi.dev.yaml", config)
    s = Stack(cli, tmp / "state", config)
    (tmp / "state").mkdir()
    subprocess.run(
        ["pulumi", "stack", "init", "dev", "--config-file", str(config), "--non-interactive"],
        cwd=REPO,
        env=s.env,
        check=True,
        capture_output=True,
    )
    try:
        s.run("up", "--yes", "--skip-preview", label="pulumi up (cold)")
        outputs = json.loads(s.run("stack", "output", "--json", "--show-secrets").stdout)
        yield s, outputs
    finally:
        s.run("destroy", "--yes", "--skip-preview", check=False, label="pulumi destroy")
        left = subprocess.run(["bash", str(LAB_SH), "status"], capture_output=True, text=True).stdout
        bridge = subprocess.run(["ip", "link", "show", "br-k8sfs"], capture_output=True).returncode
        assert "host " not in left and "pid " not in left, left
        assert bridge != 0, "the lab bridge is still there"


def kubectl(kubeconfig: Path, *args: str) -> str:
    binary = TOOLCHAIN / "kubernetes" / "v1.35.4" / "linux-amd64" / "kubectl"
    result = subprocess.run(
        [str(binary if binary.is_file() else "kubectl"), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_api_answers_and_every_node_registers(stack: tuple[Stack, dict[str, Any]], tmp_path: Path) -> None:
    _, outputs = stack
    spec = mirror.spec_of_stack_file(REPO / "Pulumi.dev.yaml")
    assert outputs["nodes"] == [n.name for n in spec.nodes]
    kubeconfig = tmp_path / "admin.conf"
    kubeconfig.write_text(outputs["adminKubeconfig"])
    assert kubectl(kubeconfig, "get", "--raw=/readyz").strip() == "ok"
    deadline = time.monotonic() + 300
    names: set[str] = set()
    while time.monotonic() < deadline:
        names = {
            line.removeprefix("node/") for line in kubectl(kubeconfig, "get", "nodes", "-o", "name").split()
        }
        if names >= {n.name for n in spec.kubelet_nodes}:
            break
        time.sleep(5)
    assert names == {n.name for n in spec.kubelet_nodes}


def test_second_run_changes_nothing(stack: tuple[Stack, dict[str, Any]]) -> None:
    s, _ = stack
    s.run("preview", "--expect-no-changes", label="pulumi preview (no changes expected)")
