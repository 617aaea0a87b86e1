"""Golden files: kubelet, kube-proxy, containerd and CRI-O configs of two presets, byte for byte.

S1 (one containerd node that is everything) and S2 (CRI-O with Kata, a control plane and
workers). Regenerate after an intended change with UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import pytest

from mockrun.program import STACKS
from render import kube_proxy as kp
from render import kubelet as kl
from render import runtime as rt
from tests.support import golden
from tests.support.specs import preset_spec

GOLDEN = golden.GOLDEN / "worker"
PRESETS = {
    "s1": STACKS / "Pulumi.s1-centos8-containerd-weave.yaml",
    "s2": STACKS / "Pulumi.s2-ubuntu-crio-kata-weave.yaml",
}


def rendered() -> dict[str, str]:
    """golden path -> content, for every kubelet node of both presets."""
    out: dict[str, str] = {}
    for key, path in PRESETS.items():
        spec = preset_spec(path)
        for node in spec.kubelet_nodes:
            base = f"{key}/{node.name}"
            out[f"{base}/kubelet-config.yaml"] = kl.render_kubelet_config(spec, node)
            out[f"{base}/kubelet.service"] = kl.kubelet_unit(spec, node)
            out[f"{base}/kube-proxy-config.yaml"] = kp.render_kube_proxy_config(spec, node)
        for f in rt.runtime_files(spec):  # identical on every node of a stack
            out[f"{key}/runtime{f.meta.path}"] = f.content
    return out


CASES = rendered()


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_golden(name: str) -> None:
    golden.assert_golden(GOLDEN / name, CASES[name])


def test_golden_covers_all_four_config_kinds_and_nothing_stale() -> None:
    names = set(CASES)
    assert any(n.endswith("containerd/config.toml") for n in names)
    assert any(n.endswith("crio.conf.d/90-k8s-from-scratch.conf") for n in names)
    assert sum(n.endswith("kubelet-config.yaml") for n in names) == 4  # 1 node in s1, 3 in s2
    on_disk = {str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*") if p.is_file()}
    assert on_disk == names, f"stale or missing golden files: {on_disk ^ names}"
