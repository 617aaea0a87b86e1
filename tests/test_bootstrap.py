"""TLS bootstrap objects: rendered as Kubernetes expects them, applied with the given provider."""

from __future__ import annotations

import base64
from typing import Any

import pulumi_kubernetes as k8s
import yaml

from components.api_objects import ClusterSite
from components.bootstrap import Bootstrap
from mockrun.program import run_function
from render import bootstrap as bs
from render.pki_plan import APISERVER_KUBELET_CLIENT_CN, CSR_APPROVER_CN
from tests.support.fakes import CA_PEM, TOKEN_SECRET, fake_pki
from tests.support.specs import TWO_NODES, config_spec


def test_token_secret_has_the_bootstrap_token_shape() -> None:
    doc = bs.bootstrap_token_secret("abcdef", TOKEN_SECRET)
    assert doc["metadata"] == {"name": "bootstrap-token-abcdef", "namespace": "kube-system"}
    assert doc["type"] == "bootstrap.kubernetes.io/token"
    data = doc["stringData"]
    assert data["token-id"] == "abcdef" and data["token-secret"] == TOKEN_SECRET
    assert data["usage-bootstrap-authentication"] == "true"
    assert data["auth-extra-groups"].startswith("system:bootstrappers:")
    assert "expiration" not in data


def test_cluster_info_carries_server_and_ca_but_no_credentials() -> None:
    spec = config_spec(TWO_NODES, apiEndpoint="k8s.example.com:6443")
    cm = bs.cluster_info_configmap(spec, CA_PEM)
    assert cm["metadata"] == {"name": "cluster-info", "namespace": "kube-public"}
    kubeconfig = yaml.safe_load(cm["data"]["kubeconfig"])
    (cluster,) = kubeconfig["clusters"]
    assert cluster["cluster"]["server"] == "https://k8s.example.com:6443"
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]).decode() == CA_PEM
    assert kubeconfig["users"] == [] and kubeconfig["contexts"] == []


def bindings() -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in bs.rbac_objects() if o["kind"].endswith("Binding")}


def test_bootstrappers_and_nodes_get_exactly_the_builtin_csr_roles() -> None:
    b = bindings()

    def pair(name: str) -> tuple[str, str, str]:
        return (b[name]["roleRef"]["name"], b[name]["subjects"][0]["kind"], b[name]["subjects"][0]["name"])

    assert pair("k8s-from-scratch:node-bootstrapper") == (
        "system:node-bootstrapper",
        "Group",
        "system:bootstrappers",
    )
    assert pair("k8s-from-scratch:node-autoapprove-bootstrap") == (
        bs.NODE_CLIENT_ROLE,
        "Group",
        "system:bootstrappers",
    )
    assert pair("k8s-from-scratch:node-autoapprove-certificate-rotation") == (
        bs.SELF_NODE_CLIENT_ROLE,
        "Group",
        "system:nodes",
    )
    assert pair("k8s-from-scratch:apiserver-kubelet-client") == (
        "system:kubelet-api-admin",
        "User",
        APISERVER_KUBELET_CLIENT_CN,
    )
    assert pair("k8s-from-scratch:cluster-info-reader") == (
        "k8s-from-scratch:cluster-info-reader",
        "User",
        "system:anonymous",
    )
    assert b["k8s-from-scratch:cluster-info-reader"]["metadata"]["namespace"] == "kube-public"


def allows(rules: list[dict[str, Any]], group: str, resource: str, verb: str, name: str = "") -> bool:
    """Whether RBAC `rules` grant `verb` on `resource` (named `name`) in API `group`, as the API
    server's RBAC authorizer decides it (wildcards included)."""

    def match(values: list[str], value: str) -> bool:
        return "*" in values or value in values

    return any(
        match(r["apiGroups"], group)
        and match(r["resources"], resource)
        and match(r["verbs"], verb)
        and ("resourceNames" not in r or name in r["resourceNames"])
        for r in rules
    )


CERTS = "certificates.k8s.io"
CSRS = "certificatesigningrequests"


def test_approver_may_read_csrs_approve_only_kubelet_serving_and_delete_nodes() -> None:
    objs = {(o["kind"], o["metadata"]["name"]): o for o in bs.rbac_objects()}
    rules = objs[("ClusterRole", "k8s-from-scratch:csr-approver")]["rules"]
    may = [
        *((CERTS, CSRS, verb, "") for verb in ("get", "list", "watch")),
        (CERTS, f"{CSRS}/approval", "update", ""),
        (CERTS, "signers", "approve", "kubernetes.io/kubelet-serving"),
        ("", "nodes", "delete", ""),
    ]
    may_not = [
        *((CERTS, CSRS, verb, "") for verb in ("create", "update", "patch", "delete")),
        (CERTS, f"{CSRS}/status", "update", ""),  # issuing certificates is the signer's
        (CERTS, "signers", "approve", "kubernetes.io/kube-apiserver-client"),
        (CERTS, "signers", "approve", "kubernetes.io/kube-apiserver-client-kubelet"),
        *(("", "nodes", verb, "") for verb in ("get", "patch", "update", "create")),
        ("", "secrets", "get", ""),
        ("", "configmaps", "get", ""),  # allow lists only in their namespace (the Role below)
    ]
    assert [m for m in may if not allows(rules, *m)] == []
    assert [m for m in may_not if allows(rules, *m)] == []
    binding = objs[("ClusterRoleBinding", "k8s-from-scratch:csr-approver")]
    assert binding["subjects"] == [
        {"kind": "User", "name": CSR_APPROVER_CN, "apiGroup": "rbac.authorization.k8s.io"}
    ]
    # The allow lists: read only, in their namespace only.
    lists = objs[("Role", "k8s-from-scratch:csr-approver-allow-lists")]
    assert lists["metadata"]["namespace"] == "k8s-from-scratch"
    assert allows(lists["rules"], "", "configmaps", "get")
    beyond_get = ("list", "update", "create", "delete")
    assert not any(allows(lists["rules"], "", "configmaps", verb) for verb in beyond_get)
    assert not allows(lists["rules"], "", "secrets", "get")
    lists_binding = objs[("RoleBinding", "k8s-from-scratch:csr-approver-allow-lists")]
    assert lists_binding["metadata"]["namespace"] == "k8s-from-scratch"
    assert lists_binding["subjects"] == binding["subjects"]
    # Anonymous discovery: the cluster-info ConfigMap, and nothing else.
    anonymous = objs[("Role", "k8s-from-scratch:cluster-info-reader")]["rules"]
    assert allows(anonymous, "", "configmaps", "get", "cluster-info")
    assert not allows(anonymous, "", "configmaps", "get", "kubeadm-config")
    assert not allows(anonymous, "", "configmaps", "list")


def test_component_applies_every_object_with_the_provider() -> None:
    spec = config_spec(TWO_NODES)

    def program() -> None:
        pki = fake_pki()
        provider = k8s.Provider("k8s", kubeconfig=pki.admin_kubeconfig)
        Bootstrap("bootstrap", ClusterSite(spec, provider), pki)

    graph = run_function(program)
    boot = graph.named("bootstrap")
    children = graph.children(boot)
    provider_urn = graph.named("k8s").urn
    assert all(c.provider.startswith(provider_urn) for c in children)
    applied = {(c.inputs["kind"], c.inputs["metadata"]["name"]) for c in children}
    expected = {(o["kind"], o["metadata"]["name"]) for o in bs.rbac_objects()}
    expected |= {("Secret", "bootstrap-token-abcdef"), ("ConfigMap", "cluster-info")}
    expected |= {("Namespace", bs.allow_namespace()["metadata"]["name"])}
    assert applied == expected
    # Objects in the allow lists' namespace are created after it.
    namespace = graph.named("bootstrap-namespace")
    for child in children:
        if child.inputs["metadata"].get("namespace") == namespace.inputs["metadata"]["name"]:
            assert namespace.urn in child.dependencies, child.name
    for child in children:
        obj = next(
            (o for o in bs.rbac_objects() if o["metadata"]["name"] == child.inputs["metadata"]["name"]), None
        )
        if obj is not None and child.inputs["kind"] == obj["kind"]:
            for key in ("rules", "roleRef", "subjects"):
                assert child.inputs.get(key) == obj.get(key), (child.name, key)
    token = graph.named("bootstrap-token")
    assert token.inputs["stringData"]["token-secret"] == TOKEN_SECRET
    assert "stringData" in token.secret_paths
    info = graph.named("bootstrap-cluster-info")
    assert info.inputs["data"] == bs.cluster_info_configmap(spec, CA_PEM)["data"]
