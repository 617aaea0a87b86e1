"""`pulumi preview` under the real engine for every stack we ship (issue 13): each preset as a user
starts it (a new stack from the file, the SSH key set as a secret), no host contacted. The lab
stacks need their binary mirror built (the lab tier builds it first: `make e2e`).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.harness.program import load_stack_file, presets
from tests.harness.pulumi_cli import Stack, pulumi_cli

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("path", presets(), ids=lambda p: p.name)
def test_preview_of_every_shipped_stack_passes(path: Path, tmp_path: Path) -> None:
    cli = pulumi_cli()
    if cli is None:
        pytest.skip("no Pulumi CLI: toolchain/build.sh engine")
    name = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    stack = Stack(name, path, tmp_path, cli)
    raw, _ = load_stack_file(path)
    if not (raw.get("lab") or {}).get("enabled"):  # real hosts: the user's key, as the README says
        key = tmp_path / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        stack.config_set("ssh.privateKey", key.read_text(), secret=True)
    result, events, seconds = stack.engine("preview", "--json", label="preview")
    steps = json.loads(result.stdout)["steps"]
    assert steps and {s["op"] for s in steps} == {"create"}, {s["op"] for s in steps}
    assert not events.errors()
    print(f"\n[preview {name}] {len(steps)} resources in {seconds:.1f} s")
