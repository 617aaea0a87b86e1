"""etcd members: flags (by etcd version), the systemd unit, file layout and health checks.

Flags are the set etcd 3.4, 3.5 and 3.6 share (no v2 or removed experimental flags), plus
`--tls-min-version` where the etcd release has it (3.5.8+ and 3.6). `--initial-cluster-state new`
and the initial cluster matter only on a member's first start: once its data dir exists etcd
ignores them, so later changes to the list do not re-bootstrap anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from render import ports, systemd
from render.common import BIN_DIR
from render.systemd import Unit, render_unit
from spec.model import ClusterSpec, NodeSpec
from spec.versions import parse_version

USER = "etcd"
UNIT = "etcd.service"


class _InPki:
    """A file of the layout's pki_dir, read as an attribute: layout.ca is "<pki_dir>/ca.crt"."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, layout: EtcdLayout, owner: type | None = None) -> str:
        return f"{layout.pki_dir}/{self.name}"


@dataclass(frozen=True)
class EtcdLayout:
    """Where a member's files live; tests move them to a temp dir and run several on one host."""

    data_dir: str = "/var/lib/etcd"
    pki_dir: str = "/etc/etcd/pki"
    binary: str = f"{BIN_DIR}/etcd"
    local_listener: bool = True  # also listen on https://127.0.0.1:2379 for local clients
    metrics_url: str | None = f"http://127.0.0.1:{ports.ETCD_METRICS}"  # /metrics and /health, no TLS

    ca = _InPki("ca.crt")
    server_cert = _InPki("server.crt")
    server_key = _InPki("server.key")
    peer_cert = _InPki("peer.crt")
    peer_key = _InPki("peer.key")
    healthcheck_cert = _InPki("healthcheck-client.crt")
    healthcheck_key = _InPki("healthcheck-client.key")


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def client_url(node: NodeSpec) -> str:
    return f"https://{_host(node.internal_address)}:{ports.ETCD_CLIENT}"


def peer_url(node: NodeSpec) -> str:
    return f"https://{_host(node.internal_address)}:{ports.ETCD_PEER}"


def endpoints(spec: ClusterSpec) -> str:
    """--etcd-servers for kube-apiserver: every member's client URL."""
    return ",".join(client_url(n) for n in spec.etcd_nodes)


def initial_cluster(spec: ClusterSpec) -> str:
    return ",".join(f"{n.name}={peer_url(n)}" for n in spec.etcd_nodes)


def has_tls_min_version(version: str) -> bool:
    """--tls-min-version exists from etcd 3.5.8 (backport) and in every 3.6."""
    parsed = parse_version(version)
    return parsed is not None and parsed >= (3, 5, 8)


_TLS_VERSION = {"VersionTLS12": "TLS1.2", "VersionTLS13": "TLS1.3"}


def flags(
    spec: ClusterSpec, node: NodeSpec, version: str | None = None, layout: EtcdLayout = EtcdLayout()
) -> tuple[tuple[str, str], ...]:
    """(flag, value) pairs for this member, in a stable order."""
    version = version or spec.versions.etcd
    ip = _host(node.internal_address)
    listen_client = [client_url(node)]
    if layout.local_listener and node.internal_address not in ("127.0.0.1", "::1"):
        listen_client.append(f"https://127.0.0.1:{ports.ETCD_CLIENT}")
    out: list[tuple[str, str]] = [
        ("name", node.name),
        ("data-dir", layout.data_dir),
        ("listen-client-urls", ",".join(listen_client)),
        ("advertise-client-urls", client_url(node)),
        ("listen-peer-urls", f"https://{ip}:{ports.ETCD_PEER}"),
        ("initial-advertise-peer-urls", peer_url(node)),
        ("initial-cluster", initial_cluster(spec)),
        ("initial-cluster-token", f"{spec.cluster_name}-etcd"),
        ("initial-cluster-state", "new"),
        ("cert-file", layout.server_cert),
        ("key-file", layout.server_key),
        ("trusted-ca-file", layout.ca),
        ("client-cert-auth", "true"),
        ("peer-cert-file", layout.peer_cert),
        ("peer-key-file", layout.peer_key),
        ("peer-trusted-ca-file", layout.ca),
        ("peer-client-cert-auth", "true"),
    ]
    tls_min = spec.security.tls_min_version
    if has_tls_min_version(version):
        out.append(("tls-min-version", _TLS_VERSION[tls_min]))
    if tls_min != "VersionTLS13":  # TLS 1.3 suites are not configurable; etcd refuses the flag then
        out.append(("cipher-suites", ",".join(spec.security.tls_cipher_suites)))
    if layout.metrics_url:
        out.append(("listen-metrics-urls", layout.metrics_url))
    out += [
        ("snapshot-count", "10000"),  # 3.6's default; 3.4/3.5 keep 100000 in memory otherwise
        ("logger", "zap"),  # 3.4 defaults to the removed capnslog
        ("log-outputs", "stderr"),
    ]
    return tuple(out)


def unit(
    spec: ClusterSpec, node: NodeSpec, version: str | None = None, layout: EtcdLayout = EtcdLayout()
) -> Unit:
    return Unit(
        name=UNIT,
        description=f"etcd member {node.name} of {spec.cluster_name} (k8s-from-scratch)",
        documentation="https://etcd.io/docs/",
        exec_start=(layout.binary, *systemd.flags(flags(spec, node, version, layout))),
        type="notify",  # etcd tells systemd when it serves clients (after joining the cluster)
        user=USER,
        group=USER,
        # A member of a new cluster is ready only once a quorum has started: give peers time.
        extra=(("TimeoutStartSec", "300"), ("Nice", "-10"), ("IOSchedulingClass", "best-effort")),
    )


def unit_text(spec: ClusterSpec, node: NodeSpec, version: str | None = None) -> str:
    return render_unit(unit(spec, node, version))


def health_check(
    layout: EtcdLayout = EtcdLayout(), endpoint: str = f"https://127.0.0.1:{ports.ETCD_CLIENT}"
) -> str:
    """Shell test: this member answers /health over TLS with the health-check client cert.

    /health is false without a leader, so passing means the member is part of a quorum.
    """
    return (
        f"curl -sS --max-time 5 --cacert {layout.ca} --cert {layout.healthcheck_cert} "
        f'--key {layout.healthcheck_key} {endpoint}/health 2>/dev/null | grep -q \'"health":"true"\''
    )


def user_script(layout: EtcdLayout = EtcdLayout()) -> str:
    """Create the service user and the data dir (0700)."""
    return systemd.user_script((USER,), layout.data_dir, (layout.data_dir, layout.pki_dir), layout.data_dir)


def remove_user_script(layout: EtcdLayout = EtcdLayout()) -> str:
    """Destroy: the member's data, its directories and the user (if we created it)."""
    return systemd.remove_user_script((USER,), layout.data_dir, (layout.pki_dir, "/etc/etcd"))
