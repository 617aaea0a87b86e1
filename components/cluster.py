"""The whole cluster: one component whose children are the PKI, hosts, control plane and addons.

Order of bring-up, each edge an explicit dependency:
  Pki ─┐
  Host(node) ─> EtcdMember(node) ─> ControlPlane(node) ─> kubernetes Provider ─> Bootstrap
  Host(node) ─> Runtime(node) ──────────────────────────────────────────────────> WorkerNode(node)
  Bootstrap ─> CsrApprover(control plane) ─> NodeJoin (serving CSRs approved, role labels)
  NodeJoin ─> Cni ─> Addons
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import type_token
from components.addons import Addons
from components.bootstrap import Bootstrap
from components.cni import Cni
from components.control_plane import ControlPlane
from components.csr_approver import CsrApprover, NodeJoin
from components.drift_guard import DriftGuard
from components.etcd_member import EtcdMember
from components.host import connection
from components.host_prep import Host
from components.lab import Lab
from components.pki import Pki
from components.runtime import Runtime
from components.steps import Ledger, script_step, start_ledger
from components.worker_node import WorkerNode
from render import artifacts, drift_rules, image_check
from spec.model import ClusterSpec, NodeSpec


class Cluster(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        spec: ClusterSpec,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token("Cluster"), name, None, opts)
        self.spec = spec
        self.node_names = [n.name for n in spec.nodes]
        child = pulumi.ResourceOptions(parent=self)
        # Every host step created below is noted per host, for that host's DriftGuard.
        ledger = start_ledger()

        # A lab stack makes its own hosts (and their SSH key) before anything connects to them.
        self.lab = Lab(f"{name}-lab", spec, opts=child) if spec.lab.enabled else None
        private_key = self.lab.private_key if self.lab else None
        hosts_ready = self.lab.hosts_ready if self.lab else []

        self.pki = Pki(f"{name}-pki", spec, opts=child)

        host_opts = pulumi.ResourceOptions(parent=self, depends_on=hosts_ready)
        self.hosts = {
            n.name: Host(f"{name}-host-{n.name}", spec, n, connection(n, private_key), opts=host_opts)
            for n in spec.nodes
        }

        # Members restart one after another (each waits for the previous one's health) so that a
        # config change never takes quorum down.
        self.etcd: list[EtcdMember] = []
        for n in spec.etcd_nodes:
            self.etcd.append(
                EtcdMember(
                    f"{name}-etcd-{n.name}",
                    spec,
                    n,
                    self.hosts[n.name],
                    self.pki,
                    opts=child,
                    restart_after=[self.etcd[-1].service] if self.etcd else [],
                )
            )
        # Control planes likewise restart one at a time, keeping the API served behind apiEndpoint.
        self.control_planes: list[ControlPlane] = []
        for n in spec.control_plane_nodes:
            self.control_planes.append(
                ControlPlane(
                    f"{name}-cp-{n.name}",
                    spec,
                    n,
                    self.hosts[n.name],
                    self.pki,
                    etcd_ready=[m.ready for m in self.etcd],
                    opts=child,
                    restart_after=[self.control_planes[-1].apiserver] if self.control_planes else [],
                )
            )

        # Every Kubernetes object goes through this provider, which waits for every API server.
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.pki.admin_kubeconfig,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cp.ready for cp in self.control_planes]),
        )

        # Kubelets join through TLS bootstrapping: the token Secret and RBAC must exist first.
        self.bootstrap = Bootstrap(f"{name}-bootstrap", spec, self.pki, self.provider, opts=child)
        self.approvers = [
            CsrApprover(
                f"{name}-{n.name}-csr-approver",
                spec,
                n,
                self.hosts[n.name],
                self.pki,
                self.bootstrap.ready,
                opts=child,
            )
            for n in spec.control_plane_nodes
        ]
        self.runtimes: dict[str, Runtime] = {}
        self.workers: list[WorkerNode] = []
        for n in spec.kubelet_nodes:
            runtime = Runtime(f"{name}-{n.name}-runtime", spec, n, self.hosts[n.name], opts=child)
            self.runtimes[n.name] = runtime
            self.workers.append(
                WorkerNode(
                    f"{name}-{n.name}-node",
                    spec,
                    n,
                    self.hosts[n.name],
                    runtime,
                    self.pki,
                    self.bootstrap.ready,
                    opts=child,
                )
            )
        # Serving certificates approved and role labels set before anything is scheduled.
        self.join = NodeJoin(
            f"{name}-join",
            spec,
            self.approvers[0],
            self.workers,
            self.provider,
            self.bootstrap.allow_namespace,
            opts=child,
        )

        # Every image our objects and the runtime use must be in its registry before anything
        # that pulls it is applied: a missing one stops the run here, named with its URL.
        first = spec.kubelet_nodes[0]
        self.image_check = script_step(
            f"{name}-{first.name}-image-check",
            self.hosts[first.name].connection,
            image_check.check_script(first.name),
            "true",  # it only reads: nothing to undo
            pulumi.ResourceOptions(parent=self, depends_on=[self.hosts[first.name], *hosts_ready]),
            stdin=image_check.check_input(spec),
        )
        self.cni = Cni(
            f"{name}-cni",
            spec,
            self.provider,
            pulumi.ResourceOptions(parent=self, depends_on=[*self.join.ready, self.image_check]),
        )
        self.addons = Addons(
            f"{name}-addons", spec, self.provider, pulumi.ResourceOptions(parent=self, depends_on=[self.cni])
        )

        # Last on each host: the guard that `pulumi refresh` reads back to find drift.
        self.drift_guards = [self._guard(name, n, ledger) for n in spec.nodes]

        self.register_outputs(
            {
                "clusterName": spec.cluster_name,
                "kubernetesVersion": spec.kubernetes_version,
                "apiEndpoint": spec.api_endpoint.url,
                "nodes": self.node_names,
            }
        )

    def _guard(self, name: str, node: NodeSpec, ledger: Ledger) -> DriftGuard:
        host = self.hosts[node.name]
        address = str(host.connection.host)
        files = [f for _step, f in ledger.files.get(address, [])]
        return DriftGuard(
            f"{name}-{node.name}-drift-guard",
            host.connection,
            files,
            drift_rules.expected_units(self.spec, node),
            [
                (a.name, artifacts.install_script(self.spec, a))
                for a in artifacts.node_artifacts(self.spec, node)
            ],
            after=ledger.steps.get(address, []),
            opts=pulumi.ResourceOptions(parent=self),
        )
