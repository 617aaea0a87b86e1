"""`python -m render.images`: the images a stack's nodes pull, as an air-gapped site must mirror them."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockrun.program import REPO
from render import images


def test_a_flannel_stack_behind_a_mirror_lists_every_image_it_pulls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = tmp_path / "Pulumi.site.yaml"
    stack.write_text(
        "config:\n"
        "  k8s-from-scratch:nodes:\n"
        "    - {name: a, address: 10.0.0.2, roles: [etcd, control-plane, worker]}\n"
        "  k8s-from-scratch:ssh:\n"
        "    privateKey: {secure: AAABAG}\n"
        "  k8s-from-scratch:images: {registry: mirror.lan:5000/k8s}\n"
        "  k8s-from-scratch:addons: {smokeTest: true}\n"
        "  k8s-from-scratch:versions: {coredns: 1.15.0}\n"
    )
    assert images.main([str(stack)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "mirror.lan:5000/k8s/pause:3.10.1",
        "mirror.lan:5000/k8s/flannel-io/flannel:v0.28.10",
        "mirror.lan:5000/k8s/flannel-io/flannel-cni-plugin:v1.9.1-flannel1",
        "mirror.lan:5000/k8s/coredns/coredns:v1.15.0",
        "mirror.lan:5000/k8s/e2e-test-images/agnhost:2.52",
    ]


def test_a_chart_cni_says_where_its_own_images_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    assert images.main([str(REPO / "stacks" / "Pulumi.ha-calico.yaml")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "registry.k8s.io/pause:3.10.1"
    assert out[-1].startswith("# and the images of the tigera-operator chart")
