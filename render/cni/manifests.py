"""The release-manifest CNIs (canal, weave): upstream's manifest, fetched by version, with the
stack's pod CIDR, MTU, iptables mode and image mirror written into it.

Every edit names the object and field it changes and fails loudly when upstream's manifest no
longer has that shape, rather than applying a manifest that ignores the spec.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import yaml

from render.cni.charts import pod_mtu, pod_network
from render.cni.images import mirror_image
from spec import defaults as d
from spec.model import ClusterSpec

Obj = dict[str, Any]
FELIX_IPTABLES_BACKEND = {"nft": "NFT", "legacy": "Legacy", "auto": "Auto"}
WEAVE_PASSWORD_SECRET = "weave-passwd"  # kube-system Secret holding the encryption password
WEAVE_PASSWORD_KEY = "weave-passwd"
POD_SPEC_KINDS = ("DaemonSet", "Deployment", "StatefulSet", "Job")
MANIFEST_VERSION = {"canal": "calico", "weave": "weave"}  # canal ships with (and as) Calico


class ManifestShapeError(ValueError):
    """Upstream's manifest lacks an object or field we must set."""


def manifest_url(spec: ClusterSpec) -> str:
    if spec.cni.manifest_url is not None:
        url = spec.cni.manifest_url
        return f"file://{url}" if url.startswith("/") else url
    version = getattr(spec.versions, MANIFEST_VERSION[spec.cni.name])
    return d.CNI_MANIFEST_URLS[spec.cni.name].format(version=version)


def parse_manifest(text: str) -> list[Obj]:
    """Every object of a multi-document manifest, `kind: List` items expanded, empties dropped."""
    objects: list[Obj] = []
    for doc in yaml.safe_load_all(text):
        if not doc:
            continue
        if not isinstance(doc, dict) or "kind" not in doc:
            raise ManifestShapeError(f"manifest document is not a Kubernetes object: {str(doc)[:80]}")
        if doc["kind"] == "List":
            objects.extend(item for item in doc.get("items") or [] if item)
        else:
            objects.append(doc)
    return objects


def _find(objs: list[Obj], kind: str, name: str, what: str) -> Obj:
    for obj in objs:
        if obj.get("kind") == kind and obj.get("metadata", {}).get("name") == name:
            return obj
    raise ManifestShapeError(f"{what} has no {kind} {name!r}: is the manifest the pinned release?")


def _container(obj: Obj, name: str, what: str) -> Obj:
    for c in obj["spec"]["template"]["spec"].get("containers") or []:
        if c.get("name") == name:
            return c
    raise ManifestShapeError(f"{what}: {obj['kind']} {obj['metadata']['name']} has no container {name!r}")


def set_env(container: Obj, name: str, value: str | None = None, value_from: Obj | None = None) -> None:
    """Sets one environment variable, replacing an entry of the same name."""
    entry: Obj = {"name": name}
    entry.update({"value": value} if value_from is None else {"valueFrom": value_from})
    env = [e for e in container.get("env") or [] if e.get("name") != name]
    container["env"] = [*env, entry]


def mirror_pod_images(objs: list[Obj], registry: str | None) -> None:
    if registry is None:
        return
    for obj in objs:
        if obj.get("kind") not in POD_SPEC_KINDS:
            continue
        pod = obj["spec"]["template"]["spec"]
        for c in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
            c["image"] = mirror_image(c["image"], registry)


def _prepare(objs: list[Obj]) -> list[Obj]:
    out = copy.deepcopy(objs)
    for obj in out:
        obj.pop("status", None)  # server-owned; applying it only makes diffs
    return out


def canal_objects(objs: list[Obj], spec: ClusterSpec) -> list[Obj]:
    """calico's canal.yaml: flannel (vxlan) carries pods on the node podCIDRs, Calico enforces
    NetworkPolicy; both read the ConfigMap canal-config."""
    what = "calico's canal manifest"
    out = _prepare(objs)
    config = _find(out, "ConfigMap", "canal-config", what)
    backend: Obj = {"Type": spec.cni.backend or "vxlan"}
    if spec.cni.mtu is not None:
        backend["MTU"] = spec.cni.mtu  # flannel takes the external interface's MTU
    net_conf: Obj = {"Network": str(pod_network(spec)), "Backend": backend}
    if spec.kube_proxy.mode == "nftables":
        net_conf["EnableNFTables"] = True
    config["data"]["net-conf.json"] = json.dumps(net_conf, indent=2) + "\n"
    mtu = pod_mtu(spec)
    if mtu is not None:
        config["data"]["veth_mtu"] = str(mtu)  # Calico's CNI plugin takes the pod MTU
    node = _container(_find(out, "DaemonSet", "canal", what), "calico-node", what)
    set_env(node, "FELIX_IPTABLESBACKEND", FELIX_IPTABLES_BACKEND[spec.iptables_backend])
    if spec.kube_proxy.mode == "nftables":
        set_env(node, "FELIX_NFTABLESMODE", "Enabled")
    mirror_pod_images(out, spec.images.registry)
    return out


def weave_objects(objs: list[Obj], spec: ClusterSpec) -> list[Obj]:
    """Weave Net's weave-daemonset-k8s-1.11.yaml: IPALLOC_RANGE carries the pod CIDR."""
    what = "Weave Net's release manifest"
    out = _prepare(objs)
    weave = _container(_find(out, "DaemonSet", "weave-net", what), "weave", what)
    set_env(weave, "IPALLOC_RANGE", str(pod_network(spec)))
    mtu = pod_mtu(spec)
    if mtu is not None:
        set_env(weave, "WEAVE_MTU", str(mtu))
    if spec.iptables_backend != "auto":
        set_env(weave, "IPTABLES_BACKEND", spec.iptables_backend)  # "nft" or "legacy"
    if spec.cni.encryption:
        set_env(
            weave,
            "WEAVE_PASSWORD",
            value_from={"secretKeyRef": {"name": WEAVE_PASSWORD_SECRET, "key": WEAVE_PASSWORD_KEY}},
        )
    mirror_pod_images(out, spec.images.registry)
    return out


MANIFEST_TRANSFORMS: dict[str, Callable[[list[Obj], ClusterSpec], list[Obj]]] = {
    "canal": canal_objects,
    "weave": weave_objects,
}


def manifest_objects(spec: ClusterSpec, text: str) -> list[Obj]:
    """The objects to apply for a manifest CNI, from upstream's manifest text."""
    return MANIFEST_TRANSFORMS[spec.cni.name](parse_manifest(text), spec)
