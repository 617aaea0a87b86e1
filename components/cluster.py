"""The whole cluster: one component whose children are the PKI, hosts, control plane and addons."""

from __future__ import annotations

import pulumi

from components import type_token
from spec.model import ClusterSpec


class Cluster(pulumi.ComponentResource):
    def __init__(self, name: str, spec: ClusterSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("Cluster"), name, None, opts)
        self.spec = spec
        self.node_names = [n.name for n in spec.nodes]
        self.register_outputs(
            {
                "clusterName": spec.cluster_name,
                "kubernetesVersion": spec.kubernetes_version,
                "apiEndpoint": spec.api_endpoint.url,
                "nodes": self.node_names,
            }
        )
