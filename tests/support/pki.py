"""Shared by the tests/test_pki_*.py files: build a preset's Pki under the mocks, keep the values.
 `built(preset)` runs `Pki("pki", spec)` once per preset (cached) through
mockrun.program.run_function with the faithful tls/random mocks and returns the recorded
graph plus every value the component exposes, resolved to plain strings.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.pki import CertKeyPair, Clock, Pki, utc_now
from mockrun.program import Graph, run_function
from render import pki_plan
from spec.model import ClusterSpec
from tests.support.specs import PRESETS, preset_spec

KUBECONFIG_ATTRS = {
    "admin": "admin_kubeconfig",
    "super-admin": "super_admin_kubeconfig",
    "controller-manager": "controller_manager_kubeconfig",
    "scheduler": "scheduler_kubeconfig",
    "kube-proxy": "kube_proxy_kubeconfig",
    "csr-approver": "csr_approver_kubeconfig",
}
SCALAR_ATTRS = (
    "service_account_key_pem",
    "service_account_public_pem",
    "encryption_key",
    "expiries",
)


@dataclass
class Built:
    spec: ClusterSpec
    graph: Graph
    certs: dict[str, tuple[str, str]]  # plan name -> (cert PEM, key PEM), from the Pki attributes
    kubeconfigs: dict[str, str]
    values: dict[str, Any]  # SCALAR_ATTRS

    def plan(self) -> dict[str, pki_plan.CertSpec]:
        return {c.name: c for c in pki_plan.plan(self.spec)}


def cert_pairs(pki: Pki) -> dict[str, CertKeyPair]:
    """Every CertKeyPair attribute under its plan name (the contract other components use)."""
    pairs = {
        "ca": pki.ca,
        "front-proxy-ca": pki.front_proxy_ca,
        "etcd-ca": pki.etcd_ca,
        "apiserver": pki.apiserver,
        "apiserver-kubelet-client": pki.apiserver_kubelet_client,
        "apiserver-etcd-client": pki.apiserver_etcd_client,
        "front-proxy-client": pki.front_proxy_client,
        "etcd-healthcheck-client": pki.etcd_healthcheck_client,
        "admin": pki.admin,
        "super-admin": pki.super_admin,
        "controller-manager": pki.controller_manager,
        "scheduler": pki.scheduler,
        "kube-proxy": pki.kube_proxy,
        "csr-approver": pki.csr_approver,
    }
    pairs.update({f"etcd-server-{n}": p for n, p in pki.etcd_server.items()})
    pairs.update({f"etcd-peer-{n}": p for n, p in pki.etcd_peer.items()})
    return pairs


def build(spec: ClusterSpec, clock: Clock = utc_now) -> Built:
    certs: dict[str, tuple[str, str]] = {}
    kubeconfigs: dict[str, str] = {}
    values: dict[str, Any] = {}

    def keep(target: dict[str, Any], key: str) -> Callable[[Any], None]:
        def store(value: Any) -> None:
            target[key] = tuple(value) if isinstance(value, list) else value

        return store

    def program() -> None:
        pki = Pki("pki", spec, clock=clock)
        for name, pair in cert_pairs(pki).items():
            pulumi.Output.all(pair.cert_pem, pair.key_pem).apply(keep(certs, name))
        for name, attr in KUBECONFIG_ATTRS.items():
            getattr(pki, attr).apply(keep(kubeconfigs, name))
        for attr in SCALAR_ATTRS:
            getattr(pki, attr).apply(keep(values, attr))

    graph = run_function(program, stack=spec.cluster_name)
    return Built(spec, graph, certs, kubeconfigs, values)


@functools.cache
def built(preset: str) -> Built:
    path = next(p for p in PRESETS if p.name == preset)
    return build(preset_spec(path))


@functools.cache
def built_rsa() -> Built:
    """The HA preset with RSA keys: keyEncipherment and RSA key sizes take the other branch."""
    return build(preset_spec("ha-calico", {"pki": {"keyAlgorithm": "RSA", "rsaBits": 3072}}))


def need_openssl() -> str:
    found = shutil.which("openssl")
    if found is None:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    return found


def openssl(*args: str, stdin: str | None = None, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [need_openssl(), *args], input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )


def pem_files(b: Built, tmp: Path, name: str) -> tuple[str, str]:
    """The certificate and key of plan entry `name` written under tmp (key 0600): their paths."""
    cert, key = b.certs[name]
    (tmp / f"{name}.crt").write_text(cert)
    (tmp / f"{name}.key").write_text(key)
    (tmp / f"{name}.key").chmod(0o600)
    return str(tmp / f"{name}.crt"), str(tmp / f"{name}.key")
