"""What the chosen CNI needs applied, as data: objects rendered here (flannel), a Helm chart with
values, a release manifest to fetch and adapt, or nothing at all (with a notice that says why nodes
stay NotReady)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from render.cni import charts, flannel, manifests
from spec import defaults as d
from spec.model import ClusterSpec

KUBELET_NOT_READY = (
    "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
    "message:Network plugin returns error: cni plugin not initialized"
)


@dataclass(frozen=True)
class ChartPlan:
    source: charts.ChartSource
    namespace: str
    release: str
    values: dict[str, Any]
    prerequisites: tuple[dict[str, Any], ...] = ()  # objects the chart needs first (its namespace)


@dataclass(frozen=True)
class CniPlan:
    name: str
    chart: ChartPlan | None = None
    manifest_url: str | None = None  # fetch, then manifests.manifest_objects(spec, text)
    objects: tuple[dict[str, Any], ...] = ()  # rendered here, applied one typed resource each
    notices: tuple[str, ...] = field(default_factory=tuple)  # said in the preview and outputs


def none_notice(spec: ClusterSpec) -> str:
    return (
        "cni.name is none: no pod network is installed, on purpose. Every node stays NotReady "
        f'("{KUBELET_NOT_READY}") and every pod that is not host-network stays Pending, CoreDNS '
        "included: the kubelet reports Ready only once the container runtime finds a CNI network "
        "config in /etc/cni/net.d, and only a CNI can wire pods to the network. The control plane "
        "and kubectl work. Install a CNI yourself with pod CIDR "
        f"{spec.network.pod_cidr} to make the nodes Ready."
    )


def weave_notice(spec: ClusterSpec) -> str:
    return (
        f"{d.ARCHIVED_CNIS['weave']}: Weave Net {spec.versions.weave} is its last release and gets no "
        "fixes. It is supported here for the installations that already run it; plan a move to "
        "flannel, calico or cilium (or point cni.manifestUrl at a maintained fork's manifest)."
    )


def plan(spec: ClusterSpec) -> CniPlan:
    name = spec.cni.name
    if name == "none":
        return CniPlan(name, notices=(none_notice(spec),))
    if name == "flannel":
        return CniPlan(name, objects=tuple(flannel.objects(spec)))
    if name in charts.CHART_VALUES:
        namespace = charts.chart_namespace(name)
        prerequisites = (namespace,) if namespace is not None else ()
        chart = ChartPlan(
            source=charts.chart_source(spec, name),
            namespace=charts.CHART_NAMESPACE[name],
            release=charts.CHART_RELEASE[name],
            values=charts.CHART_VALUES[name](spec),
            prerequisites=prerequisites,
        )
        return CniPlan(name, chart=chart)
    notices = (weave_notice(spec),) if name == "weave" else ()
    return CniPlan(name, manifest_url=manifests.manifest_url(spec), notices=notices)
