"""Every default and every accepted value of the stack configuration, in one place.

Changing a default here changes it for every stack that does not set the key.
docs/configuration.md is generated from this module (scripts/config_reference.py); a test keeps
it current.
"""

from __future__ import annotations

from typing import Any

PROJECT = "k8s-from-scratch"

# Kubernetes minors whose flags, configs and removals render/ knows. Patch releases of these
# are accepted; anything else is refused before a host is touched.
SUPPORTED_KUBERNETES_MINORS: tuple[tuple[int, int], ...] = ((1, 34), (1, 35), (1, 36))
DEFAULT_KUBERNETES_VERSION = "1.35.4"

# Pinned component versions (contract key `versions`). Checksums of these live in
# spec/checksums.py; a version without a pinned checksum needs `binaries.checksums`.
DEFAULT_VERSIONS: dict[str, str] = {
    "etcd": "3.6.15",
    "containerd": "2.2.8",
    "runc": "1.4.3",
    "crio": "1.35.4",
    "kata": "3.7.0",
    "cniPlugins": "1.9.1",
    "crictl": "1.35.0",
    "coredns": "1.13.1",  # what kubeadm 1.35 deploys
    "pause": "3.10.1",
    "flannel": "0.28.10",
    "flannelCniPlugin": "1.9.1-flannel1",  # the image that drops the `flannel` CNI binary on nodes
    "calico": "3.31.7",
    "weave": "2.8.1",  # the last upstream release; the project is archived
    "cilium": "1.19.3",
}

ROLES = ("etcd", "control-plane", "worker")
ARCHES = ("amd64", "arm64")
# `os` on a node: auto reads /etc/os-release on the host; the rest override it.
OS_FAMILIES = ("auto", "debian", "rhel", "rhel7")

SSH_DEFAULT_USER = "root"
SSH_DEFAULT_PORT = 22
API_SERVER_PORT = 6443

POD_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/12"
NODE_CIDR_MASK_SIZE = 24
CLUSTER_DOMAIN = "cluster.local"
# kube-apiserver refuses a service range with more than 20 host bits (IPv4 /12).
MAX_SERVICE_HOST_BITS = 20

KEY_ALGORITHMS = ("ECDSA", "RSA")
ECDSA_CURVES = ("P256", "P384", "P521")  # P224 (the provider's default) is too weak
RSA_BITS = (2048, 3072, 4096)
PKI_DEFAULTS: dict[str, Any] = {
    "keyAlgorithm": "ECDSA",
    "ecdsaCurve": "P256",
    "rsaBits": 2048,
    "caValidityDays": 3650,
    "certValidityDays": 365,
    "renewBeforeDays": 30,
}

RUNTIMES = ("containerd", "crio")
CGROUP_DRIVERS = ("systemd", "cgroupfs")

CNIS = ("flannel", "calico", "canal", "weave", "cilium", "none")
DEFAULT_CNI = "flannel"
# Plugin options each CNI accepts, with their accepted values (None = free-form, checked apart).
CNI_OPTIONS: dict[str, dict[str, tuple[str, ...] | None]] = {
    "flannel": {"backend": ("vxlan", "host-gw", "wireguard"), "mtu": None},
    "calico": {"backend": ("vxlan", "ipip", "bgp"), "mtu": None, "chartRepository": None},
    "canal": {"backend": ("vxlan",), "mtu": None, "manifestUrl": None},
    "weave": {"mtu": None, "encryption": None, "manifestUrl": None},
    "cilium": {
        "backend": ("vxlan", "geneve", "native"),
        "mtu": None,
        "kubeProxyReplacement": None,
        "ipam": ("kubernetes", "cluster-pool"),
        "chartRepository": None,
    },
    "none": {},
}
CNI_DEFAULT_BACKEND = {"flannel": "vxlan", "calico": "vxlan", "canal": "vxlan", "cilium": "vxlan"}
# CNIs that can take over kube-proxy's job.
CNIS_REPLACING_KUBE_PROXY = ("cilium",)
ARCHIVED_CNIS = {"weave": "Weave Net is archived upstream (Weaveworks closed in 2024)"}
# Where each CNI comes from upstream, referenced by version and never copied into the repo.
# `cni.chartRepository` / `cni.manifestUrl` replace these for air-gapped sites (a mirror).
CNI_CHARTS: dict[str, tuple[str, str]] = {  # cni -> (Helm repository, chart name)
    "calico": ("https://docs.tigera.io/calico/charts", "tigera-operator"),
    "cilium": ("https://helm.cilium.io/", "cilium"),
}
# Bytes each CNI's encapsulation adds (IPv4 outer headers): `cni.mtu` is the MTU of the node
# network, and a CNI that takes the pod MTU gets cni.mtu minus this. Weave keeps the margin of its
# own default (1500 -> 1376), which also fits its encryption.
CNI_ENCAP_OVERHEAD: dict[tuple[str, str | None], int] = {
    ("flannel", "vxlan"): 50,
    ("flannel", "wireguard"): 80,
    ("flannel", "host-gw"): 0,
    ("calico", "vxlan"): 50,
    ("calico", "ipip"): 20,
    ("calico", "bgp"): 0,
    ("canal", "vxlan"): 50,
    ("cilium", "vxlan"): 50,
    ("cilium", "geneve"): 50,
    ("cilium", "native"): 0,
    ("weave", None): 124,
}
CALICO_BLOCK_PREFIX = {4: 26, 6: 122}  # Calico IPAM hands out blocks of this size per node
# cni -> release manifest URL; {version}: versions.calico for canal, versions.weave for weave
CNI_MANIFEST_URLS: dict[str, str] = {
    "canal": "https://raw.githubusercontent.com/projectcalico/calico/v{version}/manifests/canal.yaml",
    "weave": "https://github.com/weaveworks/weave/releases/download/v{version}/weave-daemonset-k8s-1.11.yaml",
}

KUBE_PROXY_MODES = ("iptables", "ipvs", "nftables", "disabled")
DEFAULT_KUBE_PROXY_MODE = "iptables"
IPTABLES_BACKENDS = ("auto", "nft", "legacy")

ENCRYPTION_PROVIDERS = ("secretbox", "aesgcm", "aescbc", "none")
DEFAULT_ENCRYPTION = "secretbox"
TLS_VERSIONS = ("VersionTLS12", "VersionTLS13")
# security.selinux: what host prep does on an SELinux host in Enforcing mode. "permissive"
# (default) switches it to Permissive (kubelet and most CNIs need policy work otherwise);
# "enforcing" keeps it, for sites that ship their own container-selinux policy.
SELINUX_MODES = ("permissive", "enforcing")
DEFAULT_SELINUX = "permissive"
# ECDHE + AEAD suites only; Go's names, as kube-apiserver's --tls-cipher-suites takes them.
SECURE_CIPHER_SUITES = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
)
AUDIT_DEFAULTS: dict[str, Any] = {"enabled": True, "maxAgeDays": 30, "maxBackups": 3, "maxSizeMb": 100}

ADDON_DEFAULTS = {"coredns": True, "smokeTest": False}
# The Kubernetes e2e test image (dig, curl, an HTTP echo server): what the opt-in smoke test runs.
SMOKE_TEST_IMAGE = "registry.k8s.io/e2e-test-images/agnhost:2.52"

LAB_DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "controlPlanes": 1,
    "workers": 2,
    "etcd": 0,  # 0 = etcd on the control planes
    "subnet": "10.231.0.0/24",
    "release": "bookworm",
    "workDir": "/var/lib/k8s-from-scratch-lab",
}
LAB_MAX_HOSTS = 12

# Kubelet label prefixes NodeRestriction lets a kubelet set on itself (--node-labels).
KUBELET_ALLOWED_LABEL_PREFIXES = ("kubelet.kubernetes.io/", "node.kubernetes.io/")
KUBELET_ALLOWED_LABELS = (
    "kubernetes.io/hostname",
    "kubernetes.io/arch",
    "kubernetes.io/os",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "failure-domain.beta.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
)
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
