"""Cni under the mocks: for each of the six choices, what gets registered and with which inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

import components.cni as cni_module
from components.api_objects import ClusterSite
from components.cni import Cni, ManifestFetchError, fetch_url
from mockrun import k8s_mock
from mockrun.program import Graph, run_function
from spec import ClusterSpec
from tests.support.graphs import assert_after
from tests.support.objects import container, env, find, strings
from tests.support.specs import MIRROR, POD, cni_spec

CNI_TYPE = "k8s-from-scratch:index:Cni"
RELEASE = "kubernetes:helm.sh/v3:Release"


def run(spec: ClusterSpec) -> Graph:
    def program() -> None:
        provider = k8s.Provider("k8s", kubeconfig="apiVersion: v1\nkind: Config\n")
        Cni("cni", ClusterSite(spec, provider), fetch=k8s_mock.offline_fetch)

    return run_function(program)


def only(graph: Graph, type_: str) -> Any:
    (reg,) = graph.of_type(type_)
    return reg


def objects(graph: Graph) -> list[dict[str, Any]]:
    """Inputs of every Kubernetes object registered (each manifest object is one resource)."""
    return [r.inputs for r in graph.registrations if r.type.startswith("kubernetes:") and r.type != RELEASE]


def children_have_parent_and_provider(graph: Graph) -> None:
    component = only(graph, CNI_TYPE)
    provider = only(graph, "pulumi:providers:kubernetes")
    for reg in graph.registrations:
        if reg.type.startswith("kubernetes:"):
            assert reg.parent == component.urn, reg.name
            assert reg.provider.startswith(provider.urn), reg.name


def run_manifest_cni(name: str, url: str) -> tuple[Graph, list[dict[str, Any]]]:
    """The manifest CNI `name` at MTU 1500, nft iptables, images from MIRROR: it fetched `url` only."""
    k8s_mock.fetched.clear()
    graph = run(cni_spec({"name": name, "mtu": 1500}, iptablesBackend="nft", images={"registry": MIRROR}))
    assert k8s_mock.fetched == [url]
    return graph, objects(graph)


@pytest.fixture
def warnings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    said: list[str] = []
    monkeypatch.setattr(cni_module.pulumi.log, "warn", lambda msg, resource=None, **_: said.append(msg))
    return said


# --- flannel ----------------------------------------------------------------------------------


def test_flannel_objects_are_applied_without_a_chart_or_a_download(warnings: list[str]) -> None:
    k8s_mock.fetched.clear()
    spec = cni_spec(
        {"name": "flannel", "backend": "wireguard", "mtu": 9000},
        kubeProxy={"mode": "nftables"},
        images={"registry": MIRROR},
    )
    graph = run(spec)
    assert graph.of_type(RELEASE) == [] and k8s_mock.fetched == []
    objs = objects(graph)
    net_conf = json.loads(find(objs, "ConfigMap", "kube-flannel-cfg")["data"]["net-conf.json"])
    assert net_conf == {"Network": POD, "EnableNFTables": True, "Backend": {"Type": "wireguard", "MTU": 9000}}
    assert container(find(objs, "DaemonSet", "kube-flannel-ds"), "kube-flannel")["image"] == (
        f"{MIRROR}/flannel-io/flannel:v0.28.10"
    )
    # The DaemonSet after everything its pods mount or run as.
    parts = ("namespace-kube-flannel", "configmap-kube-flannel-cfg", "serviceaccount-flannel")
    needed = [f"cni-{p}" for p in (*parts, "clusterrolebinding-flannel")]
    assert_after(graph, graph.named("cni-daemonset-kube-flannel-ds"), needed)
    children_have_parent_and_provider(graph)
    assert warnings == []
    assert only(graph, CNI_TYPE).outputs == {"cni": "flannel", "podCidr": POD, "notice": ""}


# --- calico -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "encapsulation"), [("vxlan", "VXLAN"), ("ipip", "IPIP"), ("bgp", "None")]
)
def test_calico_chart_inputs(backend: str, encapsulation: str) -> None:
    spec = cni_spec(
        {"name": "calico", "backend": backend, "mtu": 1500},
        iptablesBackend="legacy",
        images={"registry": MIRROR},
    )
    graph = run(spec)
    chart = only(graph, RELEASE)
    assert (chart.inputs["chart"], chart.inputs["version"]) == ("tigera-operator", "v3.31.7")
    assert chart.inputs["namespace"] == "tigera-operator"
    installation = chart.inputs["values"]["installation"]
    (pool,) = installation["calicoNetwork"]["ipPools"]
    assert (pool["cidr"], pool["encapsulation"]) == (POD, encapsulation)
    assert installation["calicoNetwork"]["mtu"] == 1500 - {"vxlan": 50, "ipip": 20, "bgp": 0}[backend]
    assert installation["registry"] == MIRROR + "/"
    assert chart.inputs["values"]["defaultFelixConfiguration"]["iptablesBackend"] == "Legacy"
    assert chart.inputs["values"]["tigeraOperator"]["registry"] == MIRROR
    # The operator's namespace is ours to create, before the chart's objects land in it.
    namespace = graph.named("cni-namespace-tigera-operator")
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert namespace.urn in chart.dependencies
    children_have_parent_and_provider(graph)


# --- cilium -----------------------------------------------------------------------------------


def test_cilium_chart_inputs_with_kube_proxy_replacement() -> None:
    spec = cni_spec(
        {
            "name": "cilium",
            "kubeProxyReplacement": True,
            "ipam": "cluster-pool",
            "backend": "geneve",
            "mtu": 1450,
        },
        kubeProxy={"mode": "disabled"},
        apiEndpoint="10.0.0.100:6443",
        images={"registry": MIRROR},
    )
    graph = run(spec)
    chart = only(graph, RELEASE)
    assert (chart.inputs["chart"], chart.inputs["version"]) == ("cilium", "1.19.3")
    assert chart.inputs["repositoryOpts"] == {"repo": "https://helm.cilium.io/"}
    values = chart.inputs["values"]
    assert values["kubeProxyReplacement"] == "true"
    assert (values["k8sServiceHost"], values["k8sServicePort"]) == ("10.0.0.100", 6443)
    assert values["ipam"]["operator"]["clusterPoolIPv4PodCIDRList"] == [POD]
    assert (values["routingMode"], values["tunnelProtocol"], values["MTU"]) == ("tunnel", "geneve", 1450)
    assert values["image"]["repository"] == f"{MIRROR}/cilium/cilium"
    children_have_parent_and_provider(graph)


def test_chart_from_a_local_mirror_directory() -> None:
    graph = run(cni_spec({"name": "cilium", "chartRepository": "/srv/charts"}))
    chart = only(graph, RELEASE)
    assert chart.inputs["chart"] == "/srv/charts/cilium-1.19.3.tgz"
    assert "repositoryOpts" not in chart.inputs


# --- canal ------------------------------------------------------------------------------------


def test_canal_manifest_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    graph, objs = run_manifest_cni(
        "canal", "https://raw.githubusercontent.com/projectcalico/calico/v3.31.7/manifests/canal.yaml"
    )
    net_conf = json.loads(find(objs, "ConfigMap", "canal-config")["data"]["net-conf.json"])
    assert net_conf == {"Network": POD, "Backend": {"Type": "vxlan", "MTU": 1500}}
    assert find(objs, "ConfigMap", "canal-config")["data"]["veth_mtu"] == "1450"
    node = container(find(objs, "DaemonSet", "canal"), "calico-node")
    assert env(node)["FELIX_IPTABLESBACKEND"] == "NFT"
    assert node["image"] == f"{MIRROR}/calico/node:v3.31.7"
    assert graph.of_type(RELEASE) == []
    children_have_parent_and_provider(graph)
    # Workloads after everything they mount or run as.
    felix_crd = "customresourcedefinition-felixconfigurations.crd.projectcalico.org"
    needed = [f"cni-{p}" for p in ("configmap-canal-config", "serviceaccount-canal", felix_crd)]
    assert_after(graph, graph.named("cni-daemonset-canal"), needed)
    assert (
        "status"
        not in graph.named("cni-customresourcedefinition-felixconfigurations.crd.projectcalico.org").inputs
    )


def test_canal_from_a_mirrored_manifest_file(tmp_path: Path) -> None:
    upstream = k8s_mock.CANAL_SHAPE.replace("{version}", "3.31.7").replace("10.244.0.0/16", "192.168.0.0/16")
    path = tmp_path / "canal.yaml"
    path.write_text(upstream)
    graph = run(cni_spec({"name": "canal", "manifestUrl": str(path)}))
    objs = objects(graph)
    assert json.loads(find(objs, "ConfigMap", "canal-config")["data"]["net-conf.json"])["Network"] == POD
    assert "192.168.0.0/16" not in " ".join(strings(objs))


# --- weave ------------------------------------------------------------------------------------


def test_weave_manifest_objects_and_archived_warning(warnings: list[str]) -> None:
    graph, objs = run_manifest_cni(
        "weave", "https://github.com/weaveworks/weave/releases/download/v2.8.1/weave-daemonset-k8s-1.11.yaml"
    )
    weave = container(find(objs, "DaemonSet", "weave-net"), "weave")
    assert env(weave)["IPALLOC_RANGE"] == POD
    assert env(weave)["WEAVE_MTU"] == "1376"
    assert env(weave)["IPTABLES_BACKEND"] == "nft"
    assert weave["image"] == f"{MIRROR}/weaveworks/weave-kube:2.8.1"
    assert len(warnings) == 1 and "archived" in warnings[0]
    assert "archived" in only(graph, CNI_TYPE).outputs["notice"]
    assert graph.of_type("random:index/randomPassword:RandomPassword") == []


def test_weave_encryption_password_is_a_secret_applied_first() -> None:
    graph = run(cni_spec({"name": "weave", "encryption": True}))
    password = only(graph, "random:index/randomPassword:RandomPassword")
    secret = only(graph, "kubernetes:core/v1:Secret")
    daemonset = graph.named("cni-daemonset-weave-net")
    assert secret.inputs["metadata"] == {"name": "weave-passwd", "namespace": "kube-system"}
    assert "stringData" in secret.secret_paths  # never in the clear
    assert len(secret.inputs["stringData"]["weave-passwd"]) == 32
    assert password.inputs["special"] is False
    assert secret.urn in daemonset.dependencies
    weave = container(daemonset.inputs, "weave")
    assert env(weave)["WEAVE_PASSWORD"] == {"secretKeyRef": {"name": "weave-passwd", "key": "weave-passwd"}}
    others = [o for o in objects(graph) if o["kind"] != "Secret"]
    assert secret.inputs["stringData"]["weave-passwd"] not in " ".join(strings(others))


# --- none -------------------------------------------------------------------------------------


def test_none_applies_nothing_and_says_why(warnings: list[str]) -> None:
    graph = run(cni_spec({"name": "none"}))
    assert [r.type for r in graph.registrations if r.type.startswith(("kubernetes:", "random:"))] == []
    component = only(graph, CNI_TYPE)
    notice = component.outputs["notice"]
    assert "NotReady" in notice and "cni plugin not initialized" in notice and POD in notice
    assert warnings == [notice]


def test_none_component_exposes_the_notice_for_the_stack_output() -> None:
    seen: dict[str, Any] = {}

    def program() -> None:
        provider = k8s.Provider("k8s", kubeconfig="x")
        seen["cni"] = Cni("cni", ClusterSite(cni_spec({"name": "none"}), provider))

    run_function(program)
    assert "cni plugin not initialized" in seen["cni"].notice
    assert seen["cni"].resources == []


# --- every choice -----------------------------------------------------------------------------


@pytest.mark.parametrize("cni", ["flannel", "calico", "canal", "weave", "cilium"])
def test_every_cni_registers_the_stacks_pod_cidr(cni: str) -> None:
    options: dict[str, Any] = {"name": cni}
    if cni == "cilium":
        options["ipam"] = "cluster-pool"
    graph = run(cni_spec(options, network={"podCidr": "172.20.0.0/14"}))
    applied = [r.inputs for r in graph.registrations if r.type.startswith("kubernetes:")]
    found = " ".join(strings(applied))
    assert "172.20.0.0/14" in found
    assert "10.244.0.0/16" not in found


def test_cni_under_a_parent_component() -> None:
    def program() -> None:
        parent = pulumi.ComponentResource("test:index:Parent", "cluster")
        provider = k8s.Provider("k8s", kubeconfig="x", opts=pulumi.ResourceOptions(parent=parent))
        Cni(
            "cluster-cni",
            ClusterSite(cni_spec({"name": "flannel"}), provider),
            pulumi.ResourceOptions(parent=parent),
        )

    graph = run_function(program)
    assert graph.named("cluster-cni").parent == graph.named("cluster").urn
    assert graph.named("cluster-cni-daemonset-kube-flannel-ds").parent == graph.named("cluster-cni").urn


# --- fetching ---------------------------------------------------------------------------------


def test_fetch_url_reads_files_and_names_the_fix_when_it_cannot(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": []}))
    assert "List" in fetch_url(f"file://{path}")
    with pytest.raises(ManifestFetchError, match=r"cni\.manifestUrl"):
        fetch_url(f"file://{tmp_path}/missing.yaml")


def test_a_manifest_that_cannot_be_fetched_stops_the_run() -> None:
    with pytest.raises(Exception, match="nothing serves"):
        run(cni_spec({"name": "canal", "manifestUrl": "https://unreachable.example/canal.yaml"}))
