"""Helm values for the chart-installed CNIs (calico via the Tigera operator, cilium).

Each function is the whole contract between the stack spec and the upstream chart: the pod
CIDR, backend, MTU, iptables/nftables mode, kube-proxy replacement and image mirror all arrive
here and nowhere else. Values keys follow the charts' values.yaml at the pinned versions.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from render.cni.images import mirror_repository
from spec import defaults as d
from spec.model import ClusterSpec

# Chart versions are the pinned CNI versions; the Tigera operator tags its "v...".
CHART_VERSION_PREFIX = {"calico": "v", "cilium": ""}
CHART_NAMESPACE = {"calico": "tigera-operator", "cilium": "kube-system"}
CHART_RELEASE = {"calico": "calico", "cilium": "cilium"}

# Image repositories the charts deploy by default (their tags stay the chart's own).
CILIUM_IMAGES = {
    ("image",): "quay.io/cilium/cilium",
    ("operator", "image"): "quay.io/cilium/operator",  # the chart appends -generic
    ("envoy", "image"): "quay.io/cilium/cilium-envoy",
    ("certgen", "image"): "quay.io/cilium/certgen",
    ("hubble", "relay", "image"): "quay.io/cilium/hubble-relay",
    ("hubble", "ui", "backend", "image"): "quay.io/cilium/hubble-ui-backend",
    ("hubble", "ui", "frontend", "image"): "quay.io/cilium/hubble-ui",
    ("preflight", "image"): "quay.io/cilium/cilium",
    ("clustermesh", "apiserver", "image"): "quay.io/cilium/clustermesh-apiserver",
}
CALICO_ENCAPSULATION = {"vxlan": "VXLAN", "ipip": "IPIP", "bgp": "None"}
CALICO_IPTABLES_BACKEND = {"nft": "NFT", "legacy": "Legacy", "auto": "Auto"}


@dataclass(frozen=True)
class ChartSource:
    """Where Helm gets the chart: a repository + chart name + version, an OCI reference, or a
    packaged chart on the machine running Pulumi (then the file name carries the version)."""

    chart: str
    version: str | None
    repository: str | None


def chart_version(spec: ClusterSpec, cni: str) -> str:
    return CHART_VERSION_PREFIX[cni] + getattr(spec.versions, cni)


def chart_source(spec: ClusterSpec, cni: str) -> ChartSource:
    repo, name = d.CNI_CHARTS[cni]
    version = chart_version(spec, cni)
    override = spec.cni.chart_repository
    if override is None or override.startswith(("https://", "http://")):
        return ChartSource(name, version, override or repo)
    if override.startswith("oci://"):
        return ChartSource(f"{override.rstrip('/')}/{name}", version, None)
    # A directory of `helm pull --version` output: <chart>-<version>.tgz, found by its file name.
    return ChartSource(f"{override.rstrip('/')}/{name}-{version}.tgz", None, None)


def pod_network(spec: ClusterSpec) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(spec.network.pod_cidr)


def pod_mtu(spec: ClusterSpec) -> int | None:
    """The MTU pods get: cni.mtu (the node network's) less the encapsulation; None = detect."""
    if spec.cni.mtu is None:
        return None
    return spec.cni.mtu - d.CNI_ENCAP_OVERHEAD.get((spec.cni.name, spec.cni.backend), 0)


def _set(values: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = values
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def _mirror_images(values: dict[str, Any], images: dict[tuple[str, ...], str], registry: str | None) -> None:
    if registry is None:
        return
    for path, repository in images.items():
        _set(values, (*path, "repository"), mirror_repository(repository, registry))


def calico_installation(spec: ClusterSpec) -> dict[str, Any]:
    """The operator.tigera.io/v1 Installation the Tigera operator turns into calico-node etc."""
    pod = pod_network(spec)
    backend = spec.cni.backend or d.CNI_DEFAULT_BACKEND["calico"]
    pool = {
        "name": f"default-ipv{pod.version}-ippool",
        "cidr": str(pod),
        "encapsulation": CALICO_ENCAPSULATION[backend],
        "natOutgoing": "Enabled",
        "nodeSelector": "all()",
        "blockSize": d.CALICO_BLOCK_PREFIX[pod.version],
    }
    network: dict[str, Any] = {
        # VXLAN needs no BGP; IP-in-IP and unencapsulated routing learn routes over BGP.
        "bgp": "Disabled" if backend == "vxlan" else "Enabled",
        # Felix must use the packet filter kube-proxy uses: both nftables, or both iptables.
        "linuxDataplane": "Nftables" if spec.kube_proxy.mode == "nftables" else "Iptables",
        "ipPools": [pool],
    }
    mtu = pod_mtu(spec)
    if mtu is not None:
        network["mtu"] = mtu  # Calico takes the pod (veth) MTU
    installation: dict[str, Any] = {
        "variant": "Calico",
        "cni": {"type": "Calico", "ipam": {"type": "Calico"}},
        "calicoNetwork": network,
    }
    if spec.images.registry is not None:
        # The operator composes <registry><imagePath>/<image>: keep calico's own path.
        installation["registry"] = spec.images.registry.rstrip("/") + "/"
    return {
        "apiVersion": "operator.tigera.io/v1",
        "kind": "Installation",
        "metadata": {"name": "default"},
        "spec": installation,
    }


def calico_values(spec: ClusterSpec) -> dict[str, Any]:
    values: dict[str, Any] = {"installation": {"enabled": True, **calico_installation(spec)["spec"]}}
    if spec.iptables_backend != "auto":
        # Felix detects the backend itself; an explicit choice goes into FelixConfiguration.
        values["defaultFelixConfiguration"] = {
            "enabled": True,
            "iptablesBackend": CALICO_IPTABLES_BACKEND[spec.iptables_backend],
        }
    if spec.images.registry is not None:
        values["tigeraOperator"] = {"registry": spec.images.registry.rstrip("/")}
    return values


def chart_namespace(cni: str) -> dict[str, Any] | None:
    """The release namespace when we must create it: Helm stores the release there before any
    chart object exists, and neither chart creates it. CNI pods are host-network, so Pod Security
    must allow them."""
    if CHART_NAMESPACE[cni] == "kube-system":
        return None
    name = CHART_NAMESPACE[cni]
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {"name": name, "pod-security.kubernetes.io/enforce": "privileged"},
        },
    }


def cilium_values(spec: ClusterSpec) -> dict[str, Any]:
    pod = pod_network(spec)
    v = pod.version
    cni = spec.cni
    backend = cni.backend or d.CNI_DEFAULT_BACKEND["cilium"]
    values: dict[str, Any] = {
        "kubeProxyReplacement": "true" if cni.kube_proxy_replacement else "false",
        # The real API endpoint: with kube-proxy replaced nothing else routes the API's ClusterIP,
        # and the agent must reach the API before any Service works.
        "k8sServiceHost": spec.api_endpoint.host,
        "k8sServicePort": spec.api_endpoint.port,
        "ipv4": {"enabled": v == 4},
        "ipv6": {"enabled": v == 6},
        # The operator's replicas refuse to share a node: more than there are nodes never get Ready.
        "operator": {"replicas": max(1, min(2, len(spec.kubelet_nodes)))},
    }
    if cni.ipam == "cluster-pool":
        values["ipam"] = {
            "mode": "cluster-pool",
            "operator": {
                f"clusterPoolIPv{v}PodCIDRList": [str(pod)],
                f"clusterPoolIPv{v}MaskSize": spec.network.node_cidr_mask_size,
            },
        }
    else:
        values["ipam"] = {"mode": "kubernetes"}  # node podCIDRs from kube-controller-manager
    if backend == "native":
        values["routingMode"] = "native"
        values[f"ipv{v}NativeRoutingCIDR"] = str(pod)
        values["autoDirectNodeRoutes"] = True
    else:
        values["routingMode"] = "tunnel"
        values["tunnelProtocol"] = backend
    if cni.mtu is not None:
        values["MTU"] = cni.mtu  # cilium takes the underlying network's MTU
    _mirror_images(values, CILIUM_IMAGES, spec.images.registry)
    return values


CHART_VALUES = {"calico": calico_values, "cilium": cilium_values}
