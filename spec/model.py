"""The typed cluster spec: frozen dataclasses, built by spec.parse and checked by spec.validate."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from spec import defaults as d


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
    port: int = d.SSH_DEFAULT_PORT
    user: str = d.SSH_DEFAULT_USER
    private_key: SecretStr | None = None  # None: the node's own key


@dataclass(frozen=True)
class SshSpec:
    user: str = d.SSH_DEFAULT_USER
    port: int = d.SSH_DEFAULT_PORT
    private_key: SecretStr | None = None
    bastion: Bastion | None = None
    host_key: str | None = None  # pinned host public key ("ssh-ed25519 AAAA..."); None = unchecked


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
    arch: str = "amd64"
    os: str = "auto"
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
    port: int = d.API_SERVER_PORT

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"


@dataclass(frozen=True)
class NetworkSpec:
    pod_cidr: str = d.POD_CIDR
    service_cidr: str = d.SERVICE_CIDR
    node_cidr_mask_size: int = d.NODE_CIDR_MASK_SIZE
    cluster_domain: str = d.CLUSTER_DOMAIN
    dns_service_ip: str = ""  # filled by parse: 10th address of service_cidr

    @property
    def api_service_ip(self) -> str:
        """The `kubernetes` Service's ClusterIP: the first address of the service range."""
        return str(ipaddress.ip_network(self.service_cidr, strict=False)[1])


@dataclass(frozen=True)
class PkiSpec:
    key_algorithm: str = "ECDSA"
    ecdsa_curve: str = "P256"
    rsa_bits: int = 2048
    ca_validity_days: int = 3650
    cert_validity_days: int = 365
    renew_before_days: int = 30


@dataclass(frozen=True)
class RuntimeSpec:
    name: str = "containerd"
    cgroup_driver: str = "systemd"
    kata: bool = False
    # Lab hosts only: their machine grants no CAP_SYS_RESOURCE, so no process may lower its OOM
    # score; containerd then clamps the score it gives pods (docs/lab.md). Real hosts: false.
    restrict_oom_score_adj: bool = False


@dataclass(frozen=True)
class CniSpec:
    name: str = d.DEFAULT_CNI
    backend: str | None = None  # vxlan etc., per CNI; None where the CNI has no choice
    mtu: int | None = None  # None: the CNI detects it
    kube_proxy_replacement: bool = False  # cilium only
    ipam: str = "kubernetes"  # cilium only: use the node podCIDRs the controller-manager allocates
    encryption: bool = False  # weave only
    # Air-gapped sites: a Helm repository (https://, oci:// or a local directory of `helm pull`ed
    # charts) for flannel/calico/cilium, or the release manifest's URL (https://, file://) for
    # canal/weave. None: upstream (spec.defaults.CNI_CHARTS / CNI_MANIFEST_URLS).
    chart_repository: str | None = None
    manifest_url: str | None = None


@dataclass(frozen=True)
class KubeProxySpec:
    mode: str = d.DEFAULT_KUBE_PROXY_MODE
    # None: kube-proxy's own default (it raises nf_conntrack_max to 32768 per core); 0: leave the
    # kernel's value alone, for hosts that are containers (the lab: the sysctl is read-only there).
    conntrack_max_per_core: int | None = None

    @property
    def enabled(self) -> bool:
        return self.mode != "disabled"


@dataclass(frozen=True)
class AuditSpec:
    enabled: bool = True
    max_age_days: int = 30
    max_backups: int = 3
    max_size_mb: int = 100


@dataclass(frozen=True)
class SecuritySpec:
    encryption_at_rest: str = d.DEFAULT_ENCRYPTION
    audit: AuditSpec = AuditSpec()
    tls_min_version: str = "VersionTLS12"
    tls_cipher_suites: tuple[str, ...] = d.SECURE_CIPHER_SUITES
    selinux: str = d.DEFAULT_SELINUX  # permissive: set Enforcing hosts to Permissive; enforcing: keep


@dataclass(frozen=True)
class AddonsSpec:
    coredns: bool = True
    smoke_test: bool = False


@dataclass(frozen=True)
class ImagesSpec:
    registry: str | None = None  # air-gapped: every image we apply is pulled from here
    plain_http: bool = False  # the registry answers plain HTTP (a lab or a trusted network only)


@dataclass(frozen=True)
class BinariesSpec:
    base_url: str | None = None  # None: upstream; else a mirror laid out as <artifact>/<ver>/<file>
    checksums: Mapping[str, str] = field(default_factory=dict)  # "artifact/version/arch" -> algo:hex


@dataclass(frozen=True)
class EtcdSpec:
    allow_even_members: bool = False


@dataclass(frozen=True)
class LabSpec:
    enabled: bool = False
    control_planes: int = 1
    workers: int = 2
    etcd: int = 0
    subnet: str = "10.231.0.0/24"
    release: str = "bookworm"
    work_dir: str = "/var/lib/k8s-from-scratch-lab"


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


@dataclass(frozen=True)
class ClusterSpec:
    cluster_name: str
    versions: Versions
    nodes: tuple[NodeSpec, ...]
    api_endpoint: ApiEndpoint
    network: NetworkSpec = NetworkSpec()
    pki: PkiSpec = PkiSpec()
    runtime: RuntimeSpec = RuntimeSpec()
    cni: CniSpec = CniSpec()
    kube_proxy: KubeProxySpec = KubeProxySpec()
    iptables_backend: str = "auto"
    security: SecuritySpec = SecuritySpec()
    addons: AddonsSpec = AddonsSpec()
    images: ImagesSpec = ImagesSpec()
    binaries: BinariesSpec = BinariesSpec()
    etcd: EtcdSpec = EtcdSpec()
    lab: LabSpec = LabSpec()

    @property
    def kubernetes_version(self) -> str:
        return self.versions.kubernetes

    @property
    def etcd_nodes(self) -> tuple[NodeSpec, ...]:
        return tuple(n for n in self.nodes if n.is_etcd)

    @property
    def control_plane_nodes(self) -> tuple[NodeSpec, ...]:
        return tuple(n for n in self.nodes if n.is_control_plane)

    @property
    def worker_nodes(self) -> tuple[NodeSpec, ...]:
        return tuple(n for n in self.nodes if n.is_worker)

    @property
    def kubelet_nodes(self) -> tuple[NodeSpec, ...]:
        return tuple(n for n in self.nodes if n.runs_kubelet)

    def node(self, name: str) -> NodeSpec:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)
