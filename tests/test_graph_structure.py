"""The resource graph of every preset follows the component conventions."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.program import Graph, presets, run_preset

PRESETS = presets()


@pytest.fixture(scope="module", params=PRESETS, ids=lambda p: p.name)
def graph(request: pytest.FixtureRequest) -> Graph:
    path: Path = request.param
    return run_preset(path)


def test_every_resource_hangs_under_the_cluster(graph: Graph) -> None:
    (root,) = graph.of_type("k8s-from-scratch:index:Cluster")
    urns = {r.urn: r for r in graph.registrations}
    for reg in graph.registrations:
        if reg is root:
            continue
        chain, cur = [], reg
        while cur.parent and cur.parent in urns:
            chain.append(cur.parent)
            cur = urns[cur.parent]
        assert cur is root, f"{reg.type} {reg.name} is not under the Cluster"


def test_children_are_named_after_their_parent(graph: Graph) -> None:
    urns = {r.urn: r for r in graph.registrations}
    for reg in graph.registrations:
        parent = urns.get(reg.parent)
        if parent is not None:
            assert reg.name.startswith(parent.name + "-"), f"{reg.name} under {parent.name}"


def test_components_use_the_project_type_tokens(graph: Graph) -> None:
    components = [r for r in graph.registrations if not r.custom]
    assert components
    for reg in components:
        assert reg.type.startswith("k8s-from-scratch:index:"), reg.type


def test_names_are_unique(graph: Graph) -> None:
    names = [(r.type, r.name) for r in graph.registrations]
    assert len(names) == len(set(names))


def test_one_host_per_node_and_members_per_role(graph: Graph) -> None:
    nodes = graph.exports["nodes"]
    hosts = graph.of_type("k8s-from-scratch:index:Host")
    assert sorted(h.name.rsplit("-host-", 1)[1] for h in hosts) == sorted(nodes)
    assert graph.of_type("k8s-from-scratch:index:EtcdMember")
    assert graph.of_type("k8s-from-scratch:index:ControlPlane")


def test_the_kubernetes_provider_waits_for_every_control_plane(graph: Graph) -> None:
    (provider,) = graph.of_type("pulumi:providers:kubernetes")
    planes = graph.of_type("k8s-from-scratch:index:ControlPlane")
    assert planes
    # depends_on a component means on every resource under it (the SDK expands it).
    for plane in planes:
        steps = {r.urn for r in graph.children(plane) if r.custom}
        assert steps and steps <= set(provider.dependencies), plane.name
    assert "kubeconfig" in provider.secret_paths
