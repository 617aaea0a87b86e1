"""`Bootstrap`: what kubelets need in the API before they start: each node's token,
cluster-info, RBAC, and the namespace of the CSR approver's allow lists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
from pulumi_command import local

from components import type_token
from components.api_objects import ClusterSite, k8s_object
from components.pki import Pki
from render import bootstrap as bs
from render.kubeconfig import render_kubeconfig
from spec.model import ClusterSpec, NodeSpec


@dataclass(frozen=True)
class NodeToken:
    """One node's bootstrap token: its id (public: it names the Secret and the node's allow list),
    the bootstrap kubeconfig carrying it (secret) and the Secret that makes it valid."""

    token_id: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    secret: pulumi.Resource


def _part(kind: str, object_name: str) -> str:
    short = object_name.removeprefix(f"{bs.PREFIX}:").replace(":", "-")
    return f"{kind.lower()}-{short}"


class Bootstrap(pulumi.ComponentResource):
    """`ready`: every cluster-wide object it creates; `tokens`: each kubelet node's NodeToken.
    A node's kubelet step depends on `ready` and on its own token's Secret only, so adding a
    node adds its token and changes nothing else."""

    def __init__(
        self,
        name: str,
        site: ClusterSite,
        pki: Pki,
        nodes: Sequence[NodeSpec],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token("Bootstrap"), name, None, opts)
        spec = site.spec
        api = pulumi.ResourceOptions(parent=self, provider=site.provider)
        self.tokens = {n.name: node_token(name, n, spec, pki.ca.cert_pem, self, site.provider) for n in nodes}

        info_doc = pulumi.Output.from_input(pki.ca.cert_pem).apply(
            lambda ca: bs.cluster_info_configmap(spec, ca)
        )
        cluster_info = k8s.core.v1.ConfigMap(
            f"{name}-cluster-info",
            metadata=info_doc.apply(lambda d: d["metadata"]),
            data=info_doc.apply(lambda d: d["data"]),
            opts=api,
        )
        ns = bs.allow_namespace()
        # The CSR approver's allow lists (one ConfigMap per node, NodeJoin's) live here.
        self.allow_namespace = k8s.core.v1.Namespace(f"{name}-namespace", metadata=ns["metadata"], opts=api)
        in_namespace = pulumi.ResourceOptions.merge(
            api, pulumi.ResourceOptions(depends_on=[self.allow_namespace])
        )
        self.ready: list[pulumi.Resource] = [cluster_info, self.allow_namespace]
        for obj in bs.rbac_objects():
            namespaced = obj["metadata"].get("namespace") == ns["metadata"]["name"]
            part = _part(obj["kind"], obj["metadata"]["name"])
            self.ready.append(k8s_object(f"{name}-{part}", obj, in_namespace if namespaced else api))

        self.register_outputs(
            {
                "tokenIds": {node: t.token_id for node, t in self.tokens.items()},
                "objects": [f"{o['kind']}/{o['metadata']['name']}" for o in bs.rbac_objects()],
            }
        )


def node_token(
    name: str,
    node: NodeSpec,
    spec: ClusterSpec,
    ca_pem: pulumi.Input[str],
    parent: pulumi.Resource,
    provider: pulumi.ProviderResource,
) -> NodeToken:
    """`node`'s token, its resources named `{name}-{node}-...`: when it was issued (a command
    run once where `pulumi up` runs: replacing it issues a new token), the random token, and its
    Secret, which expires TOKEN_TTL_HOURS later. Bootstrap makes the cluster's, NodePool a pool's."""
    child = pulumi.ResourceOptions(parent=parent)
    issued = local.Command(
        f"{name}-{node.name}-token-issued",
        create=bs.ISSUED_AT_COMMAND,
        logging=local.Logging.NONE,
        opts=child,
    )
    # A RandomPassword, not a RandomString: a RandomString's id is its value, shown in the
    # clear. The id half is made public on purpose.
    value = random.RandomPassword(
        f"{name}-{node.name}-token-value",
        length=bs.TOKEN_ID_LENGTH + bs.TOKEN_SECRET_LENGTH,
        upper=False,
        lower=True,
        numeric=True,
        special=False,
        keepers={"issued": issued.stdout},
        opts=child,
    )
    parts = value.result.apply(bs.split_token)
    token_id = pulumi.Output.unsecret(parts.apply(lambda p: p[0]))

    def doc(v: list[Any]) -> dict[str, Any]:
        (token_id_, token_secret), issued_at = v
        expiration = bs.token_expiration(issued_at)
        return bs.bootstrap_token_secret(node.name, token_id_, token_secret, expiration)

    secret_doc = pulumi.Output.all(parts, issued.stdout).apply(doc)
    secret = k8s.core.v1.Secret(
        f"{name}-{node.name}-token",
        metadata=token_id.apply(lambda i: {"name": bs.token_secret_name(i), "namespace": "kube-system"}),
        type="bootstrap.kubernetes.io/token",
        string_data=pulumi.Output.secret(secret_doc.apply(lambda d: d["stringData"])),
        opts=pulumi.ResourceOptions(parent=parent, provider=provider),
    )
    cluster, server = spec.cluster_name, spec.api_endpoint.url
    kubeconfig = pulumi.Output.all(ca_pem, value.result).apply(
        lambda v: render_kubeconfig(cluster, server, v[0], bs.USER, token=".".join(bs.split_token(v[1])))
    )
    return NodeToken(token_id, pulumi.Output.secret(kubeconfig), secret)
