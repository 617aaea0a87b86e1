"""`pulumi preview` under the real engine for every stack we ship (issue 13): each preset as a user
starts it (a new stack from the file, the SSH key set as a secret), no host contacted. The lab
stacks need their binary mirror built (the lab tier builds it first: `make e2e`). Nothing here
reaches the internet: the weave presets get their release manifest from a local file, as an
air-gapped site sets `cni.manifestUrl` (docs/air-gapped.md), in the shape of the real one.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from mockrun import k8s_mock
from mockrun.program import load_stack_file, presets
from spec import defaults as d
from tests.harness.pulumi_cli import Stack, pulumi_cli

pytestmark = pytest.mark.lab

# CNIs installed from an upstream release manifest: the shape of that manifest, and its version.
UPSTREAM_SHAPES = {
    "weave": (k8s_mock.WEAVE_SHAPE, d.DEFAULT_VERSIONS["weave"]),
    "canal": (k8s_mock.CANAL_SHAPE, d.DEFAULT_VERSIONS["calico"]),
}


@pytest.mark.parametrize("path", presets(), ids=lambda p: p.name)
def test_preview_of_every_shipped_stack_passes(path: Path, tmp_path: Path) -> None:
    cli = pulumi_cli()
    if cli is None:
        pytest.skip("no Pulumi CLI: toolchain/build.sh engine")
    name = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    stack = Stack(name, path, tmp_path, cli)
    raw, _ = load_stack_file(path)
    cni = raw.get("cni") or {}
    if cni.get("name") in UPSTREAM_SHAPES:
        manifest = tmp_path / f"{cni['name']}.yaml"
        version = raw.get("versions", {}).get("weave" if cni["name"] == "weave" else "calico")
        shape, default = UPSTREAM_SHAPES[cni["name"]]
        manifest.write_text(shape.replace("{version}", version or default))
        stack.config_set("cni.manifestUrl", str(manifest))
    if not (raw.get("lab") or {}).get("enabled"):  # real hosts: the user's key, as the README says
        key = tmp_path / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        stack.config_set("ssh.privateKey", key.read_text(), secret=True)
    result, events, seconds = stack.engine("preview", "--json", label="preview")
    steps = json.loads(result.stdout)["steps"]
    assert steps and {s["op"] for s in steps} == {"create"}, {s["op"] for s in steps}
    assert not events.errors()
    print(f"\n[preview {name}] {len(steps)} resources in {seconds:.1f} s")
