"""Certificate renewal against the real Pulumi engine and pulumi-tls provider (docs/pki.md).

Answers two questions with a throwaway stack on a local file backend:
1. Does pulumi-tls plan the replacement of a certificate inside its early-renewal window on a
   plain `pulumi preview` / `pulumi up` (no refresh)? pulumi-tls#39 says it did not (SDKv2 era);
   the plugin-framework provider checks in ModifyPlan, which the bridge's Diff calls.
2. Does the engine replace a certificate whose `replacement_trigger` changed? Pki relies on it
   to re-issue leaves whatever the answer to 1 is.
Needs the `pulumi` CLI and pulumi-language-python (toolchain/build.sh pulumi, or on PATH) and the
tls plugin installed (toolchain/build.sh plugins); skipped otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest

from mockrun.program import REPO
from tests.harness.pulumi_cli import pulumi_cli

pytestmark = pytest.mark.realtool

TLS_VERSION = version("pulumi-tls")  # the plugin must be the SDK's version

PROGRAM = """
import os

import pulumi
import pulumi_tls as tls

key = tls.PrivateKey("ca-key", algorithm="ECDSA", ecdsa_curve="P256")
ca = tls.SelfSignedCert(
    "ca",
    private_key_pem=key.private_key_pem,
    subject=tls.SelfSignedCertSubjectArgs(common_name="renewal-probe"),
    is_ca_certificate=True,
    allowed_uses=["cert_signing", "crl_signing"],
    validity_period_hours=48,
)
leaf_key = tls.PrivateKey("leaf-key", algorithm="ECDSA", ecdsa_curve="P256")
csr = tls.CertRequest(
    "leaf-csr",
    private_key_pem=leaf_key.private_key_pem,
    subject=tls.CertRequestSubjectArgs(common_name="leaf"),
)
for name in ("native", "triggered"):
    tls.LocallySignedCert(
        name,
        cert_request_pem=csr.cert_request_pem,
        ca_cert_pem=ca.cert_pem,
        ca_private_key_pem=key.private_key_pem,
        allowed_uses=["digital_signature", "client_auth"],
        validity_period_hours=int(os.environ["PROBE_VALIDITY_HOURS"]),
        early_renewal_hours=int(os.environ["PROBE_EARLY_HOURS"]) if name == "native" else 0,
        opts=pulumi.ResourceOptions(
            replacement_trigger=os.environ["PROBE_GENERATION"] if name == "triggered" else None
        ),
    )
"""


def cli_and_bindir() -> tuple[str, str]:
    """The CLI and the directory holding pulumi-language-python."""
    found = pulumi_cli()
    if found is None:
        pytest.skip("no pulumi CLI (toolchain/build.sh engine)")
    cli = str(found)
    bindir = str(found.parent)
    if (
        not (Path(bindir) / "pulumi-language-python").exists()
        and shutil.which("pulumi-language-python") is None
    ):
        pytest.skip("no pulumi-language-python next to the CLI or on PATH")
    home = Path(os.environ.get("PULUMI_HOME", Path.home() / ".pulumi"))
    if not (home / "plugins" / f"resource-tls-v{TLS_VERSION}").is_dir():
        pytest.skip(f"pulumi-resource-tls v{TLS_VERSION} is not installed (toolchain/build.sh plugins)")
    return cli, bindir


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.cli, bindir = cli_and_bindir()
        self.dir = tmp / "project"
        self.dir.mkdir()
        (tmp / "state").mkdir()
        venv = REPO / ".venv"
        (self.dir / "Pulumi.yaml").write_text(
            f"name: renewal-probe\nruntime:\n  name: python\n  options:\n    virtualenv: {venv}\n"
        )
        (self.dir / "__main__.py").write_text(PROGRAM)
        self.env = {
            **os.environ,
            "PATH": f"{bindir}:{os.environ['PATH']}",
            "PULUMI_BACKEND_URL": f"file://{tmp / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": "renewal-probe",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
        }
        self.run("stack", "init", "probe")

    def run(self, *args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
        result = subprocess.run(
            [self.cli, *args, "--non-interactive"],
            cwd=self.dir,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f"pulumi {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def preview_ops(self, env: dict[str, str]) -> dict[str, str]:
        """URN name -> planned operation ("same" for a resource the preview does not list: the
        engine's JSON leaves unchanged resources out)."""
        steps = json.loads(self.run("preview", "--json", env=env)).get("steps", [])
        ops = {name: "same" for name in ("native", "triggered")}
        return {**ops, **{s["urn"].rsplit("::", 1)[1]: s["op"] for s in steps}}


def probe_env(validity: int, early: int, generation: str) -> dict[str, str]:
    return {
        "PROBE_VALIDITY_HOURS": str(validity),
        "PROBE_EARLY_HOURS": str(early),
        "PROBE_GENERATION": generation,
    }


def test_renewal_without_refresh(tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    # A 2-hour certificate with a 3-hour early-renewal window is due the moment it exists.
    due = probe_env(validity=2, early=3, generation="renewal-0")
    stack.run("up", "--yes", "--skip-preview", env=due)
    ops = stack.preview_ops(due)
    # 1. The provider's own check, at plan time, without refresh.
    assert ops["native"] in ("replace", "create-replacement"), ops
    # Outside the window nothing moves.
    assert ops["triggered"] == "same", ops
    # 2. A new trigger value replaces the certificate.
    ops = stack.preview_ops(probe_env(validity=2, early=3, generation="renewal-1"))
    assert ops["triggered"] in ("replace", "create-replacement"), ops
    stack.run("destroy", "--yes", "--skip-preview", env=due)
