"""Host preparation, rendered per node: preflight, packages, kernel, swap, SELinux, firewalld, time,
iptables backend and the Raspberry Pi kernel command line, as the parts of one `prepare` step
(prepare_step); each part has a script that undoes it.

The OS family is decided on the host at run time (a preview runs nothing): the step starts with
render/templates/host/lib.sh, which reads /etc/os-release unless the node's `os` overrides it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from render import ports as P
from render.artifacts import node_kubernetes_version
from render.host_files import FileMeta, encode_bundle, install_command, remove_command, sha256
from render.script_parts import Part, StepScripts, run_parts
from render.scripts import body
from spec.model import ClusterSpec, NodeSpec

MODULES_FILE = "/etc/modules-load.d/k8s-from-scratch.conf"
SYSCTL_FILE = "/etc/sysctl.d/90-k8s-from-scratch.conf"

# RAM floors in MiB. A "2 GB" machine reports ~1.8-1.9 GiB of MemTotal and a "1 GB" one
# ~900 MiB (firmware and kernel keep the rest), so the floors sit below the nominal sizes;
# 1700 MiB is kubeadm's own control-plane floor.
CONTROL_PLANE_MIN_MB = 1700
NODE_MIN_MB = 800
WORKER_COMFORT_MB = 1700

RPI_CGROUP_FLAGS = ("cgroup_enable=cpuset", "cgroup_enable=memory", "cgroup_memory=1")

# The SELinux policy confined containers run under (container_t, container_file_t); RHEL and
# Fedora package it, Debian's refpolicy has the module built in (docs/hosts.md).
CONTAINER_SELINUX = "container-selinux"


@dataclass(frozen=True)
class HostStep:
    """One part of the Host's `prepare` step: its name and its create/undo bodies (they run after
    host_lib, which `standalone` prepends for a script of its own)."""

    part: str
    create: str
    delete: str


def modules(spec: ClusterSpec, node: NodeSpec) -> tuple[str, ...]:
    if not node.runs_kubelet:
        return ()
    mods = ["overlay", "br_netfilter"]
    if spec.kube_proxy.mode == "ipvs":
        mods += ["ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack"]
    return tuple(mods)


KUBELET_KERNEL_TUNABLES = (
    ("vm.overcommit_memory", "1"),
    ("vm.panic_on_oom", "0"),
    ("kernel.panic", "10"),
    ("kernel.panic_on_oops", "1"),
    ("kernel.keys.root_maxkeys", "1000000"),
    ("kernel.keys.root_maxbytes", "25000000"),
)


def sysctls(spec: ClusterSpec, node: NodeSpec) -> tuple[tuple[str, str], ...]:
    if not node.runs_kubelet:
        return ()
    values = [
        ("net.bridge.bridge-nf-call-iptables", "1"),
        ("net.bridge.bridge-nf-call-ip6tables", "1"),
        ("net.ipv4.ip_forward", "1"),
        # Many pods watching files (log shippers, controllers) exhaust the small defaults.
        ("fs.inotify.max_user_watches", "524288"),
        ("fs.inotify.max_user_instances", "8192"),
        # What kubelet wants of the kernel (its setupKernelTunables would set these itself at
        # every start); set here, kubelet runs with protectKernelDefaults and only checks them.
        *KUBELET_KERNEL_TUNABLES,
    ]
    if ipaddress.ip_network(spec.network.pod_cidr, strict=False).version == 6:
        values.append(("net.ipv6.conf.all.forwarding", "1"))
    return tuple(values)


def kernel_files(spec: ClusterSpec, node: NodeSpec) -> list[tuple[FileMeta, str]]:
    """modules-load.d and sysctl.d files: what makes the kernel settings survive a reboot."""
    if not node.runs_kubelet:
        return []
    head = "# Managed by k8s-from-scratch; removed on destroy.\n"
    mods = head + "".join(f"{m}\n" for m in modules(spec, node))
    ctl = head + "".join(f"{k} = {v}\n" for k, v in sysctls(spec, node))
    return [(FileMeta(MODULES_FILE), mods), (FileMeta(SYSCTL_FILE), ctl)]


def _cni_ports(spec: ClusterSpec) -> tuple[str, ...]:
    cni, backend = spec.cni.name, spec.cni.backend
    if cni == "flannel":
        return {"vxlan": ("8472/udp",), "wireguard": ("51820/udp", "51821/udp")}.get(backend or "", ())
    if cni == "canal":
        return ("8472/udp", "9099/tcp")
    if cni == "calico":
        ports = {"vxlan": ("4789/udp",), "bgp": ("179/tcp",), "ipip": ("179/tcp",)}.get(backend or "", ())
        return (*ports, "5473/tcp", "9099/tcp")  # typha, felix health
    if cni == "weave":
        return ("6783/tcp", "6783-6784/udp")
    if cni == "cilium":
        tunnel = {"vxlan": ("8472/udp",), "geneve": ("6081/udp",)}.get(backend or "", ())
        return (*tunnel, "4240/tcp", "4244/tcp")  # health, hubble
    return ()


def firewall_ports(spec: ClusterSpec, node: NodeSpec) -> tuple[str, ...]:
    """firewalld ports (port[-port]/proto) this node's roles and the CNI need."""
    ports: list[str] = []
    if node.is_etcd:
        ports.append(f"{P.ETCD_CLIENT}-{P.ETCD_PEER}/tcp")
    if node.is_control_plane:
        ports += [f"{p}/tcp" for p in (P.api_server(spec), P.CONTROLLER_MANAGER, P.SCHEDULER)]
    if node.runs_kubelet:
        ports += [f"{P.KUBELET}/tcp", f"{P.NODE_PORTS}/tcp", f"{P.NODE_PORTS}/udp"]
        if spec.kube_proxy.enabled:
            ports.append(f"{P.KUBE_PROXY_HEALTHZ}/tcp")
        ports += _cni_ports(spec)
    return tuple(dict.fromkeys(ports))


def listening_ports(spec: ClusterSpec, node: NodeSpec) -> tuple[tuple[int, str], ...]:
    """TCP ports our services bind here, with the process name (comm, 15 chars) that may hold them."""
    ports: list[tuple[int, str]] = []
    if node.is_etcd:
        ports += [(P.ETCD_CLIENT, "etcd"), (P.ETCD_PEER, "etcd"), (P.ETCD_METRICS, "etcd")]
    if node.is_control_plane:
        ports += [(P.api_server(spec), "kube-apiserver"), (P.CONTROLLER_MANAGER, "kube-controller-manager")]
        ports.append((P.SCHEDULER, "kube-scheduler"))
    if node.runs_kubelet:
        ports += [(P.KUBELET, "kubelet"), (P.KUBELET_HEALTHZ, "kubelet")]
        if spec.kube_proxy.enabled:
            ports.append((P.KUBE_PROXY_HEALTHZ, "kube-proxy"))
    return tuple((p, name[:15]) for p, name in ports)


def _packages(spec: ClusterSpec, node: NodeSpec, family: str) -> str:
    base = {
        "debian": ["curl|wget", "tar", "ca-certificates", "iproute2", "kmod"],
        "rhel": ["curl|wget", "tar", "ca-certificates", "iproute", "kmod"],
        "rhel7": ["curl|wget", "tar", "ca-certificates", "iproute", "kmod"],
    }[family]
    if node.is_control_plane:
        base.append("openssl")  # the serving-CSR approver reads CSR SANs with openssl req
    if node.runs_kubelet:
        base += {
            "debian": ["conntrack", "socat", "ethtool", "iptables", "ebtables?"],
            "rhel": ["conntrack-tools", "socat", "ethtool", "iptables-nft|iptables", "iptables-ebtables?"],
            "rhel7": ["conntrack-tools", "socat", "ethtool", "iptables", "ebtables"],
        }[family]
        if spec.kube_proxy.mode == "nftables" or spec.iptables_backend == "nft":
            base.append("nftables" if family != "rhel7" else "nftables?")
        if spec.kube_proxy.mode == "ipvs":
            base += ["ipset", "ipvsadm"]
        if spec.runtime.kata:
            base.append("xz-utils" if family == "debian" else "xz")
    return " ".join(base)


def _selinux_packages(spec: ClusterSpec, node: NodeSpec) -> str:
    """What host prep adds on hosts where SELinux is active: the container policy, for nodes that
    run containers under security.selinux: enforcing; optional (Debian has no such package)."""
    return f"{CONTAINER_SELINUX}?" if node.runs_kubelet and spec.security.selinux == "enforcing" else ""


def host_lib(node: NodeSpec) -> str:
    """What every host-prep script starts with: the node, its OS override and host_lib.sh."""
    return body("host/lib.sh", NODE=node.name, OS_OVERRIDE=node.os)


def standalone(node: NodeSpec, body: str) -> str:
    """A body as a script of its own (shellcheck, tests)."""
    return "#!/bin/sh\n" + host_lib(node) + body


def preflight_body(spec: ClusterSpec, node: NodeSpec) -> str:
    if node.is_control_plane:
        minimum, comfort = CONTROL_PLANE_MIN_MB, CONTROL_PLANE_MIN_MB
    else:
        minimum, comfort = NODE_MIN_MB, WORKER_COMFORT_MB if node.is_worker else NODE_MIN_MB
    why = (
        f"{spec.cni.name} and kubelet leave little room for pods on a 1 GB worker (flannel pods were "
        "OOM-killed on 1 GB Raspberry Pi workers); keep workloads small and set memory limits"
    )
    return body(
        "host/preflight.sh",
        ROLES=",".join(sorted(node.roles)),
        ARCH=node.arch,
        MEM_MIN_MB=str(minimum),
        MEM_WARN_MB=str(comfort),
        MEM_WARN_WHY=why,
        KUBELET="yes" if node.runs_kubelet else "no",
        KUBELET_VERSION=node_kubernetes_version(spec, node),
        MODULES=" ".join(modules(spec, node)),
        PORTS=" ".join(f"{p}:{name}" for p, name in listening_ports(spec, node)),
        SELINUX_MODE=spec.security.selinux,
        SELINUX_PACKAGE=CONTAINER_SELINUX,
    )


def host_steps(spec: ClusterSpec, node: NodeSpec) -> list[HostStep]:
    """Ordered parts after the preflight (bodies: they run after `host_lib`)."""
    steps = [
        HostStep(
            "packages",
            body(
                "host/packages.sh",
                PKG_DEBIAN=_packages(spec, node, "debian"),
                PKG_RHEL=_packages(spec, node, "rhel"),
                PKG_RHEL7=_packages(spec, node, "rhel7"),
                PKG_SELINUX=_selinux_packages(spec, node),
            ),
            body("host/packages-undo.sh"),
        ),
    ]
    if node.runs_kubelet:
        settings = " ".join(f"{k}={v}" for k, v in sysctls(spec, node))
        mods = " ".join(modules(spec, node))
        steps.append(
            HostStep(
                "kernel",
                body("host/kernel.sh", MODULES=mods, SYSCTLS=settings),
                body("host/kernel-undo.sh"),
            )
        )
        steps.append(HostStep("swap", body("host/swap.sh"), body("host/swap-undo.sh")))
        steps.append(
            HostStep(
                "cmdline",
                body("host/cmdline.sh", FLAGS=" ".join(RPI_CGROUP_FLAGS)),
                body("host/cmdline-undo.sh"),
            )
        )
        steps.append(
            HostStep(
                "iptables",
                body("host/iptables.sh", BACKEND=spec.iptables_backend),
                body("host/iptables-undo.sh"),
            )
        )
    steps += [
        HostStep(
            "selinux",
            body("host/selinux.sh", SELINUX_MODE=spec.security.selinux),
            body("host/selinux-undo.sh"),
        ),
        HostStep(
            "firewall",
            body(
                "host/firewall.sh",
                PORTS=" ".join(firewall_ports(spec, node)),
                TRUSTED=" ".join((spec.network.pod_cidr, spec.network.service_cidr))
                if node.runs_kubelet
                else "",
            ),
            body("host/firewall-undo.sh"),
        ),
        HostStep("timesync", body("host/timesync.sh"), body("host/timesync-undo.sh")),
    ]
    return steps


def preflight_script(spec: ClusterSpec, node: NodeSpec) -> str:
    return standalone(node, preflight_body(spec, node))


def prepare_step(spec: ClusterSpec, node: NodeSpec, label: str) -> StepScripts:
    """The Host's one OS step: preflight (nothing changes on a host that fails it), packages, the
    persisted kernel files (from stdin) and their settings, then the rest in order. Its delete
    undoes the parts in reverse order."""
    steps = host_steps(spec, node)
    packages, rest = steps[0], steps[1:]
    files = kernel_files(spec, node)
    create = [Part("preflight", preflight_body(spec, node)), Part(packages.part, packages.create)]
    undo = [Part(s.part, s.delete) for s in reversed(rest)]
    if files:
        listing = [(meta, sha256(content)) for meta, content in files]
        create.append(Part("kernel-files", install_command(listing), reads_stdin=True))
        undo.append(Part("kernel-files", remove_command([meta for meta, _ in files])))
    create += [Part(s.part, s.create) for s in rest]
    undo.append(Part(packages.part, packages.delete))
    return StepScripts(
        create=run_parts(label, create, prelude=host_lib(node)),
        delete=run_parts(label, undo, prelude=host_lib(node)),
        stdin=encode_bundle(files) if files else None,
    )
