"""Our kubelet-serving CSR approver on the control planes, and the join of every kubelet node.

`CsrApprover` (one per control-plane node): the approver script (render/csr_policy.py's rules
in POSIX sh), its own kubeconfig (k8s-from-scratch:csr-approver, allowed nothing but reading
CSRs and the allow lists and approving kubelet-serving ones) and a systemd timer that runs it
every 2 minutes, for kubelets' serving-cert rotations.

`NodeJoin` (one per stack): for each kubelet node, its allow list of names, addresses and its
bootstrap token's id (a ConfigMap named after it: adding a node adds objects and changes none,
on however many control planes); then, during `pulumi up`, runs the approver on a control plane
until that node's kubelet has joined (its first client certificate approved) and serves a
certificate from the cluster CA (a clear error naming why a CSR was left pending otherwise);
then labels control planes with node-role.kubernetes.io/control-plane through the API, which
NodeRestriction forbids kubelet to set on itself.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import type_token
from components.api_objects import ClusterSite
from components.bootstrap import Bootstrap
from components.host import NodeSite
from components.pki import Pki
from components.steps import client_files, files_step, paths, script_step, service_step
from components.worker_node import WorkerNode
from render import csr_policy as cp
from render import kubelet as kl
from render.control_plane import CONF
from spec.model import NodeSpec


class CsrApprover(pulumi.ComponentResource):
    """`ready`: the step that enabled the timer (after `bootstrap_ready`, so its first pass works)."""

    def __init__(
        self,
        name: str,
        site: NodeSite,
        pki: Pki,
        bootstrap_ready: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token("CsrApprover"), name, None, opts)
        spec, node, host = site.spec, site.node, site.host
        site.require(node.is_control_plane, "is not a control plane: the CSR approver runs on those")
        self.node = node
        self.steps = host.steps
        files = client_files(
            cp.approver_static_files(spec),
            (cp.KUBECONFIG_META, pki.csr_approver_kubeconfig),
            ca=(cp.CA_META, pki.ca.cert_pem),
        )
        installed = files_step(
            f"{name}-files",
            host.steps,
            files,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[host.ready]),
            # /etc/kubernetes too: on destroy this step and the control plane's user step (which
            # removes it when empty) are independent, and either may finish last.
            dirs=(cp.APPROVER_DIR, CONF),
        )
        enabled = service_step(
            f"{name}-timer",
            host.steps,
            cp.APPROVER_TIMER,
            files,
            service=lambda h: cp.enable_script(h, paths(files)),
            stop=cp.disable_script(),
            # Its RBAC lives in Bootstrap: without it every pass would fail.
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(bootstrap_ready)),
            installed_by=installed,
        )
        self.ready: pulumi.Resource = enabled
        self.register_outputs({"node": node.name, "every": cp.APPROVE_EVERY})


def _allow_data(node: NodeSpec, token_id: str) -> dict[str, str]:
    data: dict[str, str] = cp.allow_configmap(node, token_id)["data"]
    return data


def allow_list(
    name: str, node: NodeSpec, token_id: pulumi.Output[str], opts: pulumi.ResourceOptions
) -> k8s.core.v1.ConfigMap:
    """`node`'s allow list: what the approver lets it have, and through which token it joins."""
    return k8s.core.v1.ConfigMap(
        name,
        metadata=cp.allow_configmap(node, "")["metadata"],
        data=token_id.apply(functools.partial(_allow_data, node)),
        opts=opts,
    )


class NodeJoin(pulumi.ComponentResource):
    """`ready`: per node, the serving-certificate step and, for control planes, the label patch."""

    def __init__(
        self,
        name: str,
        site: ClusterSite,
        approver: CsrApprover,
        workers: Sequence[WorkerNode],
        bootstrap: Bootstrap,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token("NodeJoin"), name, None, opts)
        provider = site.provider
        self.ready: list[pulumi.Resource] = []
        for worker in workers:
            node = worker.node
            token_id = bootstrap.tokens[node.name].token_id
            allow = allow_list(
                f"{name}-{node.name}-allow",
                node,
                token_id,
                pulumi.ResourceOptions(
                    parent=self, provider=provider, depends_on=[bootstrap.allow_namespace]
                ),
            )
            serving = script_step(
                f"{name}-{node.name}-serving",
                approver.steps,
                create=cp.until_serving_command(node),
                # Approvals live in the API; a node leaving the stack leaves its Node object
                # (and the pods bound to it) behind unless this removes it.
                delete=cp.forget_node_command(node),
                # kubelet runs and asks to join, the approver is set up and knows this node.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[worker.ready, approver.ready, allow]),
            )
            self.ready.append(serving)
            labels = kl.api_labels(node)
            if labels:
                patch = k8s.core.v1.NodePatch(
                    f"{name}-{node.name}-role",
                    metadata={"name": node.name, "labels": labels},
                    # The Node object exists once its kubelet asked for a serving certificate.
                    opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[serving]),
                )
                self.ready.append(patch)
        self.register_outputs({"nodes": [w.node.name for w in workers], "approverNode": approver.node.name})
