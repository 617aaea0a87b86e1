"""flannel, rendered here as data: no chart repository or release manifest is fetched at `up` time
(an air-gapped site has neither), and the images come through `images.registry` like every other.

The objects are the ones flannel's own kube-flannel.yml deploys at the pinned version: a
privileged namespace, a ServiceAccount with read access to nodes and the right to patch their
status, the net-conf/cni-conf ConfigMap and the DaemonSet whose init containers drop the `flannel`
CNI binary and the CNI config on every node. flanneld runs with --kube-subnet-mgr: it reads each
node's podCIDR, which kube-controller-manager allocates (--allocate-node-cidrs).
"""

from __future__ import annotations

import json
from typing import Any

from render.cni.images import mirror_image
from spec import defaults as d
from spec.model import ClusterSpec

Obj = dict[str, Any]

NAMESPACE = "kube-flannel"
NAME = "flannel"
DAEMONSET = "kube-flannel-ds"
CONFIGMAP = "kube-flannel-cfg"
CNI_CONF = "10-flannel.conflist"
HEALTHZ_PORT = 8081
IMAGE = "ghcr.io/flannel-io/flannel"
CNI_PLUGIN_IMAGE = "ghcr.io/flannel-io/flannel-cni-plugin"
LABELS = {"k8s-app": NAME}


def images(spec: ClusterSpec) -> list[str]:
    """The images the DaemonSet runs, as nodes pull them."""
    return [
        mirror_image(f"{IMAGE}:v{spec.versions.flannel}", spec.images.registry),
        mirror_image(f"{CNI_PLUGIN_IMAGE}:v{spec.versions.flannel_cni_plugin}", spec.images.registry),
    ]


def net_conf(spec: ClusterSpec) -> dict[str, Any]:
    backend: dict[str, Any] = {"Type": spec.cni.backend or d.CNI_DEFAULT_BACKEND["flannel"]}
    if spec.cni.mtu is not None:
        backend["MTU"] = spec.cni.mtu  # flannel subtracts its encapsulation from this
    conf: dict[str, Any] = {
        "Network": spec.network.pod_cidr,
        # flannel programs nftables itself when kube-proxy does: both must use the same filter.
        "EnableNFTables": spec.kube_proxy.mode == "nftables",
        "Backend": backend,
    }
    return conf


def cni_conf() -> dict[str, Any]:
    return {
        "name": "cbr0",
        "cniVersion": "0.3.1",
        "plugins": [
            {"type": "flannel", "delegate": {"hairpinMode": True, "isDefaultGateway": True}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def _meta(name: str, namespace: str | None = NAMESPACE, labels: dict[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name, "labels": dict(labels or LABELS)}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _host_path(name: str, path: str, kind: str | None = None) -> Obj:
    host: Obj = {"path": path, **({"type": kind} if kind else {})}
    return {"name": name, "hostPath": host}


def daemonset(spec: ClusterSpec) -> Obj:
    flannel, plugin = images(spec)
    pod_labels = {"app": NAME, "tier": "node"}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": _meta(DAEMONSET, labels={**LABELS, **pod_labels}),
        "spec": {
            "selector": {"matchLabels": {"app": NAME}},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "hostNetwork": True,
                    "priorityClassName": "system-node-critical",
                    "serviceAccountName": NAME,
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    # Every node, control planes and tainted ones included: pods everywhere need it.
                    "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}],
                    # On an SELinux host container_t may not write /opt/cni/bin, /etc/cni/net.d or
                    # /run/flannel: these containers run as spc_t, as Cilium's chart runs its
                    # unprivileged agent. Hosts without SELinux ignore it; Pod Security allows it
                    # in this (privileged) namespace only.
                    "securityContext": {"seLinuxOptions": {"type": "spc_t", "level": "s0"}},
                    "initContainers": [
                        {
                            "name": "install-cni-plugin",
                            "image": plugin,
                            "command": ["cp"],
                            "args": ["-f", "/flannel", "/opt/cni/bin/flannel"],
                            "volumeMounts": [{"name": "cni-plugin", "mountPath": "/opt/cni/bin"}],
                        },
                        {
                            "name": "install-cni",
                            "image": flannel,
                            "command": ["cp"],
                            "args": ["-f", "/etc/kube-flannel/cni-conf.json", f"/etc/cni/net.d/{CNI_CONF}"],
                            "volumeMounts": [
                                {"name": "cni", "mountPath": "/etc/cni/net.d"},
                                {"name": "flannel-cfg", "mountPath": "/etc/kube-flannel/"},
                            ],
                        },
                    ],
                    "containers": [
                        {
                            "name": "kube-flannel",
                            "image": flannel,
                            "command": ["/opt/bin/flanneld"],
                            "args": ["--ip-masq", "--kube-subnet-mgr", f"--healthz-port={HEALTHZ_PORT}"],
                            "ports": [{"name": "healthz", "containerPort": HEALTHZ_PORT, "protocol": "TCP"}],
                            "livenessProbe": {
                                "httpGet": {"path": "/healthz", "port": "healthz"},
                                "initialDelaySeconds": 10,
                                "periodSeconds": 30,
                            },
                            "readinessProbe": {
                                "httpGet": {"path": "/readyz", "port": "healthz"},
                                "initialDelaySeconds": 5,
                                "periodSeconds": 10,
                            },
                            "resources": {"requests": {"cpu": "100m", "memory": "50Mi"}},
                            "securityContext": {
                                "privileged": False,
                                "capabilities": {"add": ["NET_ADMIN", "NET_RAW"]},
                            },
                            "env": [
                                {
                                    "name": "POD_NAME",
                                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                                },
                                {
                                    "name": "POD_NAMESPACE",
                                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                                },
                                {"name": "EVENT_QUEUE_DEPTH", "value": "5000"},
                            ],
                            "volumeMounts": [
                                {"name": "run", "mountPath": "/run/flannel"},
                                {"name": "flannel-cfg", "mountPath": "/etc/kube-flannel/"},
                                {"name": "xtables-lock", "mountPath": "/run/xtables.lock"},
                            ],
                        }
                    ],
                    "volumes": [
                        _host_path("run", "/run/flannel"),
                        _host_path("cni-plugin", "/opt/cni/bin"),
                        _host_path("cni", "/etc/cni/net.d"),
                        {"name": "flannel-cfg", "configMap": {"name": CONFIGMAP}},
                        _host_path("xtables-lock", "/run/xtables.lock", "FileOrCreate"),
                    ],
                },
            },
        },
    }


def objects(spec: ClusterSpec) -> list[Obj]:
    """Every object flannel needs, in the order they can be applied."""
    rbac = "rbac.authorization.k8s.io"
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": NAMESPACE,
                # flannel needs host paths and NET_ADMIN: only this namespace may run such pods.
                "labels": {**LABELS, "pod-security.kubernetes.io/enforce": "privileged"},
            },
        },
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(NAME)},
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "ClusterRole",
            "metadata": _meta(NAME, namespace=None),
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]},
            ],
        },
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta(NAME, namespace=None),
            "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": NAME},
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta(CONFIGMAP),
            "data": {
                "cni-conf.json": json.dumps(cni_conf(), indent=2) + "\n",
                "net-conf.json": json.dumps(net_conf(spec), indent=2) + "\n",
            },
        },
        daemonset(spec),
    ]
