"""The one way tests build a ClusterSpec: from a preset stack file, or from a minimal raw config.

Both go through load_spec with the SSH key set as a secret, as a user's stack does. A lab stack
(Pulumi.dev.yaml) needs its binary mirror: tests/conftest.py builds a fake one for the session.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from mockrun.program import REPO, TEST_SSH_KEY, preset_config, presets
from spec import load_spec
from spec.model import ClusterSpec

PRESETS = presets()  # every stacks/*.yaml, and the lab (Pulumi.dev.yaml) last
PRESET_IDS = [p.name for p in PRESETS]

POD = "10.42.0.0/16"  # not any CNI's default, so finding it proves it was carried
MIRROR = "mirror.example:5000/k8s"
THREE_NODES: list[dict[str, Any]] = [
    {"name": "cp1", "address": "192.168.10.11", "roles": ["etcd", "control-plane"]},
    {"name": "w1", "address": "192.168.10.21", "roles": ["worker"]},
    {"name": "w2", "address": "192.168.10.22", "roles": ["worker"]},
]
TWO_NODES = THREE_NODES[:2]  # cp1 and w1
ONE_NODE: list[dict[str, Any]] = [
    {"name": "solo", "address": "192.168.10.5", "roles": ["etcd", "control-plane", "worker"]}
]
SSH_SECRET = frozenset({"ssh"})


def stack_file(stack: str) -> Path:
    """The preset stack file of a stack name ("dev" is the lab stack at the repo root)."""
    return REPO / "Pulumi.dev.yaml" if stack == "dev" else REPO / "stacks" / f"Pulumi.{stack}.yaml"


def stack_name(path: Path) -> str:
    return path.name.removeprefix("Pulumi.").removesuffix(".yaml")


def merged(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """raw with the overrides' top-level keys set; mappings are merged one level deep."""
    out = copy.deepcopy(raw)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def preset_spec(
    preset: Path | str, overrides: dict[str, Any] | None = None, *, stack: str | None = None
) -> ClusterSpec:
    """A preset (its stack file, or its stack name) as a user runs it, with `overrides` merged in.
    The stack, hence the default cluster name, is the preset's own unless `stack` is given."""
    path = stack_file(preset) if isinstance(preset, str) else preset
    raw, secret = preset_config(path)
    spec, _ = load_spec(merged(raw, overrides or {}), stack or stack_name(path), frozenset(secret))
    return spec


def config_raw(nodes: list[dict[str, Any]], **top: Any) -> dict[str, Any]:
    """A minimal config: these nodes and the test SSH key (secret: SSH_SECRET), `top` keys merged in."""
    return merged({"nodes": nodes, "ssh": {"privateKey": TEST_SSH_KEY}}, top)


def config_spec(nodes: list[dict[str, Any]], *, stack: str = "test", **top: Any) -> ClusterSpec:
    """The spec of config_raw(nodes, **top)."""
    spec, _ = load_spec(config_raw(nodes, **top), stack, SSH_SECRET)
    return spec


def cni_spec(cni: dict[str, Any], nodes: list[dict[str, Any]] | None = None, **top: Any) -> ClusterSpec:
    """config_spec of THREE_NODES (or `nodes`) with this cni and pod CIDR POD (unless `top` sets one)."""
    return config_spec(nodes or THREE_NODES, cni=cni, **merged({"network": {"podCidr": POD}}, top))


def addons_golden_spec() -> ClusterSpec:
    """The non-default spec of the addons golden files (tests/golden/addons/)."""
    return cni_spec(
        {"name": "calico"},
        network={"serviceCidr": "10.100.0.0/16", "clusterDomain": "corp.example"},
        images={"registry": MIRROR},
        runtime={"kata": True},
        addons={"smokeTest": True},
    )
