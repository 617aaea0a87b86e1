"""TLS bootstrap objects: rendered as Kubernetes expects them, applied with the given provider."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any

import pulumi_kubernetes as k8s
import yaml

from components.api_objects import ClusterSite
from components.bootstrap import Bootstrap
from mockrun.program import run_function
from render import bootstrap as bs
from render.pki_plan import APISERVER_KUBELET_CLIENT_CN, CSR_APPROVER_CN
from tests.support.fakes import CA_PEM, fake_pki
from tests.support.specs import TWO_NODES, config_spec

TOKEN_SECRET = "0123456789abcdef"


def test_token_secret_has_the_bootstrap_token_shape() -> None:
    doc = bs.bootstrap_token_secret("w1", "abcdef", TOKEN_SECRET, "2026-11-30T01:00:00Z")
    assert doc["metadata"] == {"name": "bootstrap-token-abcdef", "namespace": "kube-system"}
    assert doc["type"] == "bootstrap.kubernetes.io/token"
    data = doc["stringData"]
    assert data["token-id"] == "abcdef" and data["token-secret"] == TOKEN_SECRET
    assert data["usage-bootstrap-authentication"] == "true"
    assert data["expiration"] == "2026-11-30T01:00:00Z"
    assert "w1" in data["description"]
    # Our own group (the one allowed to ask for certificates), and no signing of cluster-info.
    assert data["auth-extra-groups"] == "system:bootstrappers:k8s-from-scratch:nodes"
    assert "usage-bootstrap-signing" not in data


def test_a_token_expires_a_day_after_it_was_issued() -> None:
    issued = int(datetime(2026, 11, 29, 1, 2, 3, tzinfo=UTC).timestamp())
    assert bs.token_expiration(f"{issued}\n") == "2026-11-30T01:02:03Z"


def test_one_random_value_is_a_token_id_and_secret() -> None:
    assert bs.split_token("abcdef0123456789abcdef") == ("abcdef", "0123456789abcdef")
    for wrong in ("abcdef.0123456789abcdef", "short"):
        try:
            bs.split_token(wrong)
        except ValueError:
            continue
        raise AssertionError(f"{wrong!r} was split")


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

    # Only tokens of ours may ask for certificates, and nothing approves their requests but our
    # approver, which checks the node name against the token (no nodeclient binding at all).
    assert pair("k8s-from-scratch:node-bootstrapper") == (
        "system:node-bootstrapper",
        "Group",
        bs.NODE_TOKEN_GROUP,
    )
    roles = [o["roleRef"]["name"] for o in b.values()]
    assert "system:certificates.k8s.io:certificatesigningrequests:nodeclient" not in roles
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
    # The exported admin is an admin through this binding (revocable), not through system:masters.
    assert pair("k8s-from-scratch:cluster-admins") == (
        "cluster-admin",
        "Group",
        "k8s-from-scratch:cluster-admins",
    )
    assert not [o for o in b.values() if o["subjects"][0]["name"] == "system:masters"]
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


def test_approver_may_read_csrs_approve_only_kubelet_certificates_delete_nodes_and_admit_workers() -> None:
    objs = {(o["kind"], o["metadata"]["name"]): o for o in bs.rbac_objects()}
    rules = objs[("ClusterRole", "k8s-from-scratch:csr-approver")]["rules"]
    may = [
        *((CERTS, CSRS, verb, "") for verb in ("get", "list", "watch")),
        (CERTS, f"{CSRS}/approval", "update", ""),
        (CERTS, "signers", "approve", "kubernetes.io/kubelet-serving"),
        (CERTS, "signers", "approve", "kubernetes.io/kube-apiserver-client-kubelet"),
        ("", "nodes", "delete", ""),
    ]
    may_not = [
        *((CERTS, CSRS, verb, "") for verb in ("create", "update", "patch", "delete")),
        (CERTS, f"{CSRS}/status", "update", ""),  # issuing certificates is the signer's
        (CERTS, "signers", "approve", "kubernetes.io/kube-apiserver-client"),
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
    # The allow lists: read and written (by NodeHosts, render/node_admission.py) in their
    # namespace only, never listed.
    lists = objs[("Role", "k8s-from-scratch:csr-approver-allow-lists")]
    assert lists["metadata"]["namespace"] == "k8s-from-scratch"
    for verb in ("get", "create", "update", "patch", "delete"):
        assert allows(lists["rules"], "", "configmaps", verb), verb
    assert not allows(lists["rules"], "", "configmaps", "list")
    assert not allows(lists["rules"], "", "secrets", "get")
    # Bootstrap tokens: Secrets in kube-system created, never read, listed or changed.
    tokens = objs[("Role", "k8s-from-scratch:csr-approver-tokens")]
    assert tokens["metadata"]["namespace"] == "kube-system"
    assert allows(tokens["rules"], "", "secrets", "create")
    for verb in ("get", "list", "watch", "update", "patch", "delete"):
        assert not allows(tokens["rules"], "", "secrets", verb), verb
    assert (
        objs[("RoleBinding", "k8s-from-scratch:csr-approver-tokens")]["subjects"][0]["name"]
        == CSR_APPROVER_CN
    )
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
        Bootstrap("bootstrap", ClusterSite(spec, provider), pki, spec.kubelet_nodes)

    graph = run_function(program)
    boot = graph.named("bootstrap")
    children = graph.children(boot)
    provider_urn = graph.named("k8s").urn
    objects = [c for c in children if c.type.startswith("kubernetes:")]
    assert all(c.provider.startswith(provider_urn) for c in objects)
    applied = {(c.inputs["kind"], c.inputs["metadata"]["name"]) for c in objects}
    expected = {(o["kind"], o["metadata"]["name"]) for o in bs.rbac_objects()}
    tokens = {n.name: graph.named(f"bootstrap-{n.name}-token") for n in spec.kubelet_nodes}
    expected |= {("Secret", t.inputs["metadata"]["name"]) for t in tokens.values()}
    expected |= {("ConfigMap", "cluster-info"), ("Namespace", bs.allow_namespace()["metadata"]["name"])}
    assert applied == expected
    # Objects in the allow lists' namespace are created after it.
    namespace = graph.named("bootstrap-namespace")
    for child in objects:
        if child.inputs["metadata"].get("namespace") == namespace.inputs["metadata"]["name"]:
            assert namespace.urn in child.dependencies, child.name
    for child in objects:
        obj = next(
            (o for o in bs.rbac_objects() if o["metadata"]["name"] == child.inputs["metadata"]["name"]), None
        )
        if obj is not None and child.inputs["kind"] == obj["kind"]:
            for key in ("rules", "roleRef", "subjects"):
                assert child.inputs.get(key) == obj.get(key), (child.name, key)
    ids = {r.resource_id for r in graph.registrations}
    for node, token in tokens.items():
        data = token.inputs["stringData"]
        assert "stringData" in token.secret_paths
        assert token.inputs["metadata"]["name"] == f"bootstrap-token-{data['token-id']}"
        assert re.fullmatch(r"[a-z0-9]{6}", data["token-id"])
        assert re.fullmatch(r"[a-z0-9]{16}", data["token-secret"])
        # Issued when the node was added (a local command's output, kept in the state) and
        # valid for a day from then.
        issued = graph.named(f"bootstrap-{node}-token-issued")
        assert issued.type == "command:local:Command" and issued.inputs["create"] == bs.ISSUED_AT_COMMAND
        assert data["expiration"] == bs.token_expiration(issued.outputs["stdout"])
        value = graph.named(f"bootstrap-{node}-token-value")
        assert value.inputs["keepers"] == {"issued": issued.outputs["stdout"]}, "a new issue, a new token"
        # A RandomString's id is its value: the secret half comes from a RandomPassword.
        assert data["token-secret"] not in str(ids)
    assert len({t.inputs["stringData"]["token-id"] for t in tokens.values()}) == len(tokens)
    info = graph.named("bootstrap-cluster-info")
    assert info.inputs["data"] == bs.cluster_info_configmap(spec, CA_PEM)["data"]
