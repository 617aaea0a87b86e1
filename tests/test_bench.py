"""The bench's pure parts (critical path, input diffing, stack configs) and a small real run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bench import run as bench_run
from bench.critical_path import HOST_STEP, critical_path
from bench.graph_diff import blast_radius, canonical, diff_graphs, owned_by
from bench.stacks import bench_config, with_labels_changed, with_worker_added
from mockrun import mocks
from mockrun.program import run_program
from spec import load_spec


@dataclass
class Reg:
    name: str
    type: str = HOST_STEP
    inputs: dict[str, Any] = field(default_factory=dict)
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    provider: str = ""

    @property
    def urn(self) -> str:
        return f"urn:pulumi:s::p::{self.type}::{self.name}"


def urn(name: str, type_: str = HOST_STEP) -> str:
    return Reg(name, type_).urn


# --- critical path ------------------------------------------------------------------------------


def test_critical_path_counts_host_steps_through_other_resources_and_providers() -> None:
    provider_type = "pulumi:providers:kubernetes"
    regs = [
        Reg("lab-host", "command:local:Command"),
        Reg("cp-a", dependencies=[urn("lab-host", "command:local:Command")]),
        Reg("cp-b", dependencies=[urn("cp-a")]),
        Reg("cp-c", property_dependencies={"create": [urn("cp-b")]}),
        Reg("k8s", provider_type, dependencies=[urn("cp-c")]),
        # Only the provider reference orders the Secret after the API servers.
        Reg("token", "kubernetes:core/v1:Secret", provider=f"{urn('k8s', provider_type)}::k8s-id"),
        Reg("w1-a"),
        Reg("w1-kubelet", dependencies=[urn("w1-a"), urn("token", "kubernetes:core/v1:Secret")]),
        Reg("w1-other", dependencies=[urn("w1-a")]),
    ]
    chain = critical_path(regs, lambda r: r.type == HOST_STEP and owned_by(r.name, "w1"))
    assert chain == ["cp-a", "cp-b", "cp-c", "w1-kubelet"]


def test_critical_path_ties_go_to_the_first_registered_and_no_end_is_empty() -> None:
    regs = [Reg("a"), Reg("b"), Reg("end", dependencies=[urn("b"), urn("a")])]
    assert critical_path(regs, lambda r: r.name == "end") == ["a", "end"]
    assert critical_path(regs, lambda r: False) == []


# --- diffs ----------------------------------------------------------------------------------------


def test_canonical_ignores_map_key_order_but_not_list_order() -> None:
    assert canonical({"a": 1, "b": [1, 2]}) == canonical({"b": [1, 2], "a": 1})
    assert canonical({"b": [1, 2]}) != canonical({"b": [2, 1]})


def test_diff_finds_changed_added_and_removed_by_urn() -> None:
    before = [Reg("same", inputs={"x": 1}), Reg("changed", inputs={"l": [1, 2]}), Reg("gone")]
    after = [Reg("same", inputs={"x": 1}), Reg("changed", inputs={"l": [2, 1]}), Reg("new")]
    diff = diff_graphs(before, after)
    assert (diff.changed, diff.added, diff.removed, diff.count) == (["changed"], ["new"], ["gone"], 3)


def test_owned_by_matches_whole_dash_separated_parts() -> None:
    assert owned_by("bench-host-w1-preflight", "w1")
    assert owned_by("bench-cp1-csr-approver-allow-w1", "w1")
    assert owned_by("w1", "w1")
    assert not owned_by("bench-host-w10-preflight", "w1")
    assert not owned_by("bench-host-aw1-x", "w1")


def test_blast_radius_separates_the_nodes_own_resources() -> None:
    before = [Reg("cp1-allow-list", inputs={"nodes": ["w1"]})]
    after = [Reg("cp1-allow-list", inputs={"nodes": ["w1", "w2"]}), Reg("host-w2-a"), Reg("stray")]
    radius = blast_radius(before, after, "w2")
    assert radius["count"] == 2
    assert radius["changed"] == ["cp1-allow-list"] and radius["added"] == ["stray"]
    assert radius["own"] == {"changed": 0, "added": 1, "removed": 0}


# --- stacks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("nodes", [1, 10, 500])
def test_bench_stacks_validate_with_the_asked_node_count(nodes: int) -> None:
    raw, secret = bench_config(nodes)
    spec, warnings = load_spec(raw, "bench", frozenset(secret))
    assert len(spec.nodes) == nodes and not warnings
    assert len(spec.etcd_nodes) == len(spec.control_plane_nodes) == min(3, nodes)
    assert spec.nodes[0].ssh.private_key is not None


def test_adding_a_worker_and_relabelling_change_only_that_node() -> None:
    raw, _ = bench_config(10)
    added, name = with_worker_added(raw)
    assert raw["nodes"] == added["nodes"][:-1] and added["nodes"][-1]["name"] == name
    assert name not in {n["name"] for n in raw["nodes"]}
    relabelled, node = with_labels_changed(raw)
    changed = [new for old, new in zip(raw["nodes"], relabelled["nodes"], strict=True) if old != new]
    assert [n["name"] for n in changed] == [node]


# --- memoising mocks and a small real run ---------------------------------------------------------


def test_two_evaluations_differ_without_memo_and_not_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The nondeterminism check can fail: the mocks' fresh keys show up as differences."""
    raw, secret = bench_config(1)
    monkeypatch.setattr(mocks, "MEMO_ENABLED", False)
    fresh = diff_graphs(
        run_program(raw, "bench", secret).registrations, run_program(raw, "bench", secret).registrations
    )
    assert any("pki" in name for name in fresh.changed), "fresh keys/certs must differ"
    monkeypatch.setattr(mocks, "MEMO_ENABLED", True)
    first = run_program(raw, "bench", secret).registrations
    assert diff_graphs(first, run_program(raw, "bench", secret).registrations).count == 0


def test_graph_checks_on_a_small_stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(mocks, "MEMO_ENABLED", True)
    checks = bench_run.graph_checks(4, presets=False)
    assert checks["blast_radius_add_worker"]["count"] == 0, checks["blast_radius_add_worker"]
    # Adding a worker adds exactly what an existing worker owns.
    assert checks["blast_radius_add_worker"]["own"]["added"] == checks["worker_resources"]["count"] > 0
    assert checks["blast_radius_change_labels"]["count"] == 0, checks["blast_radius_change_labels"]
    assert checks["blast_radius_change_labels"]["own"]["changed"] > 0
    assert checks["nondeterministic_resources"] == {"bench-4": []}
    chain = checks["critical_path_steps"]["chain"]
    assert chain[0].startswith("bench-host-cp") and chain[-1] == "bench-join-w1-serving"
    assert any("apiserver" in step for step in chain) and checks["critical_path_steps"]["steps"] == len(chain)


def test_each_size_is_measured_repeatedly_and_the_median_run_stands_for_it() -> None:
    (one,) = bench_run.measure_sizes([1], repeat=3)
    runs = one["runs_seconds"]
    assert len(runs) == 3 and runs == sorted(runs)
    assert one["seconds"] == runs[1] and one["nodes"] == 1 and one["resources"] > 0
    summary = bench_run.summarise([one], {}, {"skipped": "test"})
    assert summary["eval_seconds_runs_by_nodes"] == {"1": runs}
