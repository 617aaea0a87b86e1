"""TLS bootstrapping objects for the API server, as plain dicts (components/bootstrap.py applies them).

Sources: kubernetes.io docs "Authenticating with Bootstrap Tokens" and "TLS bootstrapping";
kubeadm's phases/bootstraptoken (the same bindings, under kubeadm: names).

- One token per kubelet node (a bootstrap-token-<id> Secret in kube-system): its kubelet
  authenticates with it as system:bootstrap:<id>, in group system:bootstrappers and our
  token group NODE_TOKEN_GROUP. It expires TOKEN_TTL_HOURS after it was issued (when the node
  was added), is removed from the node once kubelet has its client certificate, and can only
  get that node's certificate: our approver (render/csr_policy.py) approves a node client CSR
  only from the token its allow list names. The controller-manager's tokencleaner is off, so
  an expired Secret stays (inert) until its node leaves the stack: deleting it would be drift.
- cluster-info ConfigMap in kube-public with a kubeconfig holding only the server and the CA,
  readable by system:anonymous (kubeadm-style discovery; it takes effect only where the API
  server admits anonymous requests to it).
- NODE_TOKEN_GROUP may create CSRs (system:node-bootstrapper); nothing auto-approves them
  (no ...:nodeclient binding: the controller-manager would approve any node name for any
  token). Nodes may renew their own client certs (...:selfnodeclient, approved by the
  controller-manager, which checks that the requester is the node named).
- Our CSR approver may read CSRs and approve kubelet client and serving ones, nothing else.
- The API server's kubelet client identity gets the kubelet API (system:kubelet-api-admin).
- The exported admin's group k8s-from-scratch:cluster-admins gets cluster-admin.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from render import yaml_dump
from render.csr_policy import ALLOW_NAMESPACE, CLIENT_SIGNER, NODES_GROUP, SIGNER
from render.pki_plan import APISERVER_KUBELET_CLIENT_CN, CLUSTER_ADMINS_GROUP, CSR_APPROVER_CN
from spec.model import ClusterSpec

RBAC = "rbac.authorization.k8s.io"
PREFIX = "k8s-from-scratch"
BOOTSTRAPPERS = "system:bootstrappers"
# Every token we issue carries this group, and only it may create CSRs: a token made by anyone
# else for anything else (kubeadm's, say) gets no such right from us.
NODE_TOKEN_GROUP = f"{BOOTSTRAPPERS}:{PREFIX}:nodes"
SELF_NODE_CLIENT_ROLE = "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"
USER = "kubelet-bootstrap"  # the user's name inside a bootstrap kubeconfig (a label only)

# Long enough to retry a failed `pulumi up` the same day (kubeadm's default too); after it, the
# node's token is refreshed by replacing its `<bootstrap>-<node>-token-issued` resource.
TOKEN_TTL_HOURS = 24
# Run where `pulumi up` runs, once per token (a command's output stays as it was until the
# command is replaced): when the token was issued, in seconds since the epoch (POSIX `date`).
ISSUED_AT_COMMAND = "date -u +%s"
TOKEN_ID_LENGTH = 6
TOKEN_SECRET_LENGTH = 16


def split_token(value: str) -> tuple[str, str]:
    """One random [a-z0-9]{22} as (token id, token secret): the 6 + 16 characters of a token."""
    if len(value) != TOKEN_ID_LENGTH + TOKEN_SECRET_LENGTH:
        raise ValueError(f"a bootstrap token is {TOKEN_ID_LENGTH + TOKEN_SECRET_LENGTH} characters")
    return value[:TOKEN_ID_LENGTH], value[TOKEN_ID_LENGTH:]


def token_expiration(issued_epoch: str) -> str:
    """RFC 3339 expiration of a token issued at `issued_epoch` (ISSUED_AT_COMMAND's output)."""
    issued = datetime.fromtimestamp(int(issued_epoch.strip()), UTC)
    return (issued + timedelta(hours=TOKEN_TTL_HOURS)).strftime("%Y-%m-%dT%H:%M:%SZ")


def token_secret_name(token_id: str) -> str:
    return f"bootstrap-token-{token_id}"


def bootstrap_token_secret(node: str, token_id: str, token_secret: str, expiration: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": token_secret_name(token_id), "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "stringData": {
            "description": f"kubelet TLS bootstrap token of node {node} (k8s-from-scratch)",
            "token-id": token_id,
            "token-secret": token_secret,
            "expiration": expiration,
            "usage-bootstrap-authentication": "true",
            "auth-extra-groups": NODE_TOKEN_GROUP,
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
        _binding(f"{PREFIX}:node-bootstrapper", "system:node-bootstrapper", "Group", NODE_TOKEN_GROUP),
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
                "resourceNames": [CLIENT_SIGNER, SIGNER],
                "verbs": ["approve"],
            },
            # The approver admits nodes and removes the Node object of one that leaves the stack
            # (render.csr_policy.forget_node_command): nothing else deletes it.
            {"apiGroups": [""], "resources": ["nodes"], "verbs": ["delete"]},
        ],
    }
    # Each node's allow list (render.csr_policy.allow_configmap), in the approver's own
    # namespace: read by every pass, written for a worker by its NodeHost through this
    # credential (render/node_admission.py), which admits the nodes it approves.
    lists: dict[str, Any] = {
        "apiVersion": f"{RBAC}/v1",
        "kind": "Role",
        "metadata": {"name": f"{name}-allow-lists", "namespace": ALLOW_NAMESPACE},
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "verbs": ["get", "create", "update", "patch", "delete"],
            }
        ],
    }
    lists_binding = _binding(f"{name}-allow-lists", f"{name}-allow-lists", "User", CSR_APPROVER_CN, False)
    lists_binding["metadata"]["namespace"] = ALLOW_NAMESPACE
    # A worker's bootstrap token Secret, made by its NodeHost: created, never read or listed
    # (a Secret it could create, it could not read back).
    tokens: dict[str, Any] = {
        "apiVersion": f"{RBAC}/v1",
        "kind": "Role",
        "metadata": {"name": f"{name}-tokens", "namespace": "kube-system"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}],
    }
    tokens_binding = _binding(f"{name}-tokens", f"{name}-tokens", "User", CSR_APPROVER_CN, False)
    tokens_binding["metadata"]["namespace"] = "kube-system"
    return [
        role,
        _binding(name, name, "User", CSR_APPROVER_CN),
        lists,
        lists_binding,
        tokens,
        tokens_binding,
    ]


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


def cluster_admins_rbac() -> list[dict[str, Any]]:
    """The exported admin credential's group gets cluster-admin through RBAC (not system:masters):
    deleting this binding revokes it, and the audit log names the binding that allowed it."""
    return [_binding(f"{PREFIX}:cluster-admins", "cluster-admin", "Group", CLUSTER_ADMINS_GROUP)]


def rbac_objects() -> list[dict[str, Any]]:
    return [
        *cluster_info_rbac(),
        *node_bootstrap_rbac(),
        *csr_approver_rbac(),
        *apiserver_kubelet_rbac(),
        *cluster_admins_rbac(),
    ]
