"""`WorkerNode`: kubelet and kube-proxy on one node (workers and control planes alike)."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from components import type_token
from components.host import NodeSite
from components.pki import Pki
from components.runtime import Runtime
from components.steps import client_files, paths, service_step
from render import kube_proxy as kp
from render import kubelet as kl


class WorkerNode(pulumi.ComponentResource):
    """Children: `kubelet` (its files, then the service) -> `kube-proxy` (likewise).

    The kubelet step depends on the runtime being ready and on every resource in
    `bootstrap_ready` (the bootstrap-token Secret and RBAC of components.bootstrap.Bootstrap), so
    kubelet never starts before it can join; it finishes once TLS bootstrap gave kubelet its
    client certificate. `ready` is the last service step.
    """

    def __init__(
        self,
        name: str,
        site: NodeSite,
        pki: Pki,
        runtime: Runtime,
        bootstrap_ready: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token("WorkerNode"), name, None, opts)
        site.require(site.node.runs_kubelet, "has no role that runs kubelet")
        spec, node, host = site.spec, site.node, site.host
        self.node = node

        kubelet_files = client_files(
            kl.kubelet_static_files(spec, node),
            (kl.BOOTSTRAP_META, pki.bootstrap_kubeconfig),
            ca=(kl.CLIENT_CA_META, pki.ca.cert_pem),
        )
        kubelet = service_step(
            f"{name}-kubelet",
            host.steps,
            kl.UNIT,
            kubelet_files,
            service=lambda h: kl.service_script(spec, node, h, paths(kubelet_files)),
            stop=kl.stop_script(),
            # Not before the runtime answers on its socket, nor before the token and RBAC exist.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[host.ready, runtime.ready, *bootstrap_ready]
            ),
            dirs=(kl.DROP_IN_DIR, kl.KUBELET_DIR, "/etc/kubernetes"),
        )
        self.kubelet: pulumi.Resource = kubelet
        self.ready: pulumi.Resource = kubelet

        if spec.kube_proxy.enabled:
            proxy_files = client_files(
                kp.static_files(spec, node), (kp.KUBECONFIG_META, pki.kube_proxy_kubeconfig)
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
