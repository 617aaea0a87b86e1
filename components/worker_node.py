"""`WorkerNode`: kubelet and kube-proxy on one node (workers and control planes alike)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from components import type_token
from components.bootstrap import NodeToken
from components.host import NodeSite
from components.runtime import Runtime
from components.steps import ManagedFile, client_files, paths, service_step
from render import kube_proxy as kp
from render import kubelet as kl


@dataclass(frozen=True)
class NodeCredentials:
    """What every kubelet node gets from the cluster: the CA (it verifies the API server and
    kubelet's clients) and kube-proxy's kubeconfig (secret). The cluster's Pki gives them; a
    pool's come from its cluster stack (components/node_pool.py)."""

    ca_pem: pulumi.Input[str]
    kube_proxy_kubeconfig: pulumi.Input[str]


class WorkerNode(pulumi.ComponentResource):
    """Children: `kubelet` (its files, then the service) -> `kube-proxy` (likewise).

    The kubelet step depends on the runtime being ready, on every resource in `bootstrap_ready`
    (components.bootstrap.Bootstrap's RBAC) and on this node's own token, so kubelet never
    starts before it can ask to join; NodeJoin approves it. The token's kubeconfig is a
    transient file: gone from the node once kubelet has its client certificate
    (render/kubelet.py). `ready` is the last service step.
    """

    def __init__(
        self,
        name: str,
        site: NodeSite,
        credentials: NodeCredentials,
        runtime: Runtime,
        bootstrap_ready: Sequence[pulumi.Resource],
        token: NodeToken,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token("WorkerNode"), name, None, opts)
        site.require(site.node.runs_kubelet, "has no role that runs kubelet")
        spec, node, host = site.spec, site.node, site.host
        self.node = node

        kubelet_files = [
            *(ManagedFile(meta, content) for meta, content in kl.kubelet_static_files(spec, node)),
            ManagedFile(kl.CLIENT_CA_META, credentials.ca_pem),
            ManagedFile(kl.BOOTSTRAP_META, token.kubeconfig, secret=True, transient=True),
        ]
        kubelet = service_step(
            f"{name}-kubelet",
            host.steps,
            kl.UNIT,
            kubelet_files,
            # The token is removed once used: it is not one of the files kubelet runs with.
            service=lambda h: kl.service_script(
                spec, node, h, paths([f for f in kubelet_files if not f.transient])
            ),
            stop=kl.stop_script(),
            # Not before the runtime answers on its socket, nor before its token and RBAC exist.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[host.ready, runtime.ready, *bootstrap_ready, token.secret]
            ),
            dirs=(kl.DROP_IN_DIR, kl.KUBELET_DIR, "/etc/kubernetes"),
        )
        self.kubelet: pulumi.Resource = kubelet
        self.ready: pulumi.Resource = kubelet

        if spec.kube_proxy.enabled:
            proxy_files = client_files(
                kp.static_files(spec, node), (kp.KUBECONFIG_META, credentials.kube_proxy_kubeconfig)
            )
            self.ready = service_step(
                f"{name}-kube-proxy",
                host.steps,
                kp.UNIT,
                proxy_files,
                service=lambda h: kp.service_script(node, h, paths(proxy_files)),
                stop=kp.stop_script(),
                # It needs only the API, but after kubelet, `ready` stands for the whole node.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[kubelet]),
                dirs=(kp.PROXY_DIR, "/etc/kubernetes"),
            )

        self.register_outputs(
            {
                "node": node.name,
                "registerWithTaints": [t.render() for t in kl.registration_taints(node)],
                "kubeletLabels": kl.kubelet_labels(node),
                "kubeProxyMode": spec.kube_proxy.mode,
            }
        )
