"""The whole cluster: one component whose children are the PKI, hosts, control plane and addons.

Order of bring-up, each edge an explicit dependency (a node with an etcd or control-plane role):
  Pki ─┐
  Host(node) ─> EtcdMember(node) ─> ControlPlane(node) ─> kubernetes Provider ─> Bootstrap
  Host(node) ─> Runtime(node) ──────────────────────────────────────────────────> WorkerNode(node)
  Bootstrap ─> CsrApprover(control plane) ─> NodeJoin (kubelet CSRs approved, role labels)
  NodeJoin ─> Cni ─> Addons
A worker-only node is one NodeHost (components/node_host.py), after Bootstrap, the first
CsrApprover and that control plane's kube-proxy (whose kubeconfig it copies); Cni waits for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import type_token
from components.addons import Addons
from components.api_objects import ClusterSite
from components.bootstrap import Bootstrap
from components.cni import Cni, Fetcher, fetch_url
from components.control_plane import ControlPlane
from components.csr_approver import CsrApprover, NodeJoin
from components.drift_guard import host_guard
from components.etcd_member import EtcdMember
from components.host import Host, NodeSite, connection
from components.lab import Lab
from components.node_host import Admission, NodeHost, node_host
from components.pki import Clock, Pki, utc_now
from components.runtime import Runtime
from components.steps import script_step
from components.worker_node import NodeCredentials, WorkerNode
from render import image_check
from spec.model import ClusterSpec
from spec.node_host import NodeSettings, is_node_host


class Cluster(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        spec: ClusterSpec,
        raw: Mapping[str, Any],
        clock: Clock = utc_now,
        fetch: Fetcher = fetch_url,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`clock` dates certificate renewals and `fetch` reads CNI release manifests: the real
        ones unless a caller (the mocks, a test) passes its own."""
        super().__init__(type_token("Cluster"), name, None, opts)
        self.spec = spec
        self.node_names = [n.name for n in spec.nodes]
        child = pulumi.ResourceOptions(parent=self)
        # A lab stack makes its own hosts (and their SSH key) before anything connects to them.
        self.lab = Lab(f"{name}-lab", spec, opts=child) if spec.lab.enabled else None
        private_key = self.lab.private_key if self.lab else None
        hosts_ready = self.lab.hosts_ready if self.lab else []

        self.pki = Pki(f"{name}-pki", spec, clock, opts=child)

        host_opts = pulumi.ResourceOptions(parent=self, depends_on=hosts_ready)
        # Worker-only nodes are one NodeHost each (below); the others, a component per role.
        classic = [n for n in spec.nodes if not is_node_host(n)]
        self.hosts = {
            n.name: Host(f"{name}-host-{n.name}", spec, n, connection(n, private_key), opts=host_opts)
            for n in classic
        }
        site = {n.name: NodeSite(spec, n, self.hosts[n.name]) for n in classic}

        # Members restart one after another (each waits for the previous one's health) so that a
        # config change never takes quorum down.
        self.etcd: list[EtcdMember] = []
        after: list[pulumi.Resource]
        for n in spec.etcd_nodes:
            after = [self.etcd[-1].service] if self.etcd else []
            self.etcd.append(
                EtcdMember(f"{name}-etcd-{n.name}", site[n.name], self.pki, opts=child, restart_after=after)
            )
        # Control planes likewise restart one at a time, keeping the API served behind apiEndpoint.
        self.control_planes: list[ControlPlane] = []
        etcd_ready = [m.ready for m in self.etcd]
        for n in spec.control_plane_nodes:
            after = [self.control_planes[-1].apiserver] if self.control_planes else []
            self.control_planes.append(
                ControlPlane(
                    f"{name}-cp-{n.name}", site[n.name], self.pki, etcd_ready, opts=child, restart_after=after
                )
            )

        # Every Kubernetes object goes through this provider, which waits for every API server.
        # It is the super-admin (system:masters): it creates the binding that makes the exported
        # admin (k8s-from-scratch:cluster-admins) an admin at all.
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.pki.super_admin_kubeconfig,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cp.ready for cp in self.control_planes]),
        )

        api = ClusterSite(spec, self.provider)
        # Kubelets join through TLS bootstrapping: the token Secret and RBAC must exist first.
        kubelets = [n for n in spec.kubelet_nodes if not is_node_host(n)]
        self.bootstrap = Bootstrap(f"{name}-bootstrap", api, self.pki, kubelets, opts=child)
        self.approvers = [
            CsrApprover(
                f"{name}-{n.name}-csr-approver", site[n.name], self.pki, self.bootstrap.ready, opts=child
            )
            for n in spec.control_plane_nodes
        ]
        self.runtimes: dict[str, Runtime] = {}
        self.workers: list[WorkerNode] = []
        credentials = NodeCredentials(self.pki.ca.cert_pem, self.pki.kube_proxy_kubeconfig)
        for n in kubelets:
            runtime = Runtime(f"{name}-{n.name}-runtime", site[n.name], opts=child)
            self.runtimes[n.name] = runtime
            self.workers.append(
                WorkerNode(
                    f"{name}-{n.name}-node",
                    site[n.name],
                    credentials,
                    runtime,
                    self.bootstrap.ready,
                    self.bootstrap.tokens[n.name],
                    opts=child,
                )
            )
        # Serving certificates approved and role labels set before anything is scheduled.
        self.join = NodeJoin(f"{name}-join", api, self.approvers[0], self.workers, self.bootstrap, opts=child)

        # Each worker-only node: admitted through the first approver's host, once the approver is
        # set up (its timer comes after every Bootstrap object: RBAC, the allow lists' namespace)
        # and that host has kube-proxy's kubeconfig to copy. Not on each Bootstrap object itself:
        # a dozen URNs more in each NodeHost's state, which every step of a large stack carries.
        approver = self.approvers[0].node
        admission = Admission(
            approver,
            self.pki.ca.cert_pem,
            self.pki.kube_proxy_kubeconfig,
            self.lab.host_keys if self.lab else {},
            private_key,
        )
        settings = NodeSettings(spec, raw)
        admitted = pulumi.ResourceOptions(
            parent=self,
            depends_on=[
                *hosts_ready,
                self.approvers[0].ready,
                next(w.ready for w in self.workers if w.node.name == approver.name),
            ],
        )
        self.node_hosts: list[NodeHost] = [
            node_host(f"{name}-{n.name}", n, settings.text(n), admission, admitted)
            for n in spec.nodes
            if is_node_host(n)
        ]

        # Every image our objects and the runtime use must be in its registry before anything
        # that pulls it is applied: a missing one stops the run here, named with its URL.
        first = kubelets[0]
        self.image_check = script_step(
            f"{name}-{first.name}-image-check",
            self.hosts[first.name].steps,
            image_check.check_script(first.name),
            "true",  # it only reads: nothing to undo
            pulumi.ResourceOptions(parent=self, depends_on=[self.hosts[first.name], *hosts_ready]),
            stdin=image_check.check_input(spec),
        )
        # Not after the NodeHosts: a worker-only node joins on its own, as one added later does
        # (the CNI's DaemonSet reaches it once it registers). Waiting for all of them would hold
        # the cluster's CNI and addons back for one slow or broken host, and make each added
        # worker rewrite the dependencies of every CNI object in the state.
        self.cni = Cni(
            f"{name}-cni",
            api,
            pulumi.ResourceOptions(parent=self, depends_on=[*self.join.ready, self.image_check]),
            fetch=fetch,
        )
        self.addons = Addons(
            f"{name}-addons", api, pulumi.ResourceOptions(parent=self, depends_on=[self.cni])
        )

        # Last on each host: the guard that `pulumi refresh` reads back to find drift.
        self.drift_guards = [
            host_guard(f"{name}-{n.name}-drift-guard", spec, n, self.hosts[n.name].steps, child)
            for n in classic
        ]

        self.register_outputs(
            {
                "clusterName": spec.cluster_name,
                "kubernetesVersion": spec.kubernetes_version,
                "apiEndpoint": spec.api_endpoint.url,
                "nodes": self.node_names,
            }
        )
