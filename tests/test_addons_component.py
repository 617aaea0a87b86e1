"""Addons under the mocks: one typed resource per object, ordering, and waiting only where it can end."""

from __future__ import annotations

from typing import Any

import pulumi_kubernetes as k8s
import pytest

from components.addons import Addons
from components.api_objects import ClusterSite, k8s_object, object_part
from mockrun.program import Graph, run_function
from render import addons as render
from spec import ClusterSpec
from tests.support.graphs import assert_after
from tests.support.specs import addons_golden_spec, cni_spec

ADDONS = "k8s-from-scratch:index:Addons"


def run(spec: ClusterSpec) -> Graph:
    def program() -> None:
        provider = k8s.Provider("k8s", kubeconfig="x")
        Addons("addons", ClusterSite(spec, provider))

    return run_function(program)


def kube(graph: Graph) -> list[Any]:
    return [r for r in graph.registrations if r.type.startswith("kubernetes:")]


def test_each_object_is_one_typed_resource_with_the_rendered_inputs() -> None:
    spec = addons_golden_spec()
    graph = run(spec)
    registered = {(r.inputs["kind"], r.inputs["metadata"]["name"]): r for r in kube(graph)}
    expected = render.all_objects(spec)
    assert len(registered) == len(expected) == len(kube(graph))
    for obj in expected:
        reg = registered[(obj["kind"], obj["metadata"]["name"])]
        assert reg.type.endswith(f":{obj['kind']}")
        for key, value in obj.items():
            assert reg.inputs[key] == value, (obj["kind"], key)


def test_children_are_parented_and_use_the_cluster_provider() -> None:
    graph = run(addons_golden_spec())
    (component,) = graph.of_type(ADDONS)
    (provider,) = graph.of_type("pulumi:providers:kubernetes")
    for reg in kube(graph):
        assert reg.parent == component.urn
        assert reg.provider.startswith(provider.urn)
    assert component.outputs == {
        "clusterDomain": "corp.example",
        "dnsServiceIp": "10.100.0.10",
        "runtimeClasses": ["kata"],
        "smokeTest": True,
    }


def test_coredns_service_ip_and_deployment_order() -> None:
    graph = run(addons_golden_spec())
    assert graph.named("addons-service-kube-dns").inputs["spec"]["clusterIP"] == "10.100.0.10"
    deployment = graph.named("addons-deployment-coredns")
    needed = ("serviceaccount-coredns", "clusterrole-system-coredns", "clusterrolebinding-system-coredns")
    assert_after(graph, deployment, [f"addons-{n}" for n in (*needed, "configmap-coredns")])
    assert "annotations" not in deployment.inputs["metadata"]  # with a CNI, Pulumi waits for Ready


def test_without_a_cni_coredns_is_not_awaited() -> None:
    graph = run(cni_spec({"name": "none"}))
    deployment = graph.named("addons-deployment-coredns")
    assert deployment.inputs["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    assert graph.of_type("kubernetes:batch/v1:Job") == []


def test_smoke_job_waits_for_dns_and_the_server() -> None:
    graph = run(addons_golden_spec())
    dns = ["addons-deployment-coredns", "addons-service-kube-dns"]
    smoke = ["deployment-smoke-server", "service-smoke-server", "namespace-k8s-from-scratch-smoke"]
    assert_after(
        graph, graph.named("addons-smoke-job-smoke-check"), dns + [f"addons-smoke-{s}" for s in smoke]
    )
    server = graph.named("addons-smoke-deployment-smoke-server")
    assert graph.named("addons-smoke-namespace-k8s-from-scratch-smoke").urn in server.dependencies


def test_nothing_asked_nothing_applied() -> None:
    graph = run(cni_spec({"name": "flannel"}, addons={"coredns": False}))
    assert kube(graph) == []


def test_runtime_class_registered_for_kata() -> None:
    graph = run(cni_spec({"name": "flannel"}, runtime={"kata": True}))
    rc = graph.named("addons-runtimeclass-kata")
    assert rc.type == "kubernetes:node.k8s.io/v1:RuntimeClass"
    assert rc.inputs["handler"] == "kata"


def test_k8s_object_refuses_kinds_it_does_not_know() -> None:
    for obj in (
        {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "x"}, "template": {}},
        {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "x"}, "data": {}},
    ):
        with pytest.raises(ValueError, match="no typed resource"):
            k8s_object("x", obj, None)  # type: ignore[arg-type]


def test_k8s_object_applies_a_custom_resource_generically() -> None:
    def program() -> None:
        obj = {
            "apiVersion": "example.com/v1",
            "kind": "Thing",
            "metadata": {"name": "t"},
            "spec": {"size": 3},
        }
        k8s_object("thing", obj, None)  # type: ignore[arg-type]

    graph = run_function(program)
    thing = graph.named("thing")
    assert thing.type == "kubernetes:example.com/v1:Thing"
    assert thing.inputs["spec"] == {"size": 3}


def test_object_part_is_a_valid_resource_name_part() -> None:
    assert (
        object_part({"kind": "ClusterRole", "metadata": {"name": "system:coredns"}})
        == "clusterrole-system-coredns"
    )
