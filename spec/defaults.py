"""Every default and every accepted value of the stack configuration, in one place.

Changing a default here changes it for every stack that does not set the key. `KEYS` (at the end)
declares every key the parser reads, with its default and accepted values: spec/reader.py refuses
to read an undeclared key, and docs/configuration.md is generated from `KEYS`
(scripts/config_reference.py); a test keeps it current.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROJECT = "k8s-from-scratch"

# Kubernetes minors whose flags, configs and removals render/ knows. Patch releases of these
# are accepted; anything else is refused before a host is touched.
SUPPORTED_KUBERNETES_MINORS: tuple[tuple[int, int], ...] = ((1, 34), (1, 35), (1, 36))

# Pinned component versions (contract key `versions`). Checksums of these live in
# spec/checksums.txt; a version without a pinned checksum needs `binaries.checksums`.
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

API_SERVER_PORT = 6443

# kube-apiserver refuses a service range with more than 20 host bits (IPv4 /12).
MAX_SERVICE_HOST_BITS = 20

KEY_ALGORITHMS = ("ECDSA", "RSA")
ECDSA_CURVES = ("P256", "P384", "P521")  # P224 (the provider's default) is too weak
RSA_BITS = (2048, 3072, 4096)

RUNTIMES = ("containerd", "crio")
CGROUP_DRIVERS = ("systemd", "cgroupfs")

CNIS = ("flannel", "calico", "canal", "weave", "cilium", "none")
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
IPTABLES_BACKENDS = ("auto", "nft", "legacy")

ENCRYPTION_PROVIDERS = ("secretbox", "aesgcm", "aescbc", "none")
TLS_VERSIONS = ("VersionTLS12", "VersionTLS13")
# security.selinux, on hosts where SELinux is active. "enforcing" (default): an Enforcing host
# stays Enforcing (a Permissive one is left as found), the runtime labels every container
# (container_t, its own MCS categories) and host prep installs container-selinux; "permissive"
# switches an Enforcing host to Permissive (kubeadm's install guide does the same), undone on destroy.
SELINUX_MODES = ("enforcing", "permissive")
# ECDHE + AEAD suites only; Go's names, as kube-apiserver's --tls-cipher-suites takes them.
SECURE_CIPHER_SUITES = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
)

# The Kubernetes e2e test image (dig, curl, an HTTP echo server): what the opt-in smoke test runs.
SMOKE_TEST_IMAGE = "registry.k8s.io/e2e-test-images/agnhost:2.52"

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


@dataclass(frozen=True)
class Key:
    """One configuration key: what an unset key means and what is accepted."""

    default: Any = None  # the value of an unset key (None: unset, or computed: see `shown`)
    accepted: str = ""  # for the docs; `choices` and the range are listed by themselves
    choices: tuple[Any, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    shown: str | None = None  # the docs' default when it is computed or absent


def _ssh_keys(inherits: str = "") -> dict[str, Key]:
    """The keys of an `ssh` object; a node's inherit the top-level `ssh` (`inherits`)."""
    own = {
        "user": Key("root", "login user"),
        "port": Key(22, minimum=1, maximum=65535),
        "privateKey": Key(shown="-", accepted="secret (`pulumi config set --secret`)"),
        "privateKeyFile": Key(shown="-", accepted="path of a key file, instead of privateKey"),
        "hostKey": Key(shown="- (host key unchecked)", accepted="`ssh-ed25519 AAAA...` of this host"),
        "hostKeys": Key(shown="- (host keys unchecked)", accepted="`{nodeName: 'ssh-ed25519 AAAA...'}`"),
        "bastion.host": Key(shown="- (no bastion)", accepted="host name or IP address"),
        "bastion.port": Key(22, minimum=1, maximum=65535),
        "bastion.user": Key("root", "login user"),
        "bastion.privateKey": Key(shown="- (the node's own key)", accepted="secret"),
    }
    if not inherits:
        return own
    return {
        k: Key(v.default, v.accepted, v.choices, v.minimum, v.maximum, f"{inherits}.{k}")
        for k, v in own.items()
    }


def _cni_option(option: str) -> str:
    return "only for " + ", ".join(c for c, opts in CNI_OPTIONS.items() if option in opts)


_CNI_CHOICES = {o: c for opts in CNI_OPTIONS.values() for o, c in opts.items() if c is not None}

_VERSION_FORMS = {"pause": "x.y or x.y.z (an image tag)", "flannelCniPlugin": "x.y.z or x.y.z-flannelN"}

# Every key the parser reads: dotted config path ("nodes[]" for each node) -> Key.
KEYS: dict[str, Key] = {
    "clusterName": Key(shown="the stack name", accepted="a DNS label"),
    "kubernetesVersion": Key("1.35.4", ", ".join(f"{a}.{b}.x" for a, b in SUPPORTED_KUBERNETES_MINORS)),
    **{f"versions.{k}": Key(v, _VERSION_FORMS.get(k, "x.y.z")) for k, v in DEFAULT_VERSIONS.items()},
    "nodes": Key(shown="-", accepted="the hosts (ignored when lab.enabled)"),
    "nodes[].name": Key(shown="-", accepted="the Kubernetes node name"),
    "nodes[].address": Key(shown="-", accepted="IP address or host name we reach it at over SSH"),
    "nodes[].internalAddress": Key(shown="address", accepted="the node's IP on the cluster network"),
    "nodes[].roles": Key(shown="-", accepted="a non-empty subset of " + ", ".join(f"`{r}`" for r in ROLES)),
    "nodes[].arch": Key("amd64", choices=ARCHES),
    "nodes[].os": Key("auto", "`auto` reads /etc/os-release", choices=OS_FAMILIES),
    "nodes[].labels": Key(shown="{}", accepted="kubelet-settable labels (NodeRestriction)"),
    "nodes[].taints": Key(shown="[]", accepted="`key=value:Effect` or `{key, value, effect}`"),
    # A taint's effect is checked with its key by the parser (one problem for a bad taint).
    "nodes[].taints[].key": Key("", "the taint's key"),
    "nodes[].taints[].value": Key("", "the taint's value"),
    "nodes[].taints[].effect": Key("", ", ".join(f"`{e}`" for e in TAINT_EFFECTS)),
    "nodes[].kubernetesVersion": Key(
        shown="kubernetesVersion", accepted="workers only, at most 3 minors older"
    ),
    **{f"nodes[].ssh.{k}": v for k, v in _ssh_keys("ssh").items()},
    **{f"ssh.{k}": v for k, v in _ssh_keys().items()},
    "apiEndpoint": Key(shown=f"first control plane, port {API_SERVER_PORT}", accepted="host[:port]"),
    "network.podCidr": Key("10.244.0.0/16", "CIDR"),
    "network.serviceCidr": Key("10.96.0.0/12", f"CIDR, at most {MAX_SERVICE_HOST_BITS} host bits"),
    "network.nodeCidrMaskSize": Key(24, "longer than podCidr's prefix", minimum=8, maximum=30),
    "network.clusterDomain": Key("cluster.local", "DNS domain"),
    "network.dnsServiceIp": Key(shown="10th address of serviceCidr", accepted="inside serviceCidr"),
    "pki.keyAlgorithm": Key("ECDSA", choices=KEY_ALGORITHMS),
    "pki.ecdsaCurve": Key("P256", choices=ECDSA_CURVES),
    "pki.rsaBits": Key(2048, choices=RSA_BITS),
    "pki.caValidityDays": Key(3650, minimum=1, maximum=36500),
    "pki.certValidityDays": Key(365, "at most caValidityDays", minimum=1, maximum=36500),
    "pki.renewBeforeDays": Key(30, "less than certValidityDays", minimum=0, maximum=36500),
    "runtime.name": Key("containerd", choices=RUNTIMES),
    "runtime.cgroupDriver": Key("systemd", choices=CGROUP_DRIVERS),
    "runtime.kata": Key(False, "adds the Kata handler and RuntimeClass `kata`"),
    "runtime.crio.allowedRegistries": Key(
        shown="[] (only the registries the cluster's own images come from)",
        accepted="registries workloads may pull from besides: `host[:port]`, `host[:port]/namespace[/repo]`"
        " or `*.domain` (containers-policy.json scopes; Docker Hub is `docker.io`, its official images"
        " `docker.io/library`); only for crio: CRI-O rejects every other image",
    ),
    "runtime.restrictOomScoreAdj": Key(
        False, "lab hosts only (no CAP_SYS_RESOURCE): containerd clamps pods' OOM scores"
    ),
    "cni.name": Key("flannel", choices=CNIS),
    "cni.backend": Key(
        shown=", ".join(f"{c}: `{b}`" for c, b in CNI_DEFAULT_BACKEND.items()),
        accepted=_cni_option("backend")
        + "; "
        + "; ".join(
            f"{c}: " + ", ".join(f"`{v}`" for v in opts["backend"] or ())
            for c, opts in CNI_OPTIONS.items()
            if "backend" in opts
        ),
    ),
    "cni.mtu": Key(
        shown="- (the CNI detects it)",
        accepted="the node network's MTU, 576-9000; " + _cni_option("mtu"),
        minimum=576,
        maximum=9000,
    ),
    "cni.kubeProxyReplacement": Key(False, _cni_option("kubeProxyReplacement")),
    "cni.ipam": Key("kubernetes", _cni_option("ipam"), choices=_CNI_CHOICES["ipam"]),
    "cni.encryption": Key(False, _cni_option("encryption")),
    "cni.chartRepository": Key(
        shown="- (upstream)",
        accepted="Helm repository (https://, oci://, a directory); " + _cni_option("chartRepository"),
    ),
    "cni.manifestUrl": Key(
        shown="- (upstream)",
        accepted="release manifest URL (https://, file://); " + _cni_option("manifestUrl"),
    ),
    "kubeProxy.mode": Key("iptables", choices=KUBE_PROXY_MODES),
    "kubeProxy.conntrackMaxPerCore": Key(
        shown="- (kube-proxy's 32768)", accepted="0 leaves the kernel's value (container hosts)", minimum=0
    ),
    "iptablesBackend": Key("auto", choices=IPTABLES_BACKENDS),
    "security.encryptionAtRest": Key("secretbox", choices=ENCRYPTION_PROVIDERS),
    "security.audit.enabled": Key(True),
    "security.audit.maxAgeDays": Key(30, minimum=1, maximum=3650),
    "security.audit.maxBackups": Key(10, minimum=0, maximum=1000),
    "security.audit.maxSizeMb": Key(100, minimum=1, maximum=100000),
    "security.tlsMinVersion": Key("VersionTLS12", choices=TLS_VERSIONS),
    "security.tlsCipherSuites": Key(
        shown="all accepted", accepted=", ".join(f"`{s}`" for s in SECURE_CIPHER_SUITES)
    ),
    "security.selinux": Key(
        "enforcing",
        "SELinux hosts; enforcing: Enforcing hosts stay so, containers are labelled, container-selinux"
        " installed; permissive: Enforcing hosts are set Permissive",
        choices=SELINUX_MODES,
    ),
    "addons.coredns": Key(True),
    "addons.smokeTest": Key(False),
    "images.registry": Key(shown="- (upstream registries)", accepted="host[:port][/path] of a mirror"),
    "images.plainHttp": Key(False, "the registry answers plain HTTP (lab or trusted network)"),
    "binaries.baseUrl": Key(
        shown="- (upstream)", accepted="http(s)/file URL of a mirror: `<artifact>/<version>/<file>`"
    ),
    "binaries.checksums": Key(
        shown="{} (pinned in spec/checksums.txt)", accepted="`{artifact/version/arch: sha256:<hex>}`"
    ),
    "etcd.allowEvenMembers": Key(False),
    "lab.enabled": Key(False),
    "lab.controlPlanes": Key(1, minimum=1, maximum=5),
    "lab.workers": Key(2, minimum=0, maximum=8),
    "lab.etcd": Key(0, "0: etcd on the control planes", minimum=0, maximum=5),
    "lab.subnet": Key("10.231.0.0/24", "IPv4 CIDR"),
    "lab.release": Key("bookworm", choices=("bookworm", "trixie")),
    "lab.workDir": Key("/var/lib/k8s-from-scratch-lab", "a directory"),
    "pool.cluster": Key(
        shown="- (not a pool)",
        accepted="a node pool's cluster stack: `stack` of this project or `organization/project/stack`;"
        " a pool stack sets only pool.cluster, nodes (workers) and ssh (docs/nodes.md, Node pools)",
    ),
}
