"""render/kubeconfig.py: structure, golden output, and kubectl reading the Pki's kubeconfigs.

UPDATE_GOLDEN=1 rewrites tests/golden/pki/*.yaml from the current rendering.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from render.kubeconfig import kubeconfig_dict, render_kubeconfig
from tests.support import golden
from tests.support.pki import built

GOLDEN = golden.GOLDEN / "pki"
CA = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"
CERT = "-----BEGIN CERTIFICATE-----\nLEAF\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN EC PRIVATE KEY-----\nKEY\n-----END EC PRIVATE KEY-----\n"

CASES = {
    "admin.kubeconfig.yaml": lambda: render_kubeconfig(
        "prod",
        "https://api.example.com:6443",
        CA,
        "kubernetes-admin",
        client_cert_pem=CERT,
        client_key_pem=KEY,
    ),
    "bootstrap.kubeconfig.yaml": lambda: render_kubeconfig(
        "prod", "https://10.0.0.10:6443", CA, "kubelet-bootstrap", token="abcdef.0123456789abcdef"
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    rendered = CASES[name]()
    golden.assert_golden(GOLDEN / name, rendered)


def test_credentials_are_embedded_base64_pems() -> None:
    doc = kubeconfig_dict("c", "https://s:6443", CA, "u", client_cert_pem=CERT, client_key_pem=KEY)
    user = doc["users"][0]["user"]
    assert base64.b64decode(user["client-certificate-data"]).decode() == CERT
    assert base64.b64decode(user["client-key-data"]).decode() == KEY
    assert base64.b64decode(doc["clusters"][0]["cluster"]["certificate-authority-data"]).decode() == CA
    assert doc["current-context"] == "u@c"


@pytest.mark.parametrize(
    "creds",
    [
        {},
        {"client_cert_pem": CERT},
        {"client_key_pem": KEY},
        {"client_cert_pem": CERT, "client_key_pem": KEY, "token": "t"},
    ],
)
def test_exactly_one_kind_of_credential(creds: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="either"):
        kubeconfig_dict("c", "https://s:6443", CA, "u", **creds)


def test_names_with_colons_stay_strings() -> None:
    text = render_kubeconfig(
        "c", "https://s:6443", CA, "system:kube-proxy", client_cert_pem=CERT, client_key_pem=KEY
    )
    doc = yaml.safe_load(text)
    assert doc["users"][0]["name"] == "system:kube-proxy"
    assert doc["contexts"][0]["name"] == "system:kube-proxy@c"


@pytest.mark.realtool
@pytest.mark.parametrize(
    "name", ["admin", "super-admin", "controller-manager", "scheduler", "kube-proxy", "csr-approver"]
)
def test_kubectl_reads_every_kubeconfig(name: str, tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (the toolchain builds it; apt: kubectl from pkgs.k8s.io)")
    b = built("Pulumi.ha-calico.yaml")
    path = tmp_path / "config"
    path.write_text(b.kubeconfigs[name])
    path.chmod(0o600)
    out = subprocess.run(
        [kubectl, "--kubeconfig", str(path), "config", "view", "--raw", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    doc = yaml.safe_load(out.stdout)
    user = doc["users"][0]["user"]
    assert base64.b64decode(user["client-certificate-data"]).decode() == b.certs[name][0]
    assert doc["clusters"][0]["name"] == "ha-calico"
