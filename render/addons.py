"""Cluster addons as plain Kubernetes objects: CoreDNS, the Kata RuntimeClass, the smoke test.

Pure data (no Pulumi): components.addons applies them, and a lab test can hand the same dicts to
`kubectl apply --dry-run=server`. Images go through the `images.registry` mirror.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from render.cni.images import mirror_image
from render.scripts import body
from spec import defaults as d
from spec.model import ClusterSpec

Obj = dict[str, Any]
NAMESPACE = "kube-system"
DNS_LABELS = {"k8s-app": "kube-dns"}
CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane"
COREDNS_REPLICAS = 2
KATA_RUNTIME_CLASS = "kata"
# containerd: the runtime table `kata` (runtime_type io.containerd.kata.v2); CRI-O: the
# [crio.runtime.runtimes.kata] table. The handler must equal that name on every node.
KATA_HANDLER = "kata"
KATA_OVERHEAD = {"cpu": "250m", "memory": "160Mi"}  # the VM's cost, as kata-deploy declares it
SMOKE_NAMESPACE = "k8s-from-scratch-smoke"
SMOKE_SERVER = "smoke-server"
SMOKE_CHECK = "smoke-check"
SMOKE_PORT = 8080


def coredns_image(spec: ClusterSpec) -> str:
    return mirror_image(f"registry.k8s.io/coredns/coredns:v{spec.versions.coredns}", spec.images.registry)


def corefile(spec: ClusterSpec) -> str:
    """kubeadm's Corefile, serving the stack's cluster domain."""
    domain = spec.network.cluster_domain
    return f""".:53 {{
    errors
    health {{
        lameduck 5s
    }}
    ready
    kubernetes {domain} in-addr.arpa ip6.arpa {{
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    prometheus :9153
    forward . /etc/resolv.conf {{
        max_concurrent 1000
    }}
    cache 30 {{
        disable success {domain}
        disable denial {domain}
    }}
    loop
    reload
    loadbalance
}}
"""


def _meta(name: str, namespace: str | None = NAMESPACE, labels: dict[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    return meta


def coredns_objects(spec: ClusterSpec) -> list[Obj]:
    """CoreDNS as kubeadm deploys it, serving the stack's cluster domain on dnsServiceIp."""
    service_account: Obj = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta("coredns")}
    role: Obj = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _meta("system:coredns", None),
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["endpoints", "services", "pods", "namespaces"],
                "verbs": ["list", "watch"],
            },
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
        ],
    }
    binding: Obj = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": _meta("system:coredns", None),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"},
        "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": NAMESPACE}],
    }
    config: Obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta("coredns"),
        "data": {"Corefile": corefile(spec)},
    }
    container: Obj = {
        "name": "coredns",
        "image": coredns_image(spec),
        "imagePullPolicy": "IfNotPresent",
        "args": ["-conf", "/etc/coredns/Corefile"],
        "resources": {"limits": {"memory": "170Mi"}, "requests": {"cpu": "100m", "memory": "70Mi"}},
        "ports": [
            {"name": "dns", "containerPort": 53, "protocol": "UDP"},
            {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9153, "protocol": "TCP"},
            {"name": "liveness-probe", "containerPort": 8080, "protocol": "TCP"},
            {"name": "readiness-probe", "containerPort": 8181, "protocol": "TCP"},
        ],
        "livenessProbe": {
            "httpGet": {"path": "/health", "port": "liveness-probe", "scheme": "HTTP"},
            "initialDelaySeconds": 60,
            "timeoutSeconds": 5,
            "successThreshold": 1,
            "failureThreshold": 5,
        },
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "readiness-probe", "scheme": "HTTP"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
        },
        "volumeMounts": [{"name": "config-volume", "mountPath": "/etc/coredns", "readOnly": True}],
    }
    deployment: Obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta("coredns", labels=DNS_LABELS),
        "spec": {
            "replicas": COREDNS_REPLICAS,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "selector": {"matchLabels": dict(DNS_LABELS)},
            "template": {
                "metadata": {"labels": dict(DNS_LABELS)},
                "spec": {
                    "priorityClassName": "system-cluster-critical",
                    "serviceAccountName": "coredns",
                    # Spread the replicas so one node going down does not take DNS with it.
                    "affinity": {
                        "podAntiAffinity": {
                            "preferredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "weight": 100,
                                    "podAffinityTerm": {
                                        "labelSelector": {"matchLabels": dict(DNS_LABELS)},
                                        "topologyKey": "kubernetes.io/hostname",
                                    },
                                }
                            ]
                        }
                    },
                    "tolerations": [
                        {"key": "CriticalAddonsOnly", "operator": "Exists"},
                        {"key": CONTROL_PLANE_TAINT, "effect": "NoSchedule"},
                    ],
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    # CoreDNS forwards to the node's resolver, not to itself.
                    "dnsPolicy": "Default",
                    "containers": [container],
                    "volumes": [
                        {
                            "name": "config-volume",
                            "configMap": {
                                "name": "coredns",
                                "items": [{"key": "Corefile", "path": "Corefile"}],
                            },
                        }
                    ],
                },
            },
        },
    }
    service: Obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            **_meta("kube-dns", labels={**DNS_LABELS, "kubernetes.io/name": "CoreDNS"}),
            "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"},
        },
        "spec": {
            # The address every kubelet hands pods as their resolver (KubeletConfiguration clusterDNS).
            "clusterIP": spec.network.dns_service_ip,
            "selector": dict(DNS_LABELS),
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
            ],
        },
    }
    budget: Obj = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta("coredns", labels=DNS_LABELS),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": dict(DNS_LABELS)}},
    }
    return [service_account, role, binding, config, deployment, service, budget]


def runtime_class_objects(spec: ClusterSpec) -> list[Obj]:
    if not spec.runtime.kata:
        return []
    return [
        {
            "apiVersion": "node.k8s.io/v1",
            "kind": "RuntimeClass",
            "metadata": {"name": KATA_RUNTIME_CLASS},
            "handler": KATA_HANDLER,
            "overhead": {"podFixed": dict(KATA_OVERHEAD)},
        }
    ]


def smoke_cross_node(spec: ClusterSpec) -> bool:
    """Pod-to-pod across nodes needs two nodes that take ordinary pods (workers)."""
    return len(spec.worker_nodes) >= 2


def smoke_script() -> str:
    return body("addons/smoke-check.sh")  # a static script: the Job passes its settings as env


def _restricted_pod() -> Obj:
    """Pod-level settings the `restricted` Pod Security level requires."""
    return {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "runAsGroup": 65534,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
    }


RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def smoke_objects(spec: ClusterSpec) -> list[Obj]:
    """The opt-in smoke test: an echo server pod and a Job on another node that checks cluster
    DNS and reaches the server's pod IP. Pulumi waits for the Job, so `up` fails if it fails."""
    if not spec.addons.smoke_test:
        return []
    image = mirror_image(d.SMOKE_TEST_IMAGE, spec.images.registry)
    server_labels = {"app.kubernetes.io/name": SMOKE_SERVER}
    check_labels = {"app.kubernetes.io/name": SMOKE_CHECK}
    namespace: Obj = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": SMOKE_NAMESPACE,
            "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
        },
    }
    server: Obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(SMOKE_SERVER, SMOKE_NAMESPACE, server_labels),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dict(server_labels)},
            "template": {
                "metadata": {"labels": dict(server_labels)},
                "spec": {
                    **_restricted_pod(),
                    "containers": [
                        {
                            "name": "echo",
                            "image": image,
                            "args": ["netexec", f"--http-port={SMOKE_PORT}"],
                            "ports": [{"name": "http", "containerPort": SMOKE_PORT, "protocol": "TCP"}],
                            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
                            "securityContext": dict(RESTRICTED_CONTAINER),
                        }
                    ],
                },
            },
        },
    }
    # Headless: the name resolves to the pod's own IP, so the check goes pod to pod, not via
    # kube-proxy.
    headless: Obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(SMOKE_SERVER, SMOKE_NAMESPACE, server_labels),
        "spec": {
            "clusterIP": "None",
            "selector": dict(server_labels),
            "ports": [{"name": "http", "port": SMOKE_PORT, "protocol": "TCP", "targetPort": "http"}],
        },
    }
    cross_node = smoke_cross_node(spec)
    away_from_server = {
        "labelSelector": {"matchLabels": dict(server_labels)},
        "topologyKey": "kubernetes.io/hostname",
    }
    affinity = (
        {"requiredDuringSchedulingIgnoredDuringExecution": [away_from_server]}
        if cross_node
        else {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": away_from_server}
            ]
        }
    )
    family = ipaddress.ip_address(spec.network.api_service_ip).version
    env = {
        "DOMAIN": spec.network.cluster_domain,
        "API_IP": spec.network.api_service_ip,
        "DNS_IP": spec.network.dns_service_ip,
        "RECORD": "A" if family == 4 else "AAAA",
        "SERVER": SMOKE_SERVER,
        "NAMESPACE": SMOKE_NAMESPACE,
        "PORT": str(SMOKE_PORT),
        "WHERE": "on another node" if cross_node else "(one worker: same node)",
    }
    check: Obj = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(SMOKE_CHECK, SMOKE_NAMESPACE, check_labels),
        "spec": {
            "backoffLimit": 3,
            "activeDeadlineSeconds": 600,
            "template": {
                "metadata": {"labels": dict(check_labels)},
                "spec": {
                    **_restricted_pod(),
                    "restartPolicy": "Never",
                    "affinity": {"podAntiAffinity": affinity},
                    "containers": [
                        {
                            "name": "check",
                            "image": image,
                            "command": ["/bin/sh", "-c", smoke_script(), "smoke-check"],
                            "env": [{"name": k, "value": v} for k, v in env.items()],
                            "securityContext": dict(RESTRICTED_CONTAINER),
                        }
                    ],
                },
            },
        },
    }
    return [namespace, server, headless, check]


def all_objects(spec: ClusterSpec) -> list[Obj]:
    """Every addon object the spec asks for (what a server-side dry-run should accept)."""
    coredns = coredns_objects(spec) if spec.addons.coredns else []
    return [*coredns, *runtime_class_objects(spec), *smoke_objects(spec)]
