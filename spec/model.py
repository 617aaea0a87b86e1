"""The typed cluster spec: frozen dataclasses, built by spec.parse and checked by spec.validate."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


class SecretStr:
    """A secret value: never shown by repr/str, turned into a Pulumi secret by components."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretStr('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Bastion:
    host: str
    port: int
    user: str
    private_key: SecretStr | None  # None: the node's own key


@dataclass(frozen=True)
class SshSpec:
    user: str
    port: int
    private_key: SecretStr | None
    bastion: Bastion | None
    host_key: str | None  # pinned host public key ("ssh-ed25519 AAAA..."); None = unchecked


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str

    def render(self) -> str:
        return f"{self.key}={self.value}:{self.effect}" if self.value else f"{self.key}:{self.effect}"


@dataclass(frozen=True)
class NodeSpec:
    name: str
    address: str
    internal_address: str
    roles: frozenset[str]
    ssh: SshSpec
    arch: str
    os: str
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    kubernetes_version: str | None = None  # kubelet/kube-proxy pin during a rolling upgrade

    @property
    def is_etcd(self) -> bool:
        return "etcd" in self.roles

    @property
    def is_control_plane(self) -> bool:
        return "control-plane" in self.roles

    @property
    def is_worker(self) -> bool:
        return "worker" in self.roles

    @property
    def runs_kubelet(self) -> bool:
        """Control planes register as nodes too (tainted unless also workers)."""
        return self.is_worker or self.is_control_plane


@dataclass(frozen=True)
class ApiEndpoint:
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"


@dataclass(frozen=True)
class NetworkSpec:
    pod_cidr: str
    service_cidr: str
    node_cidr_mask_size: int
    cluster_domain: str
    dns_service_ip: str  # filled by parse: 10th address of service_cidr

    @property
    def api_service_ip(self) -> str:
        """The `kubernetes` Service's ClusterIP: the first address of the service range."""
        return str(ipaddress.ip_network(self.service_cidr, strict=False)[1])


@dataclass(frozen=True)
class PkiSpec:
    key_algorithm: str
    ecdsa_curve: str
    rsa_bits: int
    ca_validity_days: int
    cert_validity_days: int
    renew_before_days: int


@dataclass(frozen=True)
class RuntimeSpec:
    name: str
    cgroup_driver: str
    kata: bool
    # Lab hosts only: their machine grants no CAP_SYS_RESOURCE, so no process may lower its OOM
    # score; containerd then clamps the score it gives pods (docs/lab.md). Real hosts: false.
    restrict_oom_score_adj: bool
    # CRI-O's image policy rejects every image but the cluster's own registries' and these
    # (containers-policy.json scopes: host[:port][/namespace...] or *.domain) for workloads.
    crio_allowed_registries: tuple[str, ...]


@dataclass(frozen=True)
class CniSpec:
    name: str
    backend: str | None  # vxlan etc., per CNI; None where the CNI has no choice
    mtu: int | None  # None: the CNI detects it
    kube_proxy_replacement: bool  # cilium only
    ipam: str  # cilium only: use the node podCIDRs the controller-manager allocates
    encryption: bool  # weave only
    # Air-gapped sites: a Helm repository (https://, oci:// or a local directory of `helm pull`ed
    # charts) for flannel/calico/cilium, or the release manifest's URL (https://, file://) for
    # canal/weave. None: upstream (spec.defaults.CNI_CHARTS / CNI_MANIFEST_URLS).
    chart_repository: str | None
    manifest_url: str | None


@dataclass(frozen=True)
class KubeProxySpec:
    mode: str
    # None: kube-proxy's own default (it raises nf_conntrack_max to 32768 per core); 0: leave the
    # kernel's value alone, for hosts that are containers (the lab: the sysctl is read-only there).
    conntrack_max_per_core: int | None

    @property
    def enabled(self) -> bool:
        return self.mode != "disabled"


@dataclass(frozen=True)
class AuditSpec:
    """kube-apiserver's audit log and its rotation (--audit-log-*)."""

    enabled: bool
    max_age_days: int
    max_backups: int
    max_size_mb: int


@dataclass(frozen=True)
class SecuritySpec:
    encryption_at_rest: str
    tls_min_version: str
    tls_cipher_suites: tuple[str, ...]
    selinux: str  # enforcing: keep Enforcing hosts so, runtimes label containers; permissive: set Permissive
    audit: AuditSpec


@dataclass(frozen=True)
class AddonsSpec:
    coredns: bool
    smoke_test: bool


@dataclass(frozen=True)
class ImagesSpec:
    registry: str | None  # air-gapped: every image we apply is pulled from here
    plain_http: bool  # the registry answers plain HTTP (a lab or a trusted network only)


@dataclass(frozen=True)
class BinariesSpec:
    base_url: str | None  # None: upstream; else a mirror laid out as <artifact>/<ver>/<file>
    checksums: Mapping[str, str]  # "artifact/version/arch" -> algo:hex


@dataclass(frozen=True)
class EtcdSpec:
    allow_even_members: bool


@dataclass(frozen=True)
class LabSpec:
    enabled: bool
    control_planes: int
    workers: int
    etcd: int
    subnet: str
    release: str
    work_dir: str


@dataclass(frozen=True)
class Versions:
    kubernetes: str
    etcd: str
    containerd: str
    runc: str
    crio: str
    kata: str
    cni_plugins: str
    crictl: str
    coredns: str
    pause: str
    flannel: str
    flannel_cni_plugin: str
    calico: str
    weave: str
    cilium: str


class _NodesWhere:
    """A read-only ClusterSpec attribute: its nodes of which `test` holds, in spec order."""

    def __init__(self, test: Callable[[NodeSpec], bool]) -> None:
        self.test = test

    def __get__(self, spec: ClusterSpec, owner: type | None = None) -> tuple[NodeSpec, ...]:
        return tuple(n for n in spec.nodes if self.test(n))


@dataclass(frozen=True)
class ClusterSpec:
    cluster_name: str
    versions: Versions
    nodes: tuple[NodeSpec, ...]
    api_endpoint: ApiEndpoint
    network: NetworkSpec
    pki: PkiSpec
    runtime: RuntimeSpec
    cni: CniSpec
    kube_proxy: KubeProxySpec
    iptables_backend: str
    security: SecuritySpec
    addons: AddonsSpec
    images: ImagesSpec
    binaries: BinariesSpec
    etcd: EtcdSpec
    lab: LabSpec

    @property
    def kubernetes_version(self) -> str:
        return self.versions.kubernetes

    etcd_nodes = _NodesWhere(lambda n: n.is_etcd)
    control_plane_nodes = _NodesWhere(lambda n: n.is_control_plane)
    worker_nodes = _NodesWhere(lambda n: n.is_worker)
    kubelet_nodes = _NodesWhere(lambda n: n.runs_kubelet)

    def node(self, name: str) -> NodeSpec:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)
