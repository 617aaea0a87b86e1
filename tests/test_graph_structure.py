"""The resource graph of every preset follows the component conventions."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from bench.graph_diff import owned_by
from mockrun.program import Graph, presets, run_preset
from mockrun.recorder import Registration

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
    """A Host component for a node with a control-plane or etcd role, one NodeHost resource (and
    nothing else of its own) for a worker-only node."""
    nodes = graph.exports["nodes"]
    hosts = [h.name.rsplit("-host-", 1)[1] for h in graph.of_type("k8s-from-scratch:index:Host")]
    node_hosts = [r.inputs["node"] for r in graph.of_type("pulumi-python:dynamic/k8sfs:NodeHost")]
    assert sorted(hosts + node_hosts) == sorted(nodes)
    assert not set(hosts) & set(node_hosts)
    for name in node_hosts:  # (a lab stack makes the host itself: that is the lab's)
        own = [r for r in graph.registrations if owned_by(r.name, name) and "-lab-host-" not in r.name]
        assert [r.type for r in own] == ["pulumi-python:dynamic/k8sfs:NodeHost"]
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


def _groups(kubeconfig: str) -> tuple[str, list[str]]:
    """(CN, Os) of a kubeconfig's client certificate."""
    doc = yaml.safe_load(kubeconfig)
    pem = base64.b64decode(doc["users"][0]["user"]["client-certificate-data"])
    subject = x509.load_pem_x509_certificate(pem).subject
    (cn,) = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cn.value), [str(o.value) for o in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def test_the_admin_is_an_rbac_admin_and_only_the_provider_is_a_super_admin(graph: Graph) -> None:
    """kubeadm >= 1.29's split: admin.conf is bound to cluster-admin (revocable), super-admin.conf
    is in system:masters. Ours is what the program's provider uses; the stack exports the admin
    (components/program.py; the e2e tier checks the exported one's groups)."""
    (pki,) = graph.of_type("k8s-from-scratch:index:Pki")
    kubeconfigs = pki.outputs["kubeconfigs"]
    assert _groups(kubeconfigs["admin"]) == ("kubernetes-admin", ["k8s-from-scratch:cluster-admins"])
    assert _groups(kubeconfigs["superAdmin"]) == ("kubernetes-super-admin", ["system:masters"])
    (provider,) = graph.of_type("pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == kubeconfigs["superAdmin"]


def test_children_wait_for_what_their_component_waits_for(graph: Graph) -> None:
    """The engine does not make children inherit a component's depends_on; ours must pass it on.
    Every custom resource under a component must (transitively) wait for that component's
    dependencies, or e.g. a host step could run before its lab host has booted."""
    customs = {r.urn: r for r in graph.registrations if r.custom}
    urns = {r.urn: r for r in graph.registrations}

    def direct(reg: Registration) -> set[str]:
        deps = set(reg.dependencies)
        for urn_list in reg.property_dependencies.values():
            deps |= set(urn_list)
        return deps

    closure: dict[str, set[str]] = {}

    def reach(urn: str) -> set[str]:
        if urn not in closure:
            closure[urn] = set()
            out: set[str] = set()
            for dep in direct(customs[urn]):
                out.add(dep)
                if dep in customs:
                    out |= reach(dep)
            closure[urn] = out
        return closure[urn]

    for comp in (r for r in graph.registrations if not r.custom and r.dependencies):
        wanted = {u for u in comp.dependencies if u in customs}
        descendants = [r for r in customs.values() if _under(r, comp, urns)]
        for reg in descendants:
            missing = wanted - reach(reg.urn)
            assert not missing, f"{reg.name} does not wait for {sorted(urns[m].name for m in missing)}"


def _under(reg: Registration, comp: Registration, urns: dict[str, Registration]) -> bool:
    cur = urns.get(reg.parent)
    while cur is not None:
        if cur is comp:
            return True
        cur = urns.get(cur.parent)
    return False
