"""Which kubelet certificate requests our approver signs off, as one pure function.

The controller-manager never approves kubernetes.io/kubelet-serving CSRs (anyone holding a node
identity could otherwise get a certificate for any name), and here it approves no first client
certificate either: its nodeclient rule lets any bootstrap token ask for any node's name. Ours
approves a request only when it really belongs to a node of this cluster and names nothing but
that node. Both kinds must be still pending (no Approved/Denied/Failed condition) and have the
subject exactly O=system:nodes, CN=system:node:<n>, one value per RDN, <n> a kubelet node.

A node's first client certificate (signer kubernetes.io/kube-apiserver-client-kubelet):
- requested by system:bootstrap:<id> where <id> is the bootstrap token <n>'s allow list names
  (each node has its own token: a token stolen from one node gets no other node's name);
- usages client auth, optionally with digital signature and key encipherment; no
  subjectAltName extension. (Its renewals, requested by system:node:<n> itself, are the
  controller-manager's: they are not ours to log.)

A serving certificate (signer kubernetes.io/kubelet-serving):
- requested by system:node:<n>, in group system:nodes;
- usages exactly {digital signature, server auth}, optionally with key encipherment;
- one subjectAltName extension with at least one name, only DNS names and IP addresses, each
  one of <n>'s own names (its node name, its address if that is a host name) or addresses
  (its internal address, its address if that is an IP).

Everything else is left pending and logged. render/templates/csr-approver/approver.sh applies the same
rules on the control planes with kubectl and openssl; tests/test_csr_policy*.py runs both on the
same requests and requires the same answers.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from render import ports
from render.common import BIN_DIR, MANAGED_MARKER, SBIN_DIR, managed
from render.host_files import FileMeta
from render.scripts import body, script
from render.systemd import STATE_DIR as SERVICE_HASH_DIR
from render.systemd import UNIT_DIR, exec_start, install, unit_file
from spec.model import ClusterSpec, NodeSpec

SIGNER = "kubernetes.io/kubelet-serving"
CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
NODES_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"
BOOTSTRAP_USER_PREFIX = "system:bootstrap:"
ALLOWED_USAGES = (
    frozenset({"digital signature", "server auth"}),
    frozenset({"digital signature", "key encipherment", "server auth"}),
)
CLIENT_USAGES = (
    frozenset({"client auth"}),
    frozenset({"digital signature", "client auth"}),
    frozenset({"digital signature", "key encipherment", "client auth"}),
)

IP = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class NodeIdentity:
    name: str
    dns_names: frozenset[str]
    ip_addresses: frozenset[IP]
    token_id: str = ""  # the id of the node's bootstrap token: its first client CSR comes from it


@dataclass(frozen=True)
class San:
    kind: str  # DNS, IP, email, URI or other
    value: str


@dataclass(frozen=True)
class CsrFacts:
    """What the decision needs from a CertificateSigningRequest object and its PEM request."""

    name: str
    signer_name: str
    username: str
    groups: tuple[str, ...]
    usages: tuple[str, ...]
    subject: tuple[tuple[tuple[str, str], ...], ...]  # RDNs, each a tuple of (attribute, value)
    sans: tuple[San, ...]
    san_extensions: int = 1
    conditions: tuple[str, ...] = field(default_factory=tuple)  # Approved, Denied, Failed


@dataclass(frozen=True)
class Decision:
    approve: bool
    reason: str


def _ip(value: str) -> IP | None:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def node_identity(node: NodeSpec, token_id: str = "") -> NodeIdentity:
    dns = {node.name}
    ips: set[IP] = set()
    for address in (node.internal_address, node.address):
        ip = _ip(address)
        if ip is not None:
            ips.add(ip)
        elif address:
            dns.add(address)
    return NodeIdentity(node.name, frozenset(dns), frozenset(ips), token_id)


def node_identities(spec: ClusterSpec, token_ids: Mapping[str, str]) -> dict[str, NodeIdentity]:
    """Every node that runs kubelet, with the names and addresses its serving cert may carry and
    the id of its bootstrap token."""
    return {n.name: node_identity(n, token_ids[n.name]) for n in spec.kubelet_nodes}


def _exact_node_subject(csr: CsrFacts, user: str) -> bool:
    if any(len(rdn) != 1 for rdn in csr.subject):
        return False
    return sorted(a for rdn in csr.subject for a in rdn) == sorted([("O", NODES_GROUP), ("CN", user)])


def decide(csr: CsrFacts, nodes: Mapping[str, NodeIdentity]) -> Decision:
    if csr.signer_name not in (SIGNER, CLIENT_SIGNER):
        return Decision(False, f"signer {csr.signer_name} is not ours to approve")
    if csr.conditions:
        return Decision(False, f"already {', '.join(csr.conditions)}")
    if csr.signer_name == CLIENT_SIGNER:
        return _decide_client(csr, nodes)
    return _decide_serving(csr, nodes)


def _subject_node(csr: CsrFacts) -> str:
    cns = [v for rdn in csr.subject for a, v in rdn if a == "CN"]
    if len(cns) != 1 or not cns[0].startswith(NODE_USER_PREFIX):
        return ""
    return cns[0].removeprefix(NODE_USER_PREFIX)


def _decide_client(csr: CsrFacts, nodes: Mapping[str, NodeIdentity]) -> Decision:
    if not csr.username.startswith(BOOTSTRAP_USER_PREFIX):
        return Decision(False, "a renewal: the controller-manager's to approve")
    token_id = csr.username.removeprefix(BOOTSTRAP_USER_PREFIX)
    if frozenset(csr.usages) not in CLIENT_USAGES:
        return Decision(False, f"usages {sorted(set(csr.usages))} are not client auth")
    node_name = _subject_node(csr)
    if not _exact_node_subject(csr, f"{NODE_USER_PREFIX}{node_name}") or not node_name:
        return Decision(False, f"subject is not O={NODES_GROUP}, CN={NODE_USER_PREFIX}<node>")
    node = nodes.get(node_name)
    if node is None:
        return Decision(False, f"{node_name} is not a node of this cluster")
    if not node.token_id or token_id != node.token_id:
        return Decision(False, f"token {token_id} is not {node_name}'s")
    if csr.san_extensions:
        return Decision(False, "a client certificate names no host: it has a subjectAltName extension")
    return Decision(True, f"first client certificate of {node_name}")


def _decide_serving(csr: CsrFacts, nodes: Mapping[str, NodeIdentity]) -> Decision:
    if not csr.username.startswith(NODE_USER_PREFIX):
        return Decision(False, f"requested by {csr.username}, not by a node")
    node_name = csr.username.removeprefix(NODE_USER_PREFIX)
    node = nodes.get(node_name)
    if node is None:
        return Decision(False, f"{node_name} is not a node of this cluster")
    if NODES_GROUP not in csr.groups:
        return Decision(False, f"{csr.username} is not in group {NODES_GROUP}")
    if frozenset(csr.usages) not in ALLOWED_USAGES:
        return Decision(False, f"usages {sorted(set(csr.usages))} are not server auth + digital signature")
    if not _exact_node_subject(csr, csr.username):
        return Decision(False, f"subject is not O={NODES_GROUP}, CN={csr.username}")
    if csr.san_extensions != 1:
        return Decision(False, f"it has {csr.san_extensions} subjectAltName extensions, not one")
    if not csr.sans:
        return Decision(False, "it names no DNS name or IP address")
    for san in csr.sans:
        if san.kind == "DNS":
            ok = san.value in node.dns_names
        elif san.kind == "IP":
            ip = _ip(san.value)
            ok = ip is not None and ip in node.ip_addresses
        else:
            return Decision(False, f"it asks for a {san.kind} name ({san.value})")
        if not ok:
            return Decision(False, f"{san.kind} {san.value} is not one of {node.name}'s names or addresses")
    return Decision(True, f"kubelet serving certificate of {node.name}")


def openssl_ip_forms(ip: IP) -> list[str]:
    """How `openssl req -text` may print an IP SAN: dotted IPv4; IPv6 as OpenSSL 1.1/3.0 do
    (eight upper-case groups, no leading zeros, no ::) and the RFC 5952 form newer ones use."""
    if ip.version == 4:
        return [str(ip)]
    groups = ":".join(f"{int(g, 16):X}" for g in ip.exploded.split(":"))
    return list(dict.fromkeys([groups, str(ip), str(ip).upper()]))


def render_node_file(ident: NodeIdentity) -> str:
    """One node's allow file: `<node> DNS <name>` / `<node> IP <address as openssl prints it>` /
    `<node> TOKEN <id of its bootstrap token>`.

    One list per node (a ConfigMap of its own, allow_configmap) rather than one list of all
    nodes: adding or changing a node then writes only that node's list, and leaves every other
    resource of the stack as it was."""
    lines = [f"# the only subjectAltNames {ident.name}'s serving certificate may carry: node kind value"]
    if ident.token_id:
        lines.append(f"{ident.name} TOKEN {ident.token_id}")
    lines += [f"{ident.name} DNS {d}" for d in sorted(ident.dns_names)]
    for ip in sorted(ident.ip_addresses, key=lambda a: (a.version, int(a))):
        lines += [f"{ident.name} IP {form}" for form in openssl_ip_forms(ip)]
    return managed("\n".join(lines) + "\n")


def node_files(identities: Iterable[NodeIdentity]) -> dict[str, str]:
    """File name (the node name) -> content, for every node: the approver's allow directory."""
    return {ident.name: render_node_file(ident) for ident in sorted(identities, key=lambda i: i.name)}


# --- the approver on the control planes ----------------------------------------------------------

APPROVER_SCRIPT = f"{SBIN_DIR}/k8s-from-scratch-csr-approver"
APPROVER_DIR = "/etc/kubernetes/csr-approver"
# Each kubelet node's allow list: ConfigMap csr-allow-<node> (key `allow`) in this namespace, which
# only cluster admins write; the approver may only `get` ConfigMaps there. In the API rather than
# in files on every control plane: one object per node however many control planes approve.
ALLOW_NAMESPACE = "k8s-from-scratch"
ALLOW_PREFIX = "csr-allow-"
ALLOW_KEY = "allow"
APPROVER_KUBECONFIG = f"{APPROVER_DIR}/kubeconfig"
APPROVER_CA = f"{APPROVER_DIR}/ca.crt"
APPROVER_SERVICE = "k8s-from-scratch-csr-approver.service"
APPROVER_TIMER = "k8s-from-scratch-csr-approver.timer"
# A CSR waits at most this long: a rotated serving certificate, and a pool node joining (a pool
# reaches no control plane: render/node_pool.py). A pass is one list of CSRs.
APPROVE_EVERY = "15s"
UNTIL_SERVING_S = 300  # during `pulumi up`: how long a new node may take to get its serving cert

KUBECONFIG_META = FileMeta(APPROVER_KUBECONFIG, mode="0600")
CA_META = FileMeta(APPROVER_CA)


def approver_script(
    kubectl: str = f"{BIN_DIR}/kubectl",
    openssl: str = "openssl",
    kubeconfig: str = APPROVER_KUBECONFIG,
    ca_file: str = APPROVER_CA,
    kubelet_port: int = ports.KUBELET,
) -> str:
    """The approver, a POSIX sh script; the arguments move its tools and files (tests)."""
    tools = {"KUBECTL": kubectl, "OPENSSL": openssl}
    allow_lists = {"ALLOW_NAMESPACE": ALLOW_NAMESPACE, "ALLOW_PREFIX": ALLOW_PREFIX, "ALLOW_KEY": ALLOW_KEY}
    api = {"KUBECONFIG_FILE": kubeconfig, "CA_FILE": ca_file, "KUBELET_PORT": str(kubelet_port)}
    signers = {"SIGNER": SIGNER, "CLIENT_SIGNER": CLIENT_SIGNER}
    text = body("csr-approver/approver.sh", **tools, **allow_lists, **api, **signers)
    return "#!/bin/sh\n" + managed(text)  # an installed program: marked ours like every file we install


def _approver_units() -> dict[str, str]:
    """A oneshot service running the approver, and the timer that starts it every APPROVE_EVERY."""
    what = "Approve kubelet certificates"
    service = {
        "Unit": [
            ("Description", f"{what} of this cluster's nodes (k8s-from-scratch)"),
            ("Documentation", f"file://{APPROVER_SCRIPT}"),
            ("After", "network-online.target"),
            ("Wants", "network-online.target"),
        ],
        "Service": [("Type", "oneshot"), exec_start([APPROVER_SCRIPT])],
    }
    timer = {
        "Unit": [("Description", f"{what} every {APPROVE_EVERY} (k8s-from-scratch)")],
        "Timer": [("OnBootSec", "1min"), ("OnUnitActiveSec", APPROVE_EVERY), ("AccuracySec", "5s")],
        **install("timers.target"),
    }
    return {APPROVER_SERVICE: unit_file(service), APPROVER_TIMER: unit_file(timer)}


def approver_static_files(spec: ClusterSpec) -> list[tuple[FileMeta, str]]:
    """Script and units; the kubeconfig and CA come from Pki, each node's allow list is a
    ConfigMap (allow_configmap)."""
    units = [(FileMeta(f"{UNIT_DIR}/{name}"), managed(text)) for name, text in _approver_units().items()]
    return [(FileMeta(APPROVER_SCRIPT, mode="0755"), approver_script()), *units]


def allow_configmap(node: NodeSpec, token_id: str) -> dict[str, Any]:
    """`node`'s allow list, as the ConfigMap the approver reads."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{ALLOW_PREFIX}{node.name}",
            "namespace": ALLOW_NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "k8s-from-scratch"},
        },
        "data": {ALLOW_KEY: render_node_file(node_identity(node, token_id))},
    }


def enable_script(content_hash: str, files: Sequence[str]) -> str:
    """Create/update: start the approver timer, restarted only when `files` (their sha256:
    `content_hash`) changed, and run one pass."""
    return script(
        "csr-approver/enable.sh",
        UNIT=APPROVER_TIMER,
        SERVICE=APPROVER_SERVICE,
        HASH=content_hash,
        HASH_DIR=SERVICE_HASH_DIR,
        WATCHED=" ".join(files),
    )


def disable_script() -> str:
    return script(
        "csr-approver/disable.sh",
        TIMER=APPROVER_TIMER,
        SERVICE=APPROVER_SERVICE,
        MARKER=MANAGED_MARKER,
        HASH_DIR=SERVICE_HASH_DIR,
    )


def forget_node_command(node: NodeSpec) -> str:
    """Run on a control plane when node leaves the stack: its Node object goes (and with it, by
    the pod garbage collector, the pods bound to it, which nothing could ever stop otherwise)."""
    return shlex.join([APPROVER_SCRIPT, "--forget-node", node.name])


def until_serving_command(node: NodeSpec) -> str:
    """Run on a control plane during `pulumi up`: approve until node's kubelet serves our cert."""
    return shlex.join(
        [APPROVER_SCRIPT, "--until-serving", node.name, node.internal_address, str(UNTIL_SERVING_S)]
    )
