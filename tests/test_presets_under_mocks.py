"""Every shipped preset loads, validates and runs under the mocks."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockrun.program import load_stack_file, presets, run_preset
from spec import SpecError, load_spec
from tests.support.specs import preset_spec

PRESETS = presets()


def test_there_are_presets_for_every_seed_and_ha() -> None:
    names = {p.name for p in PRESETS}
    for seed in ("s1-", "s2-", "s3-", "s4-", "s5-", "ha-"):
        assert any(seed in n for n in names), f"no preset for {seed}"
    assert "Pulumi.dev.yaml" in names


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_preset_runs_under_mocks(path: Path) -> None:
    spec = preset_spec(path)
    graph = run_preset(path)
    clusters = graph.of_type("k8s-from-scratch:index:Cluster")
    assert len(clusters) == 1
    assert graph.exports["clusterName"] == path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    assert [n.name for n in spec.nodes] == graph.exports["nodes"]


@pytest.mark.parametrize(
    "path",
    [p for p in PRESETS if not (load_stack_file(p)[0].get("lab") or {}).get("enabled")],
    ids=lambda p: p.name,
)
def test_preset_without_ssh_key_is_refused_for_every_node(path: Path) -> None:
    raw, secret = load_stack_file(path)
    with pytest.raises(SpecError) as err:
        load_spec(raw, "x", frozenset(secret))
    paths = {p.path for p in err.value.problems}
    assert paths == {f"nodes[{i}].ssh.privateKey" for i in range(len(raw["nodes"]))}
