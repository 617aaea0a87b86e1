"""`NodePool`: a pool stack's workers (spec/pool.py), joined to a cluster another stack made.

Each member node gets what a worker of the cluster stack gets, built by the same components:
Host, Runtime, WorkerNode, its own short-lived bootstrap token and allow list, and its DriftGuard.
What differs is what a pool cannot reach: the cluster's control planes. So
- the join runs on the node itself (`-joined`): it waits until the cluster's CSR approver, a
  timer on every control plane, has approved kubelet's client and serving certificates as the
  node's allow list says (render/node_pool.py);
- a node leaving the pool is forgotten through the API (`-forget`, where `pulumi` runs), with the
  cluster's admin credentials, which also drive the pool's Kubernetes provider.
Nothing of the cluster stack's is created, read back or changed: `pulumi up` in a pool touches
only its own nodes, and costs what its own size costs (docs/scale.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_command import local

from components import type_token
from components.bootstrap import node_token
from components.csr_approver import allow_list
from components.drift_guard import host_guard
from components.host import Host, NodeSite, connection
from components.runtime import Runtime
from components.steps import script_step
from components.worker_node import NodeCredentials, WorkerNode
from render import node_pool as np
from spec import ClusterSpec, PoolSpec


@dataclass(frozen=True)
class ClusterAccess:
    """What a pool reads from its cluster stack's `pool` output (render.node_pool.pool_output):
    the CA, kube-proxy's kubeconfig and an admin kubeconfig (secrets)."""

    ca_pem: str
    kube_proxy_kubeconfig: pulumi.Output[str]
    admin_kubeconfig: pulumi.Output[str]


class NodePool(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        spec: ClusterSpec,
        pool: PoolSpec,
        access: ClusterAccess,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token("NodePool"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        provider = k8s.Provider(f"{name}-k8s", kubeconfig=access.admin_kubeconfig, opts=child)
        api = pulumi.ResourceOptions(parent=self, provider=provider)
        credentials = NodeCredentials(access.ca_pem, access.kube_proxy_kubeconfig)
        # Secret as the kubeconfig it comes from is.
        api_json = access.admin_kubeconfig.apply(np.api_credentials)
        self.hosts: dict[str, Host] = {}
        for node in pool.members:
            host = Host(f"{name}-host-{node.name}", spec, node, connection(node), opts=child)
            self.hosts[node.name] = host
            site = NodeSite(spec, node, host)
            token = node_token(f"{name}-bootstrap", node, spec, access.ca_pem, self, provider)
            allow = allow_list(f"{name}-join-{node.name}-allow", node, token.token_id, api)
            runtime = Runtime(f"{name}-{node.name}-runtime", site, opts=child)
            # kubelet asks to join once its token and allow list exist (the cluster's RBAC does).
            worker = WorkerNode(
                f"{name}-{node.name}-node", site, credentials, runtime, [allow], token, opts=child
            )
            joined = script_step(
                f"{name}-join-{node.name}-joined",
                host.steps,
                create=np.until_joined_script(node),
                delete="true",  # it only waits: nothing to undo
                opts=pulumi.ResourceOptions(parent=self, depends_on=[worker.ready]),
            )
            local.Command(
                f"{name}-join-{node.name}-forget",
                create="true",  # the node joined (`-joined`); this is its way out
                delete=np.forget_node_command(node),
                stdin=api_json,
                logging=local.Logging.STDOUT_AND_STDERR,
                # Deleted first on destroy: the Node goes before its kubelet stops.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[joined]),
            )
            host_guard(f"{name}-{node.name}-drift-guard", spec, node, host.steps, child)
        self.register_outputs({"cluster": pool.cluster, "nodes": [n.name for n in pool.members]})
