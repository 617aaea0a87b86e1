"""`Bootstrap`: what kubelets need in the API before they start: token, cluster-info, RBAC, and
the namespace of the CSR approver's allow lists."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import type_token
from components.api_objects import ClusterSite, k8s_object
from components.pki import Pki
from render import bootstrap as bs


def _part(kind: str, object_name: str) -> str:
    short = object_name.removeprefix(f"{bs.PREFIX}:").replace(":", "-")
    return f"{kind.lower()}-{short}"


class Bootstrap(pulumi.ComponentResource):
    """`ready`: every object it creates; WorkerNode's kubelet step depends on all of them."""

    def __init__(
        self, name: str, site: ClusterSite, pki: Pki, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("Bootstrap"), name, None, opts)
        spec = site.spec
        api = pulumi.ResourceOptions(parent=self, provider=site.provider)

        token_id = pulumi.Output.from_input(pki.bootstrap_token_id)
        secret_doc = pulumi.Output.all(token_id, pki.bootstrap_token_secret).apply(
            lambda v: bs.bootstrap_token_secret(v[0], v[1])
        )
        token = k8s.core.v1.Secret(
            f"{name}-token",
            metadata=token_id.apply(lambda i: bs.bootstrap_token_secret(i, "")["metadata"]),
            type="bootstrap.kubernetes.io/token",
            string_data=pulumi.Output.secret(secret_doc.apply(lambda d: d["stringData"])),
            opts=api,
        )
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
        self.ready: list[pulumi.Resource] = [token, cluster_info, self.allow_namespace]
        for obj in bs.rbac_objects():
            namespaced = obj["metadata"].get("namespace") == ns["metadata"]["name"]
            part = _part(obj["kind"], obj["metadata"]["name"])
            self.ready.append(k8s_object(f"{name}-{part}", obj, in_namespace if namespaced else api))

        self.register_outputs(
            {
                "tokenSecret": token.metadata.apply(lambda m: m.name if m else None),
                "objects": [f"{o['kind']}/{o['metadata']['name']}" for o in bs.rbac_objects()],
            }
        )
