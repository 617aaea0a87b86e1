"""Raw stack configuration (plain JSON-like values) -> ClusterSpec, collecting every problem."""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any, TypeVar

from spec import defaults as d
from spec.checksums import is_checksum
from spec.model import (
    AddonsSpec,
    ApiEndpoint,
    AuditSpec,
    Bastion,
    BinariesSpec,
    ClusterSpec,
    CniSpec,
    EtcdSpec,
    ImagesSpec,
    KubeProxySpec,
    LabSpec,
    NetworkSpec,
    NodeSpec,
    PkiSpec,
    RuntimeSpec,
    SecretStr,
    SecuritySpec,
    SshSpec,
    Taint,
    Versions,
)
from spec.problems import Problems
from spec.reader import Reader, join
from spec.versions import config_key, version_field

_Section = TypeVar("_Section")

# Contract keys whose values are plain strings (everything else arrives as JSON).
STRING_KEYS = ("clusterName", "kubernetesVersion", "apiEndpoint", "iptablesBackend")


def decode_config_value(value: Any) -> Any:
    """A stack configuration value as Pulumi hands it over: objects and lists JSON-encoded,
    scalars as their text."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def parse(
    raw: Mapping[str, Any],
    stack: str,
    secret_keys: frozenset[str] = frozenset(),
    problems: Problems | None = None,
    declared: set[str] | None = None,
) -> tuple[ClusterSpec, Problems]:
    """Builds the spec; bad values fall back to defaults so that every problem is found at once.
    `declared` collects the declared key paths the parser read (the docs test uses it)."""
    problems = problems or Problems()
    top = Reader(raw, "", problems, declared=declared)
    versions = _versions(top, problems)
    lab = _section(top.sub("lab"), LabSpec)
    ssh = _ssh(top.sub("ssh"), None, "ssh" in secret_keys, problems)
    nodes = _lab_nodes(lab, ssh) if lab.enabled else _nodes(top, ssh, secret_keys, problems)
    if lab.enabled and top.has("nodes"):
        problems.warn(
            "nodes",
            "...",
            "is ignored because lab.enabled is true",
            "remove `nodes` or set lab.enabled to false",
        )
    network = _network(top.sub("network"))
    cluster_name = top.string("clusterName", stack)
    api_endpoint = _api_endpoint(top.text("apiEndpoint"), nodes, problems)
    spec = ClusterSpec(
        cluster_name=cluster_name,
        versions=versions,
        nodes=nodes,
        api_endpoint=api_endpoint,
        network=network,
        pki=_section(top.sub("pki"), PkiSpec),
        runtime=_runtime(top.sub("runtime")),
        cni=_cni(top.sub("cni"), problems),
        kube_proxy=_finish(
            top.sub("kubeProxy"),
            lambda r: KubeProxySpec(
                mode=r.string("mode"),
                conntrack_max_per_core=(
                    r.integer("conntrackMaxPerCore", -1) if r.has("conntrackMaxPerCore") else None
                ),
            ),
        ),
        iptables_backend=top.string("iptablesBackend"),
        security=_security(top.sub("security")),
        addons=_section(top.sub("addons"), AddonsSpec),
        images=_finish(
            top.sub("images"),
            lambda r: ImagesSpec(registry=r.text("registry"), plain_http=r.flag("plainHttp")),
        ),
        binaries=_binaries(top.sub("binaries")),
        etcd=EtcdSpec(allow_even_members=_finish(top.sub("etcd"), lambda r: r.flag("allowEvenMembers"))),
        lab=lab,
    )
    top.finish()
    return spec, problems


# How a field of a plain section is read, by its type.
_READS: dict[str, Callable[[Reader, str], Any]] = {
    "bool": Reader.flag,
    "int": Reader.integer,
    "str": Reader.string,
}


def _section(r: Reader, cls: Callable[..., _Section]) -> _Section:
    """A section whose every field is one bool/int/str key: the field's name in camelCase."""
    read = {f.name: _READS[str(f.type)](r, config_key(f.name)) for f in fields(cls)}  # type: ignore[arg-type]
    r.finish()
    return cls(**read)


def _finish(reader: Reader, read: Any) -> Any:
    value = read(reader)
    reader.finish()
    return value


def _versions(top: Reader, problems: Problems) -> Versions:
    r = top.sub("versions")
    pins = {version_field(key): r.string(key) for key in d.DEFAULT_VERSIONS}
    r.finish()
    return Versions(kubernetes=top.string("kubernetesVersion"), **pins)


def _secret(r: Reader, key: str, is_secret: bool, problems: Problems) -> SecretStr | None:
    value = r.value(key)
    if value is None:
        return None
    path = join(r.path, key)
    if not isinstance(value, str) or not value.strip():
        problems.error(
            path,
            SecretStr(str(value)),
            "must be a non-empty string",
            "set it with `pulumi config set --secret --path " + path + ' -- "$(cat KEY)"`',
        )
        return None
    if not is_secret:
        problems.error(
            path,
            SecretStr(value),
            "holds a private key in plain text in the stack file",
            f"set it with `pulumi config set --secret --path {path}` so it is encrypted",
        )
    return SecretStr(value)


def _key_file(r: Reader, problems: Problems) -> SecretStr | None:
    path_value = r.text("privateKeyFile")
    if path_value is None:
        return None
    path = join(r.path, "privateKeyFile")
    try:
        with open(os.path.expanduser(path_value), encoding="utf-8") as handle:
            return SecretStr(handle.read())
    except OSError as err:
        problems.error(
            path,
            path_value,
            f"cannot be read ({err.strerror})",
            "give the path of a readable SSH private key file",
        )
        return None


def top_level_ssh(raw: Mapping[str, Any], is_secret: bool, problems: Problems) -> SshSpec:
    """The top-level `ssh` object alone: what every node inherits."""
    return _ssh(Reader(raw, "", problems).sub("ssh"), None, is_secret, problems)


def _ssh(r: Reader, base: SshSpec | None, is_secret: bool, problems: Problems) -> SshSpec:
    """An `ssh` object; a node's inherits what it does not set from the top-level one (`base`)."""
    path = r.path
    base = base or SshSpec(r.spec_of("user").default, r.spec_of("port").default, None, None, None)
    key = _secret(r, "privateKey", is_secret, problems)
    key_file = _key_file(r, problems)
    if key is not None and key_file is not None:
        problems.error(
            join(path, "privateKeyFile"),
            r.value("privateKeyFile"),
            "is set together with privateKey",
            "keep only one of the two",
        )
    bastion = base.bastion
    b = r.sub("bastion")
    if r.has("bastion"):
        host = b.text("host")
        if not host:
            problems.error(
                join(path, "bastion.host"),
                host,
                "is missing",
                "give the bastion's address, e.g. bastion.example.com",
            )
        bastion = Bastion(
            host=host or "",
            port=b.integer("port"),
            user=b.string("user"),
            private_key=_secret(b, "privateKey", is_secret, problems),
        )
    b.finish()
    user = r.text("user", base.user)
    if user is not None and not user.strip():
        problems.error(join(path, "user"), user, "is empty", "give a login user, e.g. root")
    spec = SshSpec(
        user=user or base.user,
        port=r.integer("port", base.port),
        private_key=key or key_file or base.private_key,
        bastion=bastion,
        host_key=r.text("hostKey", base.host_key),
    )
    r.value("hostKeys")  # read by _nodes (top level only)
    r.finish()
    return spec


def _nodes(
    top: Reader, ssh: SshSpec, secret_keys: frozenset[str], problems: Problems
) -> tuple[NodeSpec, ...]:
    items = top.seq("nodes") or []
    host_keys = top.sub("ssh").obj("hostKeys") or {}
    is_secret = "nodes" in secret_keys
    nodes = [
        _node(top.item(item, i, "nodes"), ssh, host_keys, is_secret, problems) for i, item in enumerate(items)
    ]
    names = {n.name for n in nodes}
    for name, key in host_keys.items():
        if name not in names:
            problems.error(
                f"ssh.hostKeys.{name}",
                key,
                "names no node",
                f"use node names: {', '.join(sorted(names)) or '(no nodes)'}",
            )
    return tuple(nodes)


def _node(
    r: Reader, ssh: SshSpec, host_keys: Mapping[str, Any], is_secret: bool, problems: Problems
) -> NodeSpec:
    name = r.text("name") or ""
    if not name:
        problems.error(
            join(r.path, "name"), None, "is missing", "give every node a name (its Kubernetes node name)"
        )
    address = r.text("address") or ""
    if not address:
        problems.error(
            join(r.path, "address"), None, "is missing", "give the address we reach the node at over SSH"
        )
    roles_raw = r.seq("roles")
    roles: set[str] = set()
    if roles_raw is None or not roles_raw:
        problems.error(
            join(r.path, "roles"),
            roles_raw,
            "is empty or missing",
            f"give a non-empty subset of: {', '.join(d.ROLES)}",
        )
    else:
        for j, role in enumerate(roles_raw):
            if role not in d.ROLES:
                problems.error(
                    join(r.path, f"roles[{j}]"), role, "is not a role", f"use one of: {', '.join(d.ROLES)}"
                )
            else:
                roles.add(role)
    labels_raw = r.obj("labels") or {}
    labels = {str(k): v if isinstance(v, str) else str(v) for k, v in labels_raw.items()}
    node_ssh = _ssh(r.sub("ssh"), ssh, is_secret, problems)
    pinned = host_keys.get(name)
    if pinned is not None and node_ssh.host_key is None:
        node_ssh = SshSpec(node_ssh.user, node_ssh.port, node_ssh.private_key, node_ssh.bastion, str(pinned))
    node = NodeSpec(
        name=name,
        address=address,
        internal_address=r.text("internalAddress") or address,
        roles=frozenset(roles),
        ssh=node_ssh,
        arch=r.string("arch"),
        os=r.string("os"),
        labels=labels,
        taints=_taints(r, problems),
        kubernetes_version=r.text("kubernetesVersion"),
    )
    r.finish()
    return node


def _taints(r: Reader, problems: Problems) -> tuple[Taint, ...]:
    taints = []
    for j, item in enumerate(r.seq("taints") or []):
        path = join(r.path, f"taints[{j}]")
        if isinstance(item, str):
            key_value, _, effect = item.rpartition(":")
            key, _, value = key_value.partition("=")
        elif isinstance(item, Mapping):
            t = r.item(item, j, "taints")
            key, value, effect = (t.text(k) or "" for k in ("key", "value", "effect"))
            t.finish()
        else:
            problems.error(path, item, "is not a taint", "write key=value:Effect or {key, value, effect}")
            continue
        if effect not in d.TAINT_EFFECTS or not key:
            problems.error(
                path,
                item,
                "needs a key and an effect",
                f"effect is one of {', '.join(d.TAINT_EFFECTS)}, e.g. dedicated=gpu:NoSchedule",
            )
            continue
        taints.append(Taint(key, value, effect))
    return tuple(taints)


def _lab_nodes(lab: LabSpec, ssh: SshSpec) -> tuple[NodeSpec, ...]:
    """The lab's own hosts, numbered from .11 of the lab subnet (amd64, like this machine)."""
    try:
        hosts = list(ipaddress.ip_network(lab.subnet, strict=False).hosts())
    except ValueError:
        return ()
    separate_etcd = lab.etcd > 0
    plan: list[tuple[str, frozenset[str]]] = []
    plan += [(f"lab-etcd-{i + 1}", frozenset({"etcd"})) for i in range(lab.etcd)]
    cp_roles = {"control-plane"} if separate_etcd else {"control-plane", "etcd"}
    plan += [(f"lab-cp-{i + 1}", frozenset(cp_roles)) for i in range(lab.control_planes)]
    plan += [(f"lab-worker-{i + 1}", frozenset({"worker"})) for i in range(lab.workers)]
    if len(plan) + 11 > len(hosts):
        return ()
    return tuple(
        NodeSpec(
            name=name,
            address=str(hosts[10 + i]),
            internal_address=str(hosts[10 + i]),
            roles=roles,
            ssh=ssh,
            arch=d.KEYS["nodes[].arch"].default,
            os=d.KEYS["nodes[].os"].default,
        )
        for i, (name, roles) in enumerate(plan)
    )


def _network(r: Reader) -> NetworkSpec:
    service_cidr = r.string("serviceCidr")
    try:
        default_dns = str(ipaddress.ip_network(service_cidr, strict=False)[10])
    except (ValueError, IndexError):
        default_dns = ""
    spec = NetworkSpec(
        pod_cidr=r.string("podCidr"),
        service_cidr=service_cidr,
        node_cidr_mask_size=r.integer("nodeCidrMaskSize"),
        cluster_domain=r.string("clusterDomain"),
        dns_service_ip=r.text("dnsServiceIp", default_dns) or default_dns,
    )
    r.finish()
    return spec


def _api_endpoint(text: str | None, nodes: tuple[NodeSpec, ...], problems: Problems) -> ApiEndpoint:
    if text is None:
        first = next((n for n in nodes if n.is_control_plane), None)
        return ApiEndpoint(first.address if first else "", d.API_SERVER_PORT)
    host, port_text = text, ""
    if "://" in text or "/" in text:
        problems.error(
            "apiEndpoint",
            text,
            "is not a host[:port]",
            "write e.g. api.example.com:6443 (no scheme, no path)",
        )
        return ApiEndpoint(text, d.API_SERVER_PORT)
    if text.startswith("["):  # [v6]:port
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    port = d.API_SERVER_PORT
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            problems.error(
                "apiEndpoint",
                text,
                "has an invalid port",
                "write host or host:port with a port from 1 to 65535",
            )
        else:
            port = int(port_text)
    if not host or any(c in host for c in "/ @?#"):
        problems.error(
            "apiEndpoint",
            text,
            "is not a host[:port]",
            "write e.g. api.example.com:6443 or 10.0.0.10 (no scheme, no path)",
        )
    return ApiEndpoint(host, port)


def _cni(r: Reader, problems: Problems) -> CniSpec:
    name = r.string("name")
    accepted = d.CNI_OPTIONS[name]
    r.known.add("name")
    for key in r.raw:
        if key != "name" and key not in accepted:
            others = [c for c, opts in d.CNI_OPTIONS.items() if key in opts]
            where = f"it applies to {', '.join(others)}" if others else "it is no CNI option"
            problems.error(
                join(r.path, key),
                r.raw[key],
                f"is not an option of cni {name!r}",
                f"{where}; {name} takes: {', '.join(accepted) or 'no options'}",
            )
            r.known.add(key)

    def option(key: str, read: Callable[[str], Any]) -> Any:
        """An option this CNI takes, or the declared value of one it does not."""
        return read(key) if key in accepted else r.spec_of(key).default

    spec = CniSpec(
        name=name,
        backend=option("backend", lambda k: r.text(k, d.CNI_DEFAULT_BACKEND.get(name), accepted[k])),
        mtu=option("mtu", lambda k: r.integer(k, 0) or None),
        kube_proxy_replacement=option("kubeProxyReplacement", r.flag),
        ipam=option("ipam", r.string),
        encryption=option("encryption", r.flag),
        chart_repository=option("chartRepository", r.text),
        manifest_url=option("manifestUrl", r.text),
    )
    r.finish()
    return spec


def _runtime(r: Reader) -> RuntimeSpec:
    crio = r.sub("crio")
    registries: list[str] = []
    for i, item in enumerate(crio.seq("allowedRegistries") or []):
        if isinstance(item, str):
            registries.append(item)
        else:
            crio.problems.error(
                join(crio.path, f"allowedRegistries[{i}]"),
                item,
                f"expected a string, got {type(item).__name__}",
                "write a registry scope such as quay.io/myorg",
            )
    crio.finish()
    spec = RuntimeSpec(
        name=r.string("name"),
        cgroup_driver=r.string("cgroupDriver"),
        kata=r.flag("kata"),
        restrict_oom_score_adj=r.flag("restrictOomScoreAdj"),
        crio_allowed_registries=tuple(registries),
    )
    r.finish()
    return spec


def _security(r: Reader) -> SecuritySpec:
    audit = _section(r.sub("audit"), AuditSpec)
    suites_raw = r.seq("tlsCipherSuites")
    suites = d.SECURE_CIPHER_SUITES
    if suites_raw is not None:
        good = []
        for i, suite in enumerate(suites_raw):
            if suite in d.SECURE_CIPHER_SUITES:
                good.append(suite)
            else:
                r.problems.error(
                    join(r.path, f"tlsCipherSuites[{i}]"),
                    suite,
                    "is not an ECDHE suite with AEAD (GCM or ChaCha20-Poly1305)",
                    f"use any of: {', '.join(d.SECURE_CIPHER_SUITES)}",
                )
        if not suites_raw:
            r.problems.error(
                join(r.path, "tlsCipherSuites"),
                suites_raw,
                "is empty",
                "leave it unset for the secure default, or list suites",
            )
        suites = tuple(good) or d.SECURE_CIPHER_SUITES
    spec = SecuritySpec(
        encryption_at_rest=r.string("encryptionAtRest"),
        audit=audit,
        tls_min_version=r.string("tlsMinVersion"),
        tls_cipher_suites=suites,
        selinux=r.string("selinux"),
    )
    r.finish()
    return spec


def _binaries(r: Reader) -> BinariesSpec:
    base_url = r.text("baseUrl")
    if base_url is not None and not base_url.startswith(("https://", "http://", "file://")):
        r.problems.error(
            join(r.path, "baseUrl"),
            base_url,
            "is not an http(s) or file URL",
            "give the mirror's URL, e.g. https://mirror.example.com/k8s",
        )
    checksums: dict[str, str] = {}
    for key, value in (r.obj("checksums") or {}).items():
        path = join(r.path, f"checksums.{key}")
        parts = str(key).split("/")
        if len(parts) != 3 or parts[2] not in d.ARCHES:
            r.problems.error(
                path,
                value,
                "has a key that is not artifact/version/arch",
                "write e.g. checksums: {etcd/3.6.16/amd64: sha256:<64 hex>}",
            )
        elif not is_checksum(str(value)):
            r.problems.error(
                path,
                value,
                "is not a checksum",
                "write sha256:<64 lowercase hex> or sha512:<128 lowercase hex>",
            )
        else:
            checksums[str(key)] = str(value)
    spec = BinariesSpec(base_url=base_url.rstrip("/") if base_url else None, checksums=checksums)
    r.finish()
    return spec
