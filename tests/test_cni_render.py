"""render.cni: chart values, adapted release manifests, image mirroring, the plan per CNI."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from mockrun import k8s_mock
from render import cni as render_cni
from render.cni import charts, flannel, manifests
from render.cni.images import mirror_image, split_registry
from spec import ClusterSpec
from tests.support.objects import container, env, find, strings
from tests.support.specs import MIRROR, POD, cni_spec

# --- image mirror -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "registry", "path"),
    [
        ("registry.k8s.io/coredns/coredns:v1.13.1", "registry.k8s.io", "coredns/coredns:v1.13.1"),
        ("weaveworks/weave-kube:2.8.1", None, "weaveworks/weave-kube:2.8.1"),
        ("busybox:1.36", None, "library/busybox:1.36"),
        ("localhost:5000/x/y:1", "localhost:5000", "x/y:1"),
        ("quay.io/cilium/cilium:v1.19.3@sha256:ab", "quay.io", "cilium/cilium:v1.19.3@sha256:ab"),
    ],
)
def test_split_registry(image: str, registry: str | None, path: str) -> None:
    assert split_registry(image) == (registry, path)


def test_mirror_keeps_path_tag_and_digest() -> None:
    assert mirror_image("quay.io/cilium/cilium:v1.19.3@sha256:ab", MIRROR + "/") == (
        f"{MIRROR}/cilium/cilium:v1.19.3@sha256:ab"
    )
    assert mirror_image("weaveworks/weave-npc:2.8.1", MIRROR) == f"{MIRROR}/weaveworks/weave-npc:2.8.1"
    assert mirror_image("ghcr.io/flannel-io/flannel", None) == "ghcr.io/flannel-io/flannel"


# --- plan -------------------------------------------------------------------------------------


def test_none_plan_applies_nothing_and_says_why() -> None:
    plan = render_cni.plan(cni_spec({"name": "none"}))
    assert plan.chart is None and plan.manifest_url is None
    (notice,) = plan.notices
    assert "NotReady" in notice
    assert "cni plugin not initialized" in notice
    assert "/etc/cni/net.d" in notice
    assert POD in notice


@pytest.mark.parametrize(
    ("cni", "chart", "version", "repo", "namespace"),
    [
        ("calico", "tigera-operator", "v3.31.7", "https://docs.tigera.io/calico/charts", "tigera-operator"),
        ("cilium", "cilium", "1.19.3", "https://helm.cilium.io/", "kube-system"),
    ],
)
def test_chart_cnis_reference_upstream_by_version(
    cni: str, chart: str, version: str, repo: str, namespace: str
) -> None:
    plan = render_cni.plan(cni_spec({"name": cni}))
    assert plan.chart is not None and plan.manifest_url is None
    assert plan.chart.source == charts.ChartSource(chart, version, repo)
    assert plan.chart.namespace == namespace


def test_chart_version_follows_the_versions_pin() -> None:
    plan = render_cni.plan(cni_spec({"name": "cilium"}, versions={"cilium": "1.18.6"}))
    assert plan.chart is not None and plan.chart.source.version == "1.18.6"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "https://charts.mirror.example/cni",
            charts.ChartSource("cilium", "1.19.3", "https://charts.mirror.example/cni"),
        ),
        (
            "oci://mirror.example/charts/",
            charts.ChartSource("oci://mirror.example/charts/cilium", "1.19.3", None),
        ),
        ("/srv/charts", charts.ChartSource("/srv/charts/cilium-1.19.3.tgz", None, None)),
    ],
)
def test_chart_repository_override(override: str, expected: charts.ChartSource) -> None:
    spec = cni_spec({"name": "cilium", "chartRepository": override})
    assert charts.chart_source(spec, "cilium") == expected


@pytest.mark.parametrize(
    ("cni", "url"),
    [
        ("canal", "https://raw.githubusercontent.com/projectcalico/calico/v3.31.7/manifests/canal.yaml"),
        (
            "weave",
            "https://github.com/weaveworks/weave/releases/download/v2.8.1/weave-daemonset-k8s-1.11.yaml",
        ),
    ],
)
def test_manifest_cnis_reference_the_pinned_release(cni: str, url: str) -> None:
    assert render_cni.plan(cni_spec({"name": cni})).manifest_url == url


def test_manifest_url_override_and_local_path() -> None:
    assert manifests.manifest_url(cni_spec({"name": "canal", "manifestUrl": "https://m.example/c.yaml"})) == (
        "https://m.example/c.yaml"
    )
    assert manifests.manifest_url(cni_spec({"name": "weave", "manifestUrl": "/srv/weave.yaml"})) == (
        "file:///srv/weave.yaml"
    )


def test_weave_plan_warns_that_upstream_is_archived() -> None:
    (notice,) = render_cni.plan(cni_spec({"name": "weave"})).notices
    assert "archived" in notice and "2.8.1" in notice


# --- flannel (rendered here) ---------------------------------------------------------------------


def flannel_of(spec: Any) -> dict[tuple[str, str], dict[str, Any]]:
    plan = render_cni.plan(spec)
    assert plan.chart is None and plan.manifest_url is None, "flannel needs no chart or download"
    return {(o["kind"], o["metadata"]["name"]): o for o in plan.objects}


def net_conf(spec: Any) -> dict[str, Any]:
    config = flannel_of(spec)[("ConfigMap", flannel.CONFIGMAP)]
    loaded: dict[str, Any] = json.loads(config["data"]["net-conf.json"])
    return loaded


@pytest.mark.parametrize("backend", ["vxlan", "host-gw", "wireguard"])
def test_flannel_net_conf_carries_pod_cidr_and_backend(backend: str) -> None:
    conf = net_conf(cni_spec({"name": "flannel", "backend": backend}))
    assert conf == {"Network": POD, "EnableNFTables": False, "Backend": {"Type": backend}}


def test_flannel_mtu_is_the_node_mtu_given_to_its_backend() -> None:
    assert net_conf(cni_spec({"name": "flannel", "mtu": 9000}))["Backend"] == {"Type": "vxlan", "MTU": 9000}
    assert "MTU" not in net_conf(cni_spec({"name": "flannel"}))["Backend"]


def test_flannel_follows_kube_proxy_into_nftables() -> None:
    assert net_conf(cni_spec({"name": "flannel"}, kubeProxy={"mode": "nftables"}))["EnableNFTables"] is True


def test_flannel_objects_are_what_it_needs_and_no_more() -> None:
    objs = flannel_of(cni_spec({"name": "flannel"}))
    assert set(objs) == {
        ("Namespace", "kube-flannel"),
        ("ServiceAccount", "flannel"),
        ("ClusterRole", "flannel"),
        ("ClusterRoleBinding", "flannel"),
        ("ConfigMap", "kube-flannel-cfg"),
        ("DaemonSet", "kube-flannel-ds"),
    }
    ns = objs[("Namespace", "kube-flannel")]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    rules = objs[("ClusterRole", "flannel")]["rules"]
    verbs = {(r["resources"][0], v) for r in rules for v in r["verbs"]}
    assert verbs == {
        ("pods", "get"),
        ("nodes", "get"),
        ("nodes", "list"),
        ("nodes", "watch"),
        ("nodes/status", "patch"),
    }
    cni = json.loads(objs[("ConfigMap", "kube-flannel-cfg")]["data"]["cni-conf.json"])
    assert [p["type"] for p in cni["plugins"]] == ["flannel", "portmap"]
    pod = objs[("DaemonSet", "kube-flannel-ds")]["spec"]["template"]["spec"]
    (main,) = pod["containers"]
    assert main["securityContext"] == {"privileged": False, "capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}}
    # SELinux hosts: the host paths flannel writes are not container_t's to write.
    assert pod["securityContext"] == {"seLinuxOptions": {"type": "spc_t", "level": "s0"}}
    assert "--kube-subnet-mgr" in main["args"] and pod["hostNetwork"] is True


def test_flannel_images_are_the_pinned_ones_and_follow_the_mirror() -> None:
    def images(spec: Any) -> set[str]:
        pod = flannel_of(spec)[("DaemonSet", "kube-flannel-ds")]["spec"]["template"]["spec"]
        return {c["image"] for c in pod["initContainers"] + pod["containers"]}

    assert images(cni_spec({"name": "flannel"})) == {
        "ghcr.io/flannel-io/flannel:v0.28.10",
        "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel1",
    }
    mirrored = cni_spec({"name": "flannel"}, images={"registry": MIRROR}, versions={"flannel": "0.28.9"})
    assert images(mirrored) == {
        f"{MIRROR}/flannel-io/flannel:v0.28.9",
        f"{MIRROR}/flannel-io/flannel-cni-plugin:v1.9.1-flannel1",
    }
    assert images(mirrored) == set(flannel.images(mirrored))


# --- calico -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "encapsulation", "bgp", "mtu"),
    [
        ("vxlan", "VXLAN", "Disabled", 1450),
        ("ipip", "IPIP", "Enabled", 1480),
        ("bgp", "None", "Enabled", 1500),
    ],
)
def test_calico_installation_pool_backend_and_pod_mtu(
    backend: str, encapsulation: str, bgp: str, mtu: int
) -> None:
    installation = charts.calico_installation(cni_spec({"name": "calico", "backend": backend, "mtu": 1500}))
    assert installation["apiVersion"] == "operator.tigera.io/v1" and installation["kind"] == "Installation"
    network = installation["spec"]["calicoNetwork"]
    (pool,) = network["ipPools"]
    assert pool["cidr"] == POD
    assert pool["encapsulation"] == encapsulation
    assert network["bgp"] == bgp
    assert network["mtu"] == mtu  # the pod MTU: node MTU less the encapsulation
    assert network["linuxDataplane"] == "Iptables"


def test_calico_values_embed_the_installation() -> None:
    spec = cni_spec({"name": "calico"})
    values = charts.calico_values(spec)
    installation = dict(values["installation"])
    assert installation.pop("enabled") is True
    assert installation == charts.calico_installation(spec)["spec"]
    assert "defaultFelixConfiguration" not in values  # auto: Felix detects the backend


@pytest.mark.parametrize(("backend", "felix"), [("nft", "NFT"), ("legacy", "Legacy")])
def test_calico_felix_iptables_backend(backend: str, felix: str) -> None:
    values = charts.calico_values(cni_spec({"name": "calico"}, iptablesBackend=backend))
    assert values["defaultFelixConfiguration"] == {"enabled": True, "iptablesBackend": felix}


def test_calico_nftables_dataplane_with_nftables_kube_proxy() -> None:
    spec = cni_spec({"name": "calico"}, kubeProxy={"mode": "nftables"})
    assert charts.calico_installation(spec)["spec"]["calicoNetwork"]["linuxDataplane"] == "Nftables"


def test_calico_images_from_the_mirror() -> None:
    values = charts.calico_values(cni_spec({"name": "calico"}, images={"registry": MIRROR}))
    assert values["installation"]["registry"] == MIRROR + "/"
    assert values["tigeraOperator"] == {"registry": MIRROR}


@pytest.mark.parametrize(("cni", "name"), [("calico", "tigera-operator")])
def test_release_namespace_is_created_and_allows_host_network_pods(cni: str, name: str) -> None:
    ns = charts.chart_namespace(cni)
    assert ns is not None and ns["metadata"]["name"] == name
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    plan = render_cni.plan(cni_spec({"name": cni}))
    assert plan.chart is not None and plan.chart.prerequisites == (ns,)


def test_cilium_lives_in_kube_system() -> None:
    assert charts.chart_namespace("cilium") is None
    plan = render_cni.plan(cni_spec({"name": "cilium"}))
    assert plan.chart is not None and plan.chart.prerequisites == ()


# --- cilium -----------------------------------------------------------------------------------


def test_cilium_kube_proxy_replacement_uses_the_real_api_endpoint() -> None:
    spec = cni_spec(
        {"name": "cilium", "kubeProxyReplacement": True},
        kubeProxy={"mode": "disabled"},
        apiEndpoint="api.example.internal:8443",
    )
    values = charts.cilium_values(spec)
    assert values["kubeProxyReplacement"] == "true"
    assert (values["k8sServiceHost"], values["k8sServicePort"]) == ("api.example.internal", 8443)
    assert charts.cilium_values(cni_spec({"name": "cilium"}))["kubeProxyReplacement"] == "false"


def test_cilium_ipam_cluster_pool_carries_pod_cidr_and_node_mask() -> None:
    values = charts.cilium_values(
        cni_spec({"name": "cilium", "ipam": "cluster-pool"}, network={"nodeCidrMaskSize": 25})
    )
    assert values["ipam"] == {
        "mode": "cluster-pool",
        "operator": {"clusterPoolIPv4PodCIDRList": [POD], "clusterPoolIPv4MaskSize": 25},
    }
    assert charts.cilium_values(cni_spec({"name": "cilium"}))["ipam"] == {"mode": "kubernetes"}


@pytest.mark.parametrize("backend", ["vxlan", "geneve"])
def test_cilium_tunnel(backend: str) -> None:
    values = charts.cilium_values(cni_spec({"name": "cilium", "backend": backend, "mtu": 9000}))
    assert (values["routingMode"], values["tunnelProtocol"]) == ("tunnel", backend)
    assert values["MTU"] == 9000
    assert "ipv4NativeRoutingCIDR" not in values


def test_cilium_native_routing_over_the_pod_cidr() -> None:
    values = charts.cilium_values(cni_spec({"name": "cilium", "backend": "native"}))
    assert values["routingMode"] == "native"
    assert values["ipv4NativeRoutingCIDR"] == POD
    assert values["autoDirectNodeRoutes"] is True
    assert "tunnelProtocol" not in values


def test_cilium_operator_replicas_fit_the_nodes() -> None:
    single = [{"name": "one", "address": "192.168.10.5", "roles": ["etcd", "control-plane", "worker"]}]
    assert charts.cilium_values(cni_spec({"name": "cilium"}, nodes=single))["operator"]["replicas"] == 1
    assert charts.cilium_values(cni_spec({"name": "cilium"}))["operator"]["replicas"] == 2


def test_cilium_images_from_the_mirror() -> None:
    values = charts.cilium_values(cni_spec({"name": "cilium"}, images={"registry": MIRROR}))
    assert values["image"]["repository"] == f"{MIRROR}/cilium/cilium"
    assert values["operator"]["image"]["repository"] == f"{MIRROR}/cilium/operator"
    assert values["envoy"]["image"]["repository"] == f"{MIRROR}/cilium/cilium-envoy"
    assert values["operator"]["replicas"] == 2  # merged, not replaced


# --- release manifests ------------------------------------------------------------------------


def canal_upstream() -> list[dict[str, Any]]:
    return manifests.parse_manifest(k8s_mock.CANAL_SHAPE.replace("{version}", "3.31.7"))


def weave_upstream() -> list[dict[str, Any]]:
    return manifests.parse_manifest(k8s_mock.WEAVE_SHAPE.replace("{version}", "2.8.1"))


def test_parse_manifest_expands_lists_and_skips_empty_documents() -> None:
    objs = manifests.parse_manifest(
        "---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: A}\n"
    )
    assert objs == [{"apiVersion": "v1", "kind": "A"}]
    with pytest.raises(manifests.ManifestShapeError):
        manifests.parse_manifest("just text\n")


def test_canal_net_conf_carries_pod_cidr_and_mtus() -> None:
    upstream = canal_upstream()
    objs = manifests.canal_objects(upstream, cni_spec({"name": "canal", "mtu": 1500}))
    config = find(objs, "ConfigMap", "canal-config")["data"]
    assert json.loads(config["net-conf.json"]) == {"Network": POD, "Backend": {"Type": "vxlan", "MTU": 1500}}
    assert config["veth_mtu"] == "1450"
    assert (
        "10.244.0.0/16" in find(upstream, "ConfigMap", "canal-config")["data"]["net-conf.json"]
    )  # untouched


def test_canal_without_mtu_keeps_detection() -> None:
    config = find(
        manifests.canal_objects(canal_upstream(), cni_spec({"name": "canal"})), "ConfigMap", "canal-config"
    )
    assert config["data"]["veth_mtu"] == "0"
    assert "MTU" not in json.loads(config["data"]["net-conf.json"])["Backend"]


@pytest.mark.parametrize(("backend", "felix"), [("auto", "Auto"), ("nft", "NFT"), ("legacy", "Legacy")])
def test_canal_felix_iptables_backend(backend: str, felix: str) -> None:
    objs = manifests.canal_objects(canal_upstream(), cni_spec({"name": "canal"}, iptablesBackend=backend))
    node_env = env(container(find(objs, "DaemonSet", "canal"), "calico-node"))
    assert node_env["FELIX_IPTABLESBACKEND"] == felix
    assert node_env["FELIX_IPTABLESREFRESHINTERVAL"] == "60"  # upstream's own settings kept
    assert "FELIX_NFTABLESMODE" not in node_env


def test_canal_nftables_kube_proxy() -> None:
    objs = manifests.canal_objects(
        canal_upstream(), cni_spec({"name": "canal"}, kubeProxy={"mode": "nftables"})
    )
    assert env(container(find(objs, "DaemonSet", "canal"), "calico-node"))["FELIX_NFTABLESMODE"] == "Enabled"
    assert (
        json.loads(find(objs, "ConfigMap", "canal-config")["data"]["net-conf.json"])["EnableNFTables"] is True
    )


def test_canal_images_mirrored_and_status_dropped() -> None:
    objs = manifests.canal_objects(canal_upstream(), cni_spec({"name": "canal"}, images={"registry": MIRROR}))
    pod = find(objs, "DaemonSet", "canal")["spec"]["template"]["spec"]
    images = [c["image"] for c in pod["initContainers"] + pod["containers"]]
    assert images == [
        f"{MIRROR}/calico/cni:v3.31.7",
        f"{MIRROR}/calico/node:v3.31.7",
        f"{MIRROR}/flannel/flannel:v0.26.7",
    ]
    controllers = find(objs, "Deployment", "calico-kube-controllers")
    assert (
        container(controllers, "calico-kube-controllers")["image"]
        == f"{MIRROR}/calico/kube-controllers:v3.31.7"
    )
    assert all("status" not in o for o in objs)


def test_canal_refuses_a_manifest_of_another_shape() -> None:
    upstream = [o for o in canal_upstream() if o["kind"] != "ConfigMap"]
    with pytest.raises(manifests.ManifestShapeError, match="canal-config"):
        manifests.canal_objects(upstream, cni_spec({"name": "canal"}))


def test_weave_env_carries_pod_cidr_mtu_backend_and_password() -> None:
    spec = cni_spec({"name": "weave", "mtu": 1500, "encryption": True}, iptablesBackend="nft")
    objs = manifests.weave_objects(weave_upstream(), spec)
    weave_env = env(container(find(objs, "DaemonSet", "weave-net"), "weave"))
    assert weave_env["IPALLOC_RANGE"] == POD
    assert weave_env["WEAVE_MTU"] == "1376"
    assert weave_env["IPTABLES_BACKEND"] == "nft"
    assert weave_env["WEAVE_PASSWORD"] == {"secretKeyRef": {"name": "weave-passwd", "key": "weave-passwd"}}
    assert weave_env["INIT_CONTAINER"] == "true"


def test_weave_defaults_leave_detection_to_weave() -> None:
    weave_env = env(
        container(
            find(
                manifests.weave_objects(weave_upstream(), cni_spec({"name": "weave"})),
                "DaemonSet",
                "weave-net",
            ),
            "weave",
        )
    )
    assert set(weave_env) == {"INIT_CONTAINER", "IPALLOC_RANGE"}


def test_weave_docker_hub_images_mirrored() -> None:
    objs = manifests.weave_objects(weave_upstream(), cni_spec({"name": "weave"}, images={"registry": MIRROR}))
    pod = find(objs, "DaemonSet", "weave-net")["spec"]["template"]["spec"]
    assert [c["image"] for c in pod["initContainers"] + pod["containers"]] == [
        f"{MIRROR}/weaveworks/weave-kube:2.8.1",
        f"{MIRROR}/weaveworks/weave-kube:2.8.1",
        f"{MIRROR}/weaveworks/weave-npc:2.8.1",
    ]


def test_manifest_objects_parse_and_adapt_text() -> None:
    text = yaml.safe_dump_all(weave_upstream())
    objs = manifests.manifest_objects(cni_spec({"name": "weave"}), text)
    assert POD in strings(objs)


# --- by construction --------------------------------------------------------------------------


def rendered(spec: ClusterSpec) -> Any:
    plan = render_cni.plan(spec)
    if plan.chart is not None:
        return plan.chart.values
    if plan.objects:
        return list(plan.objects)
    upstream = {"canal": canal_upstream, "weave": weave_upstream}[spec.cni.name]()
    return manifests.MANIFEST_TRANSFORMS[spec.cni.name](upstream, spec)


@pytest.mark.parametrize("cni", ["flannel", "calico", "canal", "weave", "cilium"])
@pytest.mark.parametrize("pod", ["10.42.0.0/16", "172.20.0.0/14"])
def test_every_cni_carries_the_stacks_pod_cidr_and_no_other(cni: str, pod: str) -> None:
    options: dict[str, Any] = {"name": cni}
    if cni == "cilium":
        options["ipam"] = "cluster-pool"  # with ipam kubernetes cilium takes node podCIDRs instead
    found = " ".join(strings(rendered(cni_spec(options, network={"podCidr": pod}))))
    assert pod in found
    for other in ("10.244.0.0/16", "10.42.0.0/16", "172.20.0.0/14", "10.32.0.0/12"):
        if other != pod:
            assert other not in found
