"""Cross-field rules over a parsed ClusterSpec. Every rule adds to Problems; none raises."""

from __future__ import annotations

import ipaddress
import re
from collections import Counter

from spec import defaults as d
from spec.addresses import is_ip
from spec.model import ClusterSpec, NodeSpec
from spec.problems import Problems
from spec.versions import KUBELET_MAX_MINORS_BEHIND, minor_distance, minor_of, parse_version, version_field

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$"
)
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_HOST_KEY = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$")
# `versions` keys that are image tags rather than x.y.z releases: (pattern, what it is, remedy).
_RELEASE = re.compile(r"^\d+\.\d+\.\d+$")
_VERSION_TAGS = {
    "flannelCniPlugin": (
        re.compile(r"^\d+\.\d+\.\d+(-flannel\d+)?$"),
        "a flannel-cni-plugin tag",
        "write e.g. 1.9.1-flannel1",
    ),
    "pause": (re.compile(r"^\d+\.\d+(\.\d+)?$"), "a pause image tag", "write e.g. 3.10.1"),
}
_IMAGE_REGISTRY = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9._-]+)*$")
# A scope of containers-policy.json(5)'s docker transport: a registry host[:port], then repository
# path components as image references spell them (no tag, no digest); or a wildcard *.domain.
_HOST_PART = r"[A-Za-z0-9](?:[-A-Za-z0-9]*[A-Za-z0-9])?"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_POLICY_SCOPE = re.compile(rf"^{_HOST_PART}(?:\.{_HOST_PART})*(?::[0-9]+)?(?:/{_PATH_PART})*$")
_POLICY_WILDCARD = re.compile(rf"^\*(?:\.{_HOST_PART})+$")


def validate(spec: ClusterSpec, problems: Problems) -> None:
    _cluster(spec, problems)
    _versions(spec, problems)
    _nodes(spec, problems)
    _network(spec, problems)
    _pki(spec, problems)
    _runtime(spec, problems)
    _cni_and_proxy(spec, problems)
    _security(spec, problems)
    _images(spec, problems)
    _lab(spec, problems)


def _cluster(spec: ClusterSpec, p: Problems) -> None:
    if not _DNS_LABEL.match(spec.cluster_name):
        p.error(
            "clusterName",
            spec.cluster_name,
            "is not a DNS label",
            "use lowercase letters, digits and '-', at most 63 characters",
        )


def _versions(spec: ClusterSpec, p: Problems) -> None:
    version = spec.kubernetes_version
    supported = ", ".join(f"{a}.{b}.x" for a, b in d.SUPPORTED_KUBERNETES_MINORS)
    parsed = parse_version(version)
    if parsed is None:
        p.error(
            "kubernetesVersion",
            version,
            "is not a full release version",
            f"write major.minor.patch without 'v', e.g. {d.KEYS['kubernetesVersion'].default}",
        )
    elif (parsed[0], parsed[1]) not in d.SUPPORTED_KUBERNETES_MINORS:
        p.error(
            "kubernetesVersion", version, "is not a supported Kubernetes minor", f"use one of {supported}"
        )
    for key, default in d.DEFAULT_VERSIONS.items():
        value = getattr(spec.versions, version_field(key))
        release = (_RELEASE, "a full release version", f"write major.minor.patch without 'v', e.g. {default}")
        pattern, what, remedy = _VERSION_TAGS.get(key, release)
        if not pattern.match(value):
            p.error(f"versions.{key}", value, f"is not {what}", remedy)
    if parsed is None or (parsed[0], parsed[1]) not in d.SUPPORTED_KUBERNETES_MINORS:
        return
    etcd = parse_version(spec.versions.etcd)
    if etcd is not None and (etcd[0], etcd[1]) < (3, 5):
        p.error(
            "versions.etcd",
            spec.versions.etcd,
            "is older than Kubernetes supports",
            "use etcd 3.5.x or 3.6.x (3.6 is what kubeadm ships from 1.34 on)",
        )
    containerd = parse_version(spec.versions.containerd)
    if spec.runtime.name == "containerd" and containerd is not None:
        if containerd[0] < 2 and (parsed[0], parsed[1]) > (1, 35):
            p.error(
                "versions.containerd",
                spec.versions.containerd,
                f"is containerd 1.x, which Kubernetes {parsed[0]}.{parsed[1]} no longer supports",
                "use containerd 2.x (1.35 was the last release to support 1.x)",
            )
        elif containerd < (1, 7, 28):
            p.error(
                "versions.containerd",
                spec.versions.containerd,
                "is older than the containerd releases current Kubernetes supports",
                "use containerd >= 2.1.3, >= 2.0.6 or >= 1.7.28",
            )
    crio = parse_version(spec.versions.crio)
    if spec.runtime.name == "crio" and crio is not None and (crio[0], crio[1]) != (parsed[0], parsed[1]):
        p.error(
            "versions.crio",
            spec.versions.crio,
            "has a different minor than kubernetesVersion; CRI-O minors follow Kubernetes minors",
            f"use CRI-O {parsed[0]}.{parsed[1]}.x",
        )


def _nodes(spec: ClusterSpec, p: Problems) -> None:
    if not spec.nodes:
        if spec.lab.enabled:
            return  # _lab reports why the lab has no hosts
        p.error("nodes", [], "is empty", "list the hosts to install, or set lab.enabled to true")
        return
    names = Counter(n.name for n in spec.nodes)
    addresses = Counter(n.address for n in spec.nodes)
    internal = Counter(n.internal_address for n in spec.nodes)
    for i, node in enumerate(spec.nodes):
        path = f"nodes[{i}]"
        if node.name and not _DNS_SUBDOMAIN.match(node.name):
            p.error(
                f"{path}.name",
                node.name,
                "is not a valid Kubernetes node name",
                "use lowercase letters, digits, '-' and '.', starting and ending alphanumeric",
            )
        if node.name and names[node.name] > 1:
            p.error(
                f"{path}.name", node.name, "is used by more than one node", "give every node a unique name"
            )
        for key, value, counter in (
            ("address", node.address, addresses),
            ("internalAddress", node.internal_address, internal),
        ):
            if not value:
                continue
            if not is_ip(value) and not _HOSTNAME.match(value):
                p.error(
                    f"{path}.{key}",
                    value,
                    "is neither an IP address nor a host name",
                    "write e.g. 192.168.1.10 or node1.example.com",
                )
            elif counter[value] > 1 and (key == "address" or value != node.address):
                p.error(
                    f"{path}.{key}",
                    value,
                    "is used by more than one node",
                    "every node needs its own address",
                )
        if (
            node.internal_address
            and not is_ip(node.internal_address)
            and _HOSTNAME.match(node.internal_address)
        ):
            p.error(
                f"{path}.internalAddress",
                node.internal_address,
                "must be an IP address: it is the node IP that kubelet, etcd and the certificates' SANs use",
                "set internalAddress to the node's IP on the cluster network",
            )
        _labels(path, node, p)
        _node_version(path, node, spec.kubernetes_version, p)
        _host_key(path, node, p)
        if not spec.lab.enabled and node.ssh.private_key is None:
            p.error(
                f"{path}.ssh.privateKey",
                None,
                "is missing: nothing can log in to the node",
                "set ssh.privateKey with `pulumi config set --secret --path ssh.privateKey`"
                " (or ssh.privateKeyFile)",
            )
        if (
            node.ssh.bastion is not None
            and node.ssh.bastion.host
            and not (is_ip(node.ssh.bastion.host) or _HOSTNAME.match(node.ssh.bastion.host))
        ):
            p.error(
                f"{path}.ssh.bastion.host",
                node.ssh.bastion.host,
                "is not a host",
                "write an IP address or host name",
            )
    etcd = spec.etcd_nodes
    if not spec.control_plane_nodes:
        p.error(
            "nodes",
            [n.name for n in spec.nodes],
            "has no control-plane node",
            "give at least one node the role control-plane",
        )
    if not etcd:
        p.error(
            "nodes",
            [n.name for n in spec.nodes],
            "has no etcd node",
            "give one, three or five nodes the role etcd",
        )
    elif len(etcd) % 2 == 0 and not spec.etcd.allow_even_members:
        p.error(
            "nodes",
            [n.name for n in etcd],
            f"has {len(etcd)} etcd members: an even count tolerates no more failures than "
            f"{len(etcd) - 1} and makes split votes possible",
            "use an odd number of etcd nodes, or set etcd.allowEvenMembers: true",
        )
    if not spec.worker_nodes and spec.control_plane_nodes:
        p.warn(
            "nodes",
            [n.name for n in spec.nodes],
            "has no worker: control planes are tainted NoSchedule, so ordinary pods will stay Pending",
            "give a node the role worker",
        )
    if len(spec.control_plane_nodes) > 1 and spec.api_endpoint.host in {
        n.address for n in spec.control_plane_nodes[:1]
    }:
        p.warn(
            "apiEndpoint",
            spec.api_endpoint.host,
            "points at one of several control planes: clients lose the API when that node is down",
            "set apiEndpoint to a load balancer or VIP in front of all control planes",
        )


def _labels(path: str, node: NodeSpec, p: Problems) -> None:
    for key, value in node.labels.items():
        lpath = f"{path}.labels.{key}"
        prefix, _, name = key.rpartition("/")
        if (prefix and not _DNS_SUBDOMAIN.match(prefix)) or not _LABEL_NAME.match(name):
            p.error(
                lpath,
                value,
                "has an invalid label key",
                "use [prefix/]name with a DNS prefix and a name of at most 63 characters",
            )
        elif not _LABEL_VALUE.match(value) or len(value) > 63:
            p.error(
                lpath,
                value,
                "is not a valid label value",
                "use at most 63 letters, digits, '-', '_' or '.', alphanumeric at both ends",
            )
        elif (
            (
                prefix == "kubernetes.io"
                or prefix.endswith((".kubernetes.io", ".k8s.io"))
                or prefix == "k8s.io"
            )
            and key not in d.KUBELET_ALLOWED_LABELS
            and not key.startswith(d.KUBELET_ALLOWED_LABEL_PREFIXES)
        ):
            p.error(
                lpath,
                value,
                "is in a kubernetes.io/k8s.io namespace that NodeRestriction "
                "forbids kubelets to set (node roles are labelled by us)",
                "use your own prefix, or node.kubernetes.io/... / kubelet.kubernetes.io/...",
            )


def _node_version(path: str, node: NodeSpec, cluster: str, p: Problems) -> None:
    if node.kubernetes_version is None:
        return
    version = node.kubernetes_version
    if parse_version(version) is None or parse_version(cluster) is None:
        if parse_version(version) is None:
            p.error(
                f"{path}.kubernetesVersion",
                version,
                "is not a full release version",
                "write major.minor.patch, e.g. 1.34.2",
            )
        return
    if node.is_control_plane and minor_of(version) != minor_of(cluster):
        p.error(
            f"{path}.kubernetesVersion",
            version,
            "differs from kubernetesVersion on a control-plane node",
            "control planes run kubernetesVersion; pin versions only on worker nodes",
        )
        return
    behind = minor_distance(cluster, version)
    if behind < 0 or (behind == 0 and parse_version(version) > parse_version(cluster)):  # type: ignore[operator]
        p.error(
            f"{path}.kubernetesVersion",
            version,
            "is newer than kube-apiserver "
            f"({cluster}); the skew policy forbids kubelets newer than the API server",
            "upgrade kubernetesVersion (control planes) first, then nodes",
        )
    elif behind > KUBELET_MAX_MINORS_BEHIND:
        p.error(
            f"{path}.kubernetesVersion",
            version,
            f"is {behind} minors behind kube-apiserver ({cluster})",
            f"kubelet may be at most {KUBELET_MAX_MINORS_BEHIND} minors older: upgrade the node",
        )


def _host_key(path: str, node: NodeSpec, p: Problems) -> None:
    if node.ssh.host_key is not None and not _HOST_KEY.match(node.ssh.host_key.strip()):
        p.error(
            f"{path}.ssh.hostKey",
            node.ssh.host_key,
            "is not an SSH public host key",
            "paste a line of `ssh-keyscan <host>` without the host name, e.g. ssh-ed25519 AAAA...",
        )


def _network(spec: ClusterSpec, p: Problems) -> None:
    net = spec.network
    pod = _cidr("network.podCidr", net.pod_cidr, p)
    svc = _cidr("network.serviceCidr", net.service_cidr, p)
    if pod is not None and svc is not None:
        if pod.version != svc.version:
            p.error(
                "network.serviceCidr",
                net.service_cidr,
                "is of another IP family than podCidr",
                "use IPv4 (or IPv6) for both",
            )
        elif pod.overlaps(svc):
            p.error(
                "network.serviceCidr",
                net.service_cidr,
                f"overlaps podCidr {net.pod_cidr}",
                "use disjoint ranges, e.g. podCidr 10.244.0.0/16 and serviceCidr 10.96.0.0/12",
            )
    if svc is not None:
        host_bits = svc.max_prefixlen - svc.prefixlen
        if host_bits > d.MAX_SERVICE_HOST_BITS:
            p.error(
                "network.serviceCidr",
                net.service_cidr,
                f"has {host_bits} host bits; kube-apiserver accepts at most {d.MAX_SERVICE_HOST_BITS}",
                "use a /12 or smaller range for IPv4 (/108 or smaller for IPv6)",
            )
        elif svc.num_addresses < 16:
            p.error(
                "network.serviceCidr", net.service_cidr, "is too small for any services", "use at least a /28"
            )
        try:
            dns = ipaddress.ip_address(net.dns_service_ip)
        except ValueError:
            p.error(
                "network.dnsServiceIp",
                net.dns_service_ip,
                "is not an IP address",
                f"use an address inside serviceCidr, e.g. {_nth(svc, 10)}",
            )
        else:
            if dns not in svc:
                p.error(
                    "network.dnsServiceIp",
                    net.dns_service_ip,
                    f"is outside serviceCidr {net.service_cidr}",
                    f"use an address inside it, e.g. {_nth(svc, 10)}",
                )
            elif dns in (svc.network_address, svc[1], svc.broadcast_address):
                p.error(
                    "network.dnsServiceIp",
                    net.dns_service_ip,
                    "is the range's network, broadcast or API-service (first) address",
                    f"use another address of the range, e.g. {_nth(svc, 10)}",
                )
    if pod is not None:
        mask = net.node_cidr_mask_size
        if mask <= pod.prefixlen:
            p.error(
                "network.nodeCidrMaskSize",
                mask,
                f"is not longer than podCidr's prefix /{pod.prefixlen}",
                f"use a mask between {pod.prefixlen + 1} and {min(pod.max_prefixlen - 2, 28)}",
            )
        elif mask - pod.prefixlen > 16:
            p.error(
                "network.nodeCidrMaskSize",
                mask,
                "splits podCidr into more node ranges than kube-controller-manager allows "
                "(the difference of the masks must be at most 16)",
                f"use a mask of at most /{pod.prefixlen + 16} or a smaller podCidr",
            )
        elif 2 ** (mask - pod.prefixlen) < len(spec.kubelet_nodes):
            p.error(
                "network.nodeCidrMaskSize",
                mask,
                f"gives {2 ** (mask - pod.prefixlen)} node ranges for {len(spec.kubelet_nodes)} nodes",
                "use a longer mask or a larger podCidr",
            )
    for i, node in enumerate(spec.nodes):
        for key, value in (("address", node.address), ("internalAddress", node.internal_address)):
            if not is_ip(value):
                continue
            ip = ipaddress.ip_address(value)
            for name, cidr in (("podCidr", pod), ("serviceCidr", svc)):
                if cidr is not None and ip.version == cidr.version and ip in cidr:
                    p.error(
                        f"nodes[{i}].{key}",
                        value,
                        f"lies inside network.{name} {cidr}",
                        "hosts and pod/service ranges must not overlap: pick other ranges",
                    )
    if not _DNS_SUBDOMAIN.match(net.cluster_domain):
        p.error("network.clusterDomain", net.cluster_domain, "is not a DNS domain", "use e.g. cluster.local")
    if spec.api_endpoint.host and is_ip(spec.api_endpoint.host):
        ip = ipaddress.ip_address(spec.api_endpoint.host)
        for name, cidr in (("podCidr", pod), ("serviceCidr", svc)):
            if cidr is not None and ip.version == cidr.version and ip in cidr:
                p.error(
                    "apiEndpoint",
                    spec.api_endpoint.host,
                    f"lies inside network.{name}",
                    "use a host address (a load balancer, VIP or control-plane node)",
                )


def _pki(spec: ClusterSpec, p: Problems) -> None:
    pki = spec.pki
    if pki.cert_validity_days > pki.ca_validity_days:
        p.error(
            "pki.certValidityDays",
            pki.cert_validity_days,
            f"is longer than caValidityDays ({pki.ca_validity_days}): leaves would outlive their CA",
            "make certValidityDays at most caValidityDays",
        )
    if pki.renew_before_days >= pki.cert_validity_days:
        p.error(
            "pki.renewBeforeDays",
            pki.renew_before_days,
            f"is not shorter than certValidityDays ({pki.cert_validity_days}): every run "
            "would re-issue every certificate",
            "make renewBeforeDays smaller than certValidityDays",
        )
    if pki.cert_validity_days > 825:
        p.warn(
            "pki.certValidityDays",
            pki.cert_validity_days,
            "is over 825 days; long-lived leaves widen the window a leaked key stays usable",
            "prefer 365 days: leaves are re-issued renewBeforeDays ahead by `pulumi up`",
        )


def _runtime(spec: ClusterSpec, p: Problems) -> None:
    if spec.runtime.cgroup_driver != "systemd":
        p.warn(
            "runtime.cgroupDriver",
            spec.runtime.cgroup_driver,
            "is not systemd: on systemd hosts two cgroup managers fight under resource pressure",
            "use systemd (the default)",
        )

    allowed = spec.runtime.crio_allowed_registries
    if allowed and spec.runtime.name != "crio":
        p.error(
            "runtime.crio.allowedRegistries",
            list(allowed),
            "applies to CRI-O only: containerd has no image policy",
            "remove it, or set runtime.name: crio",
        )
    for i, scope in enumerate(allowed):
        problem = _policy_scope_problem(scope)
        if problem is not None:
            p.error(f"runtime.crio.allowedRegistries[{i}]", scope, *problem)
    if spec.runtime.name == "crio" and spec.cni.name == "none" and not allowed and not spec.images.registry:
        p.warn(
            "runtime.crio.allowedRegistries",
            [],
            "names no registry, and CRI-O rejects images from any registry but the cluster's own:"
            " the CNI you install (cni.name: none) could not start",
            "list its registries, e.g. [quay.io/cilium]",
        )


def _policy_scope_problem(scope: str) -> tuple[str, str] | None:
    """What is wrong with a registry scope of CRI-O's image policy (and how to write it), or None."""
    if _POLICY_WILDCARD.match(scope):
        return None
    example = "write e.g. quay.io, quay.io/myorg or registry.lan:5000/team/app"
    if "://" in scope:
        return "has a scheme", example
    host, _, path = scope.partition("/")
    if "@" in scope or ":" in path:
        return "names a tag or digest: the policy matches registries and repositories", example
    if not _POLICY_SCOPE.match(scope):
        return "is not a registry scope (host[:port][/namespace...] or *.domain)", example
    if host == "index.docker.io":
        return (
            "is Docker Hub's old name: images from there are matched as docker.io/...",
            "write docker.io/...",
        )
    if "." not in host and ":" not in host and host != "localhost":
        return (
            f"names no registry host: {host!r} would be matched as a host name",
            f"Docker Hub's images are matched as docker.io/{scope}",
        )
    return None


def _cni_and_proxy(spec: ClusterSpec, p: Problems) -> None:
    cni, proxy = spec.cni, spec.kube_proxy
    if not proxy.enabled and not (cni.name in d.CNIS_REPLACING_KUBE_PROXY and cni.kube_proxy_replacement):
        p.error(
            "kubeProxy.mode",
            proxy.mode,
            f"disables kube-proxy but cni {cni.name!r} does not replace it: Services would not work",
            "keep kube-proxy, or use cni.name cilium with cni.kubeProxyReplacement: true",
        )
    if cni.kube_proxy_replacement and proxy.enabled:
        p.error(
            "cni.kubeProxyReplacement",
            True,
            "makes Cilium replace kube-proxy while kube-proxy still runs: both program Services",
            "set kubeProxy.mode: disabled",
        )
    if proxy.mode == "ipvs":
        p.warn(
            "kubeProxy.mode",
            "ipvs",
            "is deprecated since Kubernetes 1.35",
            "use nftables (kernel >= 5.13) or iptables",
        )
    if proxy.mode == "nftables" and spec.iptables_backend == "legacy":
        p.error(
            "kubeProxy.mode",
            "nftables",
            "conflicts with iptablesBackend legacy: the host, kube-proxy and the CNI must agree",
            "use iptablesBackend nft (or auto), or kubeProxy.mode iptables",
        )
    # Weave Net being archived is said once, by the Cni component (in every preview and up).
    pod = _cidr_quiet(spec.network.pod_cidr)
    if cni.name == "weave" and pod is not None and pod.version != 4:
        p.error(
            "network.podCidr",
            spec.network.pod_cidr,
            "is IPv6, which Weave Net cannot route",
            "use an IPv4 podCidr or another CNI",
        )
    if cni.name in ("flannel", "canal") and pod is not None and spec.network.node_cidr_mask_size > 28:
        p.error(
            "network.nodeCidrMaskSize",
            spec.network.node_cidr_mask_size,
            f"leaves {cni.name} too few pod addresses per node",
            "use a mask of at most 28",
        )
    if cni.backend == "wireguard" and cni.name == "flannel":
        p.warn(
            "cni.backend",
            "wireguard",
            "needs the wireguard kernel module on every node",
            "check `modprobe wireguard` on your hosts",
        )
    if cni.mtu is not None and cni.mtu < 1280 and pod is not None and pod.version == 6:
        p.error("cni.mtu", cni.mtu, "is below IPv6's minimum", "use at least 1280")
    _cni_network(spec, pod, p)


def _cni_network(spec: ClusterSpec, pod: Network | None, p: Problems) -> None:
    """CNI options against the network: what the chosen CNI cannot carry out is refused here."""
    cni = spec.cni
    if cni.name == "canal" and pod is not None and pod.version != 4:
        p.error(
            "network.podCidr",
            spec.network.pod_cidr,
            "is IPv6; canal's manifest runs flannel for IPv4 only",
            "use an IPv4 podCidr, or cni.name calico or cilium",
        )
    block = d.CALICO_BLOCK_PREFIX.get(pod.version) if pod is not None else None
    if cni.name == "calico" and pod is not None and block is not None and pod.prefixlen > block:
        p.error(
            "network.podCidr",
            spec.network.pod_cidr,
            f"is smaller than one Calico IPAM block (/{block})",
            f"use a podCidr of /{block} or larger (e.g. a /16)",
        )
    if cni.name == "calico" and cni.backend == "ipip" and pod is not None and pod.version == 6:
        p.error(
            "cni.backend",
            "ipip",
            "cannot carry an IPv6 podCidr: IP-in-IP encapsulates IPv4 only",
            "use backend vxlan (or bgp) for IPv6",
        )
    overhead = d.CNI_ENCAP_OVERHEAD.get((cni.name, cni.backend), 0)
    minimum = 1280 if pod is not None and pod.version == 6 else 576
    if cni.mtu is not None and cni.mtu - overhead < minimum:
        p.error(
            "cni.mtu",
            cni.mtu,
            f"leaves pods {cni.mtu - overhead} bytes after {cni.name}'s {overhead}-byte encapsulation",
            f"cni.mtu is the node network's MTU: use at least {minimum + overhead}",
        )
    if cni.name == "flannel" and cni.backend == "host-gw" and cni.mtu is not None:
        p.warn(
            "cni.mtu",
            cni.mtu,
            "has no effect with flannel's host-gw backend (no encapsulation: pods use the node's MTU)",
            "remove cni.mtu",
        )
    if cni.name == "calico" and cni.backend == "bgp":
        p.warn(
            "cni.backend",
            "bgp",
            "routes pod traffic unencapsulated: every node must share one L2 segment, "
            "or your routers must peer with Calico (BGPPeer resources)",
            "use vxlan (default) or ipip where nodes are in different subnets",
        )
    if cni.name == "cilium" and cni.backend == "native":
        p.warn(
            "cni.backend",
            "native",
            "routes pod traffic unencapsulated (autoDirectNodeRoutes): every node must share one L2 segment",
            "use vxlan (default) or geneve where nodes are in different subnets",
        )
    if cni.name == "weave" and spec.kube_proxy.mode == "nftables":
        p.warn(
            "kubeProxy.mode",
            "nftables",
            "is untested with Weave Net 2.8.1, whose network policy controller expects iptables",
            "use kubeProxy.mode iptables with weave",
        )
    if spec.addons.smoke_test and cni.name == "none":
        p.error(
            "addons.smokeTest",
            True,
            "can never pass with cni none: pods get no network until a CNI is installed",
            "set addons.smokeTest false, or choose a CNI",
        )
    for key, value, schemes in (
        ("chartRepository", cni.chart_repository, ("https://", "http://", "oci://")),
        ("manifestUrl", cni.manifest_url, ("https://", "http://", "file://")),
    ):
        if value is None:
            continue
        if not (value.startswith(schemes) or value.startswith("/")):
            p.error(
                f"cni.{key}",
                value,
                "is neither a URL nor an absolute path",
                f"write {', '.join(s + '...' for s in schemes)} or /path/on/the/machine/running/pulumi",
            )
        elif value.startswith("http://"):
            p.warn(
                f"cni.{key}",
                value,
                "is plain HTTP: what is fetched cannot be authenticated",
                "serve the mirror over https://",
            )


def _security(spec: ClusterSpec, p: Problems) -> None:
    sec = spec.security
    if sec.encryption_at_rest == "aescbc":
        p.warn(
            "security.encryptionAtRest",
            "aescbc",
            "is weak (CBC is open to padding-oracle attacks) and not recommended upstream",
            "use secretbox (default) or aesgcm",
        )
    if sec.encryption_at_rest == "none":
        p.warn(
            "security.encryptionAtRest",
            "none",
            "leaves Secrets readable in etcd and backups",
            "use secretbox (default)",
        )
    if not sec.audit.enabled:
        p.warn("security.audit.enabled", False, "turns audit logging off: nothing is recorded", "keep it on")


def _images(spec: ClusterSpec, p: Problems) -> None:
    registry = spec.images.registry
    if registry is not None and not _IMAGE_REGISTRY.match(registry):
        p.error(
            "images.registry",
            registry,
            "is not a registry host[:port][/path]",
            "write e.g. registry.example.com:5000/mirror (no scheme)",
        )
    if spec.images.plain_http and registry is None:
        p.error("images.plainHttp", True, "names no registry", "set images.registry too, or drop plainHttp")
    elif spec.images.plain_http and not spec.lab.enabled:
        p.warn(
            "images.plainHttp",
            True,
            "pulls every image over plain HTTP: anyone on the path can swap them",
            "serve the registry over TLS",
        )


def _lab(spec: ClusterSpec, p: Problems) -> None:
    lab = spec.lab
    if not lab.enabled:
        return
    subnet = _cidr("lab.subnet", lab.subnet, p)
    if subnet is None:
        return
    if subnet.version != 4:
        p.error("lab.subnet", lab.subnet, "is not IPv4", "use e.g. 10.231.0.0/24")
    total = lab.control_planes + lab.workers + lab.etcd
    if total > d.LAB_MAX_HOSTS:
        p.error(
            "lab",
            total,
            f"asks for {total} hosts; this machine runs at most {d.LAB_MAX_HOSTS}",
            "lower lab.controlPlanes, lab.workers or lab.etcd",
        )
    elif not spec.nodes:
        p.error("lab.subnet", lab.subnet, f"has too few addresses for {total} hosts", "use a /24")
    if lab.etcd == 0 and lab.control_planes % 2 == 0 and not spec.etcd.allow_even_members:
        p.error(
            "lab.controlPlanes",
            lab.control_planes,
            "puts etcd on an even number of control planes",
            "use lab.etcd: 1 or 3, or an odd count",
        )
    if lab.etcd > 0 and lab.etcd % 2 == 0 and not spec.etcd.allow_even_members:
        p.error("lab.etcd", lab.etcd, "is an even number of etcd members", "use 1, 3 or 5")


def _cidr(path: str, value: str, p: Problems) -> Network | None:
    try:
        if "/" not in value:  # ip_network would take a bare address as a /32
            raise ValueError("no prefix length")
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as err:
        p.error(
            path,
            value,
            f"is not a network in CIDR notation ({err})",
            "write the network address and prefix, e.g. 10.244.0.0/16",
        )
        return None
    return net


def _cidr_quiet(value: str) -> Network | None:
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError:
        return None


def _nth(net: Network, n: int) -> str:
    return str(net[n]) if net.num_addresses > n else str(net[1])
