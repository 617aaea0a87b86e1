"""TLS bootstrapping objects for the API server, as plain dicts (components/bootstrap.py applies them).

Sources: kubernetes.io docs "Authenticating with Bootstrap Tokens" and "TLS bootstrapping";
kubeadm's phases/bootstraptoken (the same bindings, under kubeadm: names).

- bootstrap-token-<id> Secret in kube-system: kubelets authenticate with it as
  system:bootstrap:<id> in group system:bootstrappers. No expiration: new nodes join with it
  on any later `pulumi up`; rotating it is `pulumi up --replace` of Pki's token resources.
- cluster-info ConfigMap in kube-public with a kubeconfig holding only the server and the CA,
  readable by system:anonymous (kubeadm-style discovery; it takes effect only where the API
  server admits anonymous requests to it).
- system:bootstrappers may create CSRs (system:node-bootstrapper) and have their node client
  CSRs auto-approved (...:nodeclient); nodes may renew their own client certs (...:selfnodeclient).
- Our CSR approver may read CSRs and approve kubelet-serving ones, nothing else.
- The API server's kubelet client identity gets the kubelet API (system:kubelet-api-admin).
"""

from __future__ import annotations

import base64
from typing import Any

from render import yaml_dump
from render.csr_policy import ALLOW_NAMESPACE, NODES_GROUP, SIGNER
from render.pki_plan import APISERVER_KUBELET_CLIENT_CN, CSR_APPROVER_CN
from spec.model import ClusterSpec

RBAC = "rbac.authorization.k8s.io"
PREFIX = "k8s-from-scratch"
BOOTSTRAPPERS = "system:bootstrappers"
EXTRA_GROUP = f"{BOOTSTRAPPERS}:{PREFIX}:default-node-token"
NODE_CLIENT_ROLE = "system:certificates.k8s.io:certificatesigningrequests:nodeclient"
SELF_NODE_CLIENT_ROLE = "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"


def token_secret_name(token_id: str) -> str:
    return f"bootstrap-token-{token_id}"


def bootstrap_token_secret(token_id: str, token_secret: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": token_secret_name(token_id), "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "stringData": {
            "description": "kubelet TLS bootstrap token of k8s-from-scratch",
            "token-id": token_id,
            "token-secret": token_secret,
            "usage-bootstrap-authentication": "true",
            "usage-bootstrap-signing": "true",
            "auth-extra-groups": EXTRA_GROUP,
        },
    }


def cluster_info_kubeconfig(spec: ClusterSpec, ca_pem: str) -> str:
    """The server and its CA, no credentials: all a joining node needs to trust the API."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "",
                "cluster": {
                    "server": spec.api_endpoint.url,
                    "certificate-authority-data": base64.b64encode(ca_pem.encode()).decode(),
                },
            }
        ],
        "contexts": [],
        "current-context": "",
        "preferences": {},
        "users": [],
    }
    return yaml_dump.dump(doc, sort_keys=False)


def cluster_info_configmap(spec: ClusterSpec, ca_pem: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cluster-info", "namespace": "kube-public"},
        "data": {"kubeconfig": cluster_info_kubeconfig(spec, ca_pem)},
    }


def _binding(name: str, role: str, kind: str, subject: str, cluster: bool = True) -> dict[str, Any]:
    subj: dict[str, str] = {"kind": kind, "name": subject}
    if kind in ("User", "Group"):
        subj["apiGroup"] = RBAC
    obj: dict[str, Any] = {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRoleBinding" if cluster else "RoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole" if cluster else "Role", "name": role},
        "subjects": [subj],
    }
    return obj


def cluster_info_rbac() -> list[dict[str, Any]]:
    name = f"{PREFIX}:cluster-info-reader"
    role: dict[str, Any] = {
        "apiVersion": f"{RBAC}/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": "kube-public"},
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": ["cluster-info"],
                "verbs": ["get"],
            }
        ],
    }
    binding = _binding(
        f"{PREFIX}:cluster-info-reader", role["metadata"]["name"], "User", "system:anonymous", False
    )
    binding["metadata"]["namespace"] = "kube-public"
    return [role, binding]


def node_bootstrap_rbac() -> list[dict[str, Any]]:
    return [
        _binding(f"{PREFIX}:node-bootstrapper", "system:node-bootstrapper", "Group", BOOTSTRAPPERS),
        _binding(f"{PREFIX}:node-autoapprove-bootstrap", NODE_CLIENT_ROLE, "Group", BOOTSTRAPPERS),
        _binding(
            f"{PREFIX}:node-autoapprove-certificate-rotation", SELF_NODE_CLIENT_ROLE, "Group", NODES_GROUP
        ),
    ]


def csr_approver_rbac() -> list[dict[str, Any]]:
    name = f"{PREFIX}:csr-approver"
    role = {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": [
            {
                "apiGroups": ["certificates.k8s.io"],
                "resources": ["certificatesigningrequests"],
                "verbs": ["get", "list", "watch"],
            },
            {
                "apiGroups": ["certificates.k8s.io"],
                "resources": ["certificatesigningrequests/approval"],
                "verbs": ["update"],
            },
            {
                "apiGroups": ["certificates.k8s.io"],
                "resources": ["signers"],
                "resourceNames": [SIGNER],
                "verbs": ["approve"],
            },
            # The approver admits nodes and removes the Node object of one that leaves the stack
            # (render.csr_policy.forget_node_command): nothing else deletes it.
            {"apiGroups": [""], "resources": ["nodes"], "verbs": ["delete"]},
        ],
    }
    # Each node's allow list (render.csr_policy.allow_configmap): read, never written.
    lists: dict[str, Any] = {
        "apiVersion": f"{RBAC}/v1",
        "kind": "Role",
        "metadata": {"name": f"{name}-allow-lists", "namespace": ALLOW_NAMESPACE},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
    }
    lists_binding = _binding(f"{name}-allow-lists", f"{name}-allow-lists", "User", CSR_APPROVER_CN, False)
    lists_binding["metadata"]["namespace"] = ALLOW_NAMESPACE
    return [role, _binding(name, name, "User", CSR_APPROVER_CN), lists, lists_binding]


def allow_namespace() -> dict[str, Any]:
    """Where the approver's allow lists live (before the RBAC objects in it)."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": ALLOW_NAMESPACE, "labels": {"app.kubernetes.io/managed-by": "k8s-from-scratch"}},
    }


def apiserver_kubelet_rbac() -> list[dict[str, Any]]:
    """kube-apiserver -> kubelet (logs, exec, metrics): the kubelet API only, not cluster-admin."""
    return [
        _binding(
            f"{PREFIX}:apiserver-kubelet-client",
            "system:kubelet-api-admin",
            "User",
            APISERVER_KUBELET_CLIENT_CN,
        )
    ]


def rbac_objects() -> list[dict[str, Any]]:
    return [*cluster_info_rbac(), *node_bootstrap_rbac(), *csr_approver_rbac(), *apiserver_kubelet_rbac()]
