"""Invalid configurations are refused before any resource exists, each naming path, value, remedy."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mockrun.program import TEST_SSH_KEY, run_program
from spec import SpecError, load_spec
from spec.parse import parse


def base() -> dict[str, Any]:
    """A valid three-node cluster; each case below breaks exactly one thing."""
    return {
        "ssh": {"privateKey": TEST_SSH_KEY},
        "nodes": [
            {"name": "cp1", "address": "192.168.10.11", "roles": ["etcd", "control-plane"]},
            {"name": "w1", "address": "192.168.10.21", "roles": ["worker"]},
            {"name": "w2", "address": "192.168.10.22", "roles": ["worker"]},
        ],
    }


SECRET = frozenset({"ssh"})


def with_(path: str, value: Any) -> dict[str, Any]:
    """base() with one dotted path set (list indexes as numbers)."""
    cfg = base()
    target: Any = cfg
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in keys[:-1]:
        if isinstance(key, str) and key not in target:
            target[key] = {}
        target = target[key]
    target[keys[-1]] = value
    return cfg


def without(path: str) -> dict[str, Any]:
    cfg = base()
    target: Any = cfg
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in keys[:-1]:
        target = target[key]
    del target[keys[-1]]
    return cfg


def nodes(*specs: tuple[str, str, list[str]]) -> dict[str, Any]:
    cfg = base()
    cfg["nodes"] = [{"name": n, "address": a, "roles": r} for n, a, r in specs]
    return cfg


# (case id, config, secret keys, expected error path, a word the message or remedy must contain)
CASES: list[tuple[str, dict[str, Any], frozenset[str], str, str]] = [
    (
        "unknown top-level key",
        with_("kubernetesVersoin", "1.35.4"),
        SECRET,
        "kubernetesVersoin",
        "kubernetesVersion",
    ),
    ("unknown nested key", with_("network.podCIDR", "10.0.0.0/16"), SECRET, "network.podCIDR", "podCidr"),
    ("cluster name not a DNS label", with_("clusterName", "My_Cluster"), SECRET, "clusterName", "DNS label"),
    (
        "malformed kubernetes version",
        with_("kubernetesVersion", "1.35"),
        SECRET,
        "kubernetesVersion",
        "major.minor.patch",
    ),
    (
        "unsupported kubernetes version",
        with_("kubernetesVersion", "1.28.4"),
        SECRET,
        "kubernetesVersion",
        "1.35.x",
    ),
    ("unknown versions key", with_("versions.kubelet", "1.35.4"), SECRET, "versions.kubelet", "known keys"),
    ("malformed etcd version", with_("versions.etcd", "v3.6"), SECRET, "versions.etcd", "major.minor.patch"),
    ("etcd too old", with_("versions.etcd", "3.4.23"), SECRET, "versions.etcd", "3.5"),
    ("containerd too old", with_("versions.containerd", "1.6.20"), SECRET, "versions.containerd", "1.7.28"),
    (
        "containerd 1.x on 1.36",
        {**with_("versions.containerd", "1.7.30"), "kubernetesVersion": "1.36.3"},
        SECRET,
        "versions.containerd",
        "2.x",
    ),
    (
        "crio minor differs",
        {**with_("runtime.name", "crio"), "versions": {"crio": "1.34.2"}},
        SECRET,
        "versions.crio",
        "1.35",
    ),
    ("nodes empty", with_("nodes", []), SECRET, "nodes", "lab.enabled"),
    ("nodes not a list", with_("nodes", {"cp1": {}}), SECRET, "nodes", "list"),
    ("node without name", without("nodes.1.name"), SECRET, "nodes[1].name", "name"),
    ("node name not DNS", with_("nodes.1.name", "Worker_1"), SECRET, "nodes[1].name", "lowercase"),
    ("duplicate node names", with_("nodes.2.name", "w1"), SECRET, "nodes[2].name", "unique"),
    ("node without address", without("nodes.1.address"), SECRET, "nodes[1].address", "SSH"),
    ("bad address", with_("nodes.1.address", "300.1.1.1/24"), SECRET, "nodes[1].address", "IP address"),
    (
        "duplicate addresses",
        with_("nodes.2.address", "192.168.10.21"),
        SECRET,
        "nodes[2].address",
        "own address",
    ),
    (
        "internal address is a host name",
        with_("nodes.1.internalAddress", "w1.example.com"),
        SECRET,
        "nodes[1].internalAddress",
        "IP",
    ),
    ("roles empty", with_("nodes.1.roles", []), SECRET, "nodes[1].roles", "subset"),
    (
        "unknown role",
        with_("nodes.1.roles", ["worker", "master"]),
        SECRET,
        "nodes[1].roles[1]",
        "control-plane",
    ),
    ("unknown arch", with_("nodes.1.arch", "x86_64"), SECRET, "nodes[1].arch", "amd64"),
    ("unknown os family", with_("nodes.1.os", "windows"), SECRET, "nodes[1].os", "debian"),
    ("unknown node key", with_("nodes.1.role", ["worker"]), SECRET, "nodes[1].role", "roles"),
    ("invalid label value", with_("nodes.1.labels", {"pool": "a b"}), SECRET, "nodes[1].labels.pool", "63"),
    (
        "invalid label key",
        with_("nodes.1.labels", {"-bad": "x"}),
        SECRET,
        "nodes[1].labels.-bad",
        "label key",
    ),
    (
        "restricted node-role label",
        with_("nodes.1.labels", {"node-role.kubernetes.io/worker": ""}),
        SECRET,
        "nodes[1].labels.node-role.kubernetes.io/worker",
        "NodeRestriction",
    ),
    (
        "bad taint effect",
        with_("nodes.1.taints", ["gpu=true:NoWay"]),
        SECRET,
        "nodes[1].taints[0]",
        "NoSchedule",
    ),
    ("taint not a taint", with_("nodes.1.taints", [42]), SECRET, "nodes[1].taints[0]", "key=value:Effect"),
    (
        "no control plane",
        nodes(("e1", "192.168.10.11", ["etcd"]), ("w1", "192.168.10.21", ["worker"])),
        SECRET,
        "nodes",
        "control-plane",
    ),
    (
        "no etcd",
        nodes(("cp1", "192.168.10.11", ["control-plane"]), ("w1", "192.168.10.21", ["worker"])),
        SECRET,
        "nodes",
        "etcd",
    ),
    (
        "even etcd members",
        nodes(
            ("cp1", "192.168.10.11", ["etcd", "control-plane"]),
            ("cp2", "192.168.10.12", ["etcd", "control-plane"]),
        ),
        SECRET,
        "nodes",
        "allowEvenMembers",
    ),
    (
        "worker newer than apiserver",
        with_("nodes.1.kubernetesVersion", "1.36.1"),
        SECRET,
        "nodes[1].kubernetesVersion",
        "newer",
    ),
    (
        "worker too old",
        {**with_("nodes.1.kubernetesVersion", "1.31.4"), "kubernetesVersion": "1.35.4"},
        SECRET,
        "nodes[1].kubernetesVersion",
        "3 minors",
    ),
    (
        "control plane pinned differently",
        with_("nodes.0.kubernetesVersion", "1.34.2"),
        SECRET,
        "nodes[0].kubernetesVersion",
        "control-plane",
    ),
    ("missing ssh key", without("ssh.privateKey"), frozenset(), "nodes[0].ssh.privateKey", "--secret"),
    ("ssh key in plain text", base(), frozenset(), "ssh.privateKey", "plain text"),
    (
        "ssh key and key file",
        with_("ssh.privateKeyFile", "/nonexistent/id_ed25519"),
        SECRET,
        "ssh.privateKeyFile",
        "readable",
    ),
    ("ssh port out of range", with_("ssh.port", 70000), SECRET, "ssh.port", "65535"),
    ("ssh port not a number", with_("ssh.port", "ssh"), SECRET, "ssh.port", "number"),
    ("empty ssh user", with_("ssh.user", " "), SECRET, "ssh.user", "login user"),
    ("bastion without host", with_("ssh.bastion", {"user": "jump"}), SECRET, "ssh.bastion.host", "bastion"),
    (
        "host key for unknown node",
        with_("ssh.hostKeys", {"nope": "ssh-ed25519 AAAA"}),
        SECRET,
        "ssh.hostKeys.nope",
        "node names",
    ),
    (
        "malformed host key",
        with_("nodes.1.ssh", {"hostKey": "not-a-key"}),
        SECRET,
        "nodes[1].ssh.hostKey",
        "ssh-keyscan",
    ),
    (
        "api endpoint with scheme",
        with_("apiEndpoint", "https://api.example.com"),
        SECRET,
        "apiEndpoint",
        "no scheme",
    ),
    ("api endpoint bad port", with_("apiEndpoint", "api.example.com:99999"), SECRET, "apiEndpoint", "65535"),
    (
        "api endpoint inside service range",
        with_("apiEndpoint", "10.96.0.1"),
        SECRET,
        "apiEndpoint",
        "serviceCidr",
    ),
    ("malformed pod cidr", with_("network.podCidr", "10.244.0.0/33"), SECRET, "network.podCidr", "CIDR"),
    (
        "pod cidr host bits set",
        with_("network.podCidr", "10.244.1.0/16"),
        SECRET,
        "network.podCidr",
        "network address",
    ),
    (
        "malformed service cidr",
        with_("network.serviceCidr", "tenetwork"),
        SECRET,
        "network.serviceCidr",
        "CIDR",
    ),
    ("pod cidr without prefix", with_("network.podCidr", "10.244.0.0"), SECRET, "network.podCidr", "prefix"),
    (
        "pod and service overlap",
        with_("network.serviceCidr", "10.244.128.0/20"),
        SECRET,
        "network.serviceCidr",
        "overlaps",
    ),
    (
        "service range too large",
        with_("network.serviceCidr", "10.0.0.0/8"),
        SECRET,
        "network.serviceCidr",
        "/12",
    ),
    (
        "families differ",
        with_("network.serviceCidr", "fd00:10::/108"),
        SECRET,
        "network.serviceCidr",
        "family",
    ),
    (
        "pod cidr covers a node",
        with_("network.podCidr", "192.168.0.0/16"),
        SECRET,
        "nodes[0].address",
        "podCidr",
    ),
    (
        "dns ip outside service cidr",
        with_("network.dnsServiceIp", "10.0.0.10"),
        SECRET,
        "network.dnsServiceIp",
        "outside",
    ),
    (
        "dns ip is the API service ip",
        with_("network.dnsServiceIp", "10.96.0.1"),
        SECRET,
        "network.dnsServiceIp",
        "first",
    ),
    (
        "dns ip not an ip",
        with_("network.dnsServiceIp", "kube-dns"),
        SECRET,
        "network.dnsServiceIp",
        "IP address",
    ),
    (
        "node mask not longer than pod prefix",
        with_("network.nodeCidrMaskSize", 16),
        SECRET,
        "network.nodeCidrMaskSize",
        "prefix",
    ),
    (
        "node mask out of range",
        with_("network.nodeCidrMaskSize", 31),
        SECRET,
        "network.nodeCidrMaskSize",
        "30",
    ),
    (
        "too few node ranges",
        {
            **with_("network.podCidr", "10.244.0.0/23"),
            "network": {"podCidr": "10.244.0.0/23", "nodeCidrMaskSize": 24},
        },
        SECRET,
        "network.nodeCidrMaskSize",
        "node ranges",
    ),
    (
        "bad cluster domain",
        with_("network.clusterDomain", "Cluster_Local"),
        SECRET,
        "network.clusterDomain",
        "DNS",
    ),
    ("unknown key algorithm", with_("pki.keyAlgorithm", "DSA"), SECRET, "pki.keyAlgorithm", "ECDSA"),
    ("weak curve", with_("pki.ecdsaCurve", "P224"), SECRET, "pki.ecdsaCurve", "P256"),
    ("small rsa key", with_("pki.rsaBits", 1024), SECRET, "pki.rsaBits", "2048"),
    (
        "cert outlives ca",
        with_("pki.certValidityDays", 4000),
        SECRET,
        "pki.certValidityDays",
        "caValidityDays",
    ),
    (
        "renew window covers lifetime",
        with_("pki.renewBeforeDays", 365),
        SECRET,
        "pki.renewBeforeDays",
        "smaller",
    ),
    ("zero validity", with_("pki.caValidityDays", 0), SECRET, "pki.caValidityDays", "at least 1"),
    ("unknown runtime", with_("runtime.name", "docker"), SECRET, "runtime.name", "containerd"),
    (
        "unknown cgroup driver",
        with_("runtime.cgroupDriver", "cgroupv2"),
        SECRET,
        "runtime.cgroupDriver",
        "systemd",
    ),
    ("kata not a bool", with_("runtime.kata", "yes"), SECRET, "runtime.kata", "true or false"),
    ("unknown cni", with_("cni.name", "antrea"), SECRET, "cni.name", "flannel"),
    (
        "cni option of another cni",
        with_("cni", {"name": "flannel", "kubeProxyReplacement": True}),
        SECRET,
        "cni.kubeProxyReplacement",
        "cilium",
    ),
    (
        "flannel backend unknown",
        with_("cni", {"name": "flannel", "backend": "udp"}),
        SECRET,
        "cni.backend",
        "vxlan",
    ),
    (
        "calico backend unknown",
        with_("cni", {"name": "calico", "backend": "vxlan-crosssubnet"}),
        SECRET,
        "cni.backend",
        "ipip",
    ),
    ("mtu too small", with_("cni", {"name": "flannel", "mtu": 100}), SECRET, "cni.mtu", "576"),
    ("unknown proxy mode", with_("kubeProxy.mode", "userspace"), SECRET, "kubeProxy.mode", "nftables"),
    (
        "proxy disabled without replacement",
        with_("kubeProxy.mode", "disabled"),
        SECRET,
        "kubeProxy.mode",
        "cilium",
    ),
    (
        "cilium replacement with kube-proxy",
        with_("cni", {"name": "cilium", "kubeProxyReplacement": True}),
        SECRET,
        "cni.kubeProxyReplacement",
        "disabled",
    ),
    ("unknown iptables backend", with_("iptablesBackend", "nftables"), SECRET, "iptablesBackend", "legacy"),
    (
        "nftables proxy with legacy backend",
        {**with_("iptablesBackend", "legacy"), "kubeProxy": {"mode": "nftables"}},
        SECRET,
        "kubeProxy.mode",
        "agree",
    ),
    (
        "unknown encryption provider",
        with_("security.encryptionAtRest", "kms"),
        SECRET,
        "security.encryptionAtRest",
        "secretbox",
    ),
    (
        "audit age zero",
        with_("security.audit", {"maxAgeDays": 0}),
        SECRET,
        "security.audit.maxAgeDays",
        "at least 1",
    ),
    (
        "unknown tls version",
        with_("security.tlsMinVersion", "VersionTLS10"),
        SECRET,
        "security.tlsMinVersion",
        "VersionTLS12",
    ),
    (
        "insecure cipher suite",
        with_("security.tlsCipherSuites", ["TLS_RSA_WITH_AES_128_CBC_SHA"]),
        SECRET,
        "security.tlsCipherSuites[0]",
        "ECDHE",
    ),
    ("empty cipher list", with_("security.tlsCipherSuites", []), SECRET, "security.tlsCipherSuites", "empty"),
    ("addon flag not bool", with_("addons.coredns", "maybe"), SECRET, "addons.coredns", "true or false"),
    ("unknown addon", with_("addons.dashboard", True), SECRET, "addons.dashboard", "known keys"),
    (
        "registry with scheme",
        with_("images.registry", "https://registry.local"),
        SECRET,
        "images.registry",
        "no scheme",
    ),
    ("mirror not a url", with_("binaries.baseUrl", "mirror.local/k8s"), SECRET, "binaries.baseUrl", "URL"),
    (
        "malformed checksum key",
        with_("binaries.checksums", {"etcd-3.6.15": "sha256:" + "a" * 64}),
        SECRET,
        "binaries.checksums.etcd-3.6.15",
        "artifact/version/arch",
    ),
    (
        "malformed checksum",
        with_("binaries.checksums", {"etcd/3.6.15/amd64": "md5:abc"}),
        SECRET,
        "binaries.checksums.etcd/3.6.15/amd64",
        "sha256",
    ),
    (
        "lab with too many hosts",
        {"lab": {"enabled": True, "controlPlanes": 3, "workers": 8, "etcd": 3}},
        frozenset(),
        "lab",
        "at most",
    ),
    (
        "lab even control planes",
        {"lab": {"enabled": True, "controlPlanes": 2}},
        frozenset(),
        "lab.controlPlanes",
        "even",
    ),
    (
        "lab subnet malformed",
        {"lab": {"enabled": True, "subnet": "10.231.0.0"}},
        frozenset(),
        "lab.subnet",
        "CIDR",
    ),
    (
        "allowed registries without crio",
        with_("runtime.crio", {"allowedRegistries": ["quay.io/myorg"]}),
        SECRET,
        "runtime.crio.allowedRegistries",
        "runtime.name: crio",
    ),
    (
        "allowed registry with a tag",
        {**base(), "runtime": {"name": "crio", "crio": {"allowedRegistries": ["quay.io/myorg/app:1.0"]}}},
        SECRET,
        "runtime.crio.allowedRegistries[0]",
        "tag",
    ),
    (
        "allowed registry without a host",
        {**base(), "runtime": {"name": "crio", "crio": {"allowedRegistries": ["myorg/app"]}}},
        SECRET,
        "runtime.crio.allowedRegistries[0]",
        "docker.io/myorg/app",
    ),
    (
        "allowed registry with a scheme",
        {**base(), "runtime": {"name": "crio", "crio": {"allowedRegistries": ["https://quay.io"]}}},
        SECRET,
        "runtime.crio.allowedRegistries[0]",
        "scheme",
    ),
    (
        "allowed registry not a string",
        {**base(), "runtime": {"name": "crio", "crio": {"allowedRegistries": [{"quay.io": True}]}}},
        SECRET,
        "runtime.crio.allowedRegistries[0]",
        "string",
    ),
    (
        "weave with ipv6 pods",
        {
            **with_("cni.name", "weave"),
            "network": {"podCidr": "fd00:244::/56", "serviceCidr": "fd00:96::/112", "nodeCidrMaskSize": 64},
        },
        SECRET,
        "network.podCidr",
        "IPv6",
    ),
]


def errors_of(cfg: dict[str, Any], secret: frozenset[str]) -> list[Any]:
    with pytest.raises(SpecError) as err:
        load_spec(cfg, "test", secret)
    return err.value.problems


def test_base_is_valid() -> None:
    spec, warnings = load_spec(base(), "test", SECRET)
    assert [n.name for n in spec.nodes] == ["cp1", "w1", "w2"]
    assert warnings == []


def test_there_are_at_least_forty_distinct_cases() -> None:
    assert len({c[0] for c in CASES}) == len(CASES) >= 40
    assert len({c[3] for c in CASES}) >= 40, "cases should exercise distinct key paths"


@pytest.mark.parametrize(("case", "cfg", "secret", "path", "word"), CASES, ids=[c[0] for c in CASES])
def test_invalid_config_is_refused_with_path_value_and_remedy(
    case: str, cfg: dict[str, Any], secret: frozenset[str], path: str, word: str
) -> None:
    problems = errors_of(copy.deepcopy(cfg), secret)
    matching = [p for p in problems if p.path == path]
    assert matching, f"{case}: no error at {path}; got {[str(p) for p in problems]}"
    text = " ".join(f"{p.message} {p.remedy}" for p in matching)
    assert word.lower() in text.lower(), f"{case}: {word!r} not in {text!r}"
    for p in matching:
        assert p.remedy, "every error says what would be accepted"
        assert path in str(p)


@pytest.mark.parametrize(
    ("case", "cfg", "secret", "path", "word"), CASES[::9], ids=[c[0] for c in CASES[::9]]
)
def test_invalid_config_registers_no_resource(
    case: str, cfg: dict[str, Any], secret: frozenset[str], path: str, word: str
) -> None:
    with pytest.raises(Exception, match="problem") as err:
        run_program(copy.deepcopy(cfg), "test", set(secret))
    assert path in str(err.value)
    # run_program raises from inside the program: nothing was registered before validation.
    from mockrun import program

    assert program.LAST_MONITOR is not None and program.LAST_MONITOR.registrations == []


def test_several_faults_are_reported_at_once() -> None:
    cfg = base()
    cfg["kubernetesVersion"] = "1.20.0"
    cfg["network"] = {"podCidr": "10.96.0.0/16", "dnsServiceIp": "8.8.8.8"}
    cfg["pki"] = {"ecdsaCurve": "P224", "renewBeforeDays": 400}
    cfg["nodes"][1]["roles"] = ["wrker"]
    cfg["cni"] = {"name": "flanel"}
    problems = errors_of(cfg, SECRET)
    paths = {p.path for p in problems}
    assert {
        "kubernetesVersion",
        "network.serviceCidr",
        "network.dnsServiceIp",
        "pki.ecdsaCurve",
        "pki.renewBeforeDays",
        "nodes[1].roles[0]",
        "cni.name",
    } <= paths
    message = str(SpecError(problems))
    assert f"{len(problems)} problem(s)" in message
    assert "did you mean 'flannel'" in message


def test_secret_values_never_appear_in_messages() -> None:
    problems = errors_of(base(), frozenset())
    text = "\n".join(str(p) for p in problems)
    assert "test-key" not in text and "<secret>" in text


def test_warnings_do_not_stop_the_program() -> None:
    cfg = with_("security.encryptionAtRest", "aescbc")
    spec, warnings = load_spec(cfg, "test", SECRET)
    assert spec.security.encryption_at_rest == "aescbc"
    assert [w.path for w in warnings] == ["security.encryptionAtRest"]


def test_crio_allowed_registries_take_every_scope_form() -> None:
    scopes = ["quay.io", "quay.io/myorg", "registry.lan:5000/team/app", "localhost:5000", "*.example.com"]
    cfg = {**base(), "runtime": {"name": "crio", "crio": {"allowedRegistries": scopes}}}
    spec, warnings = load_spec(cfg, "test", SECRET)
    assert spec.runtime.crio_allowed_registries == tuple(scopes) and warnings == []
    assert load_spec(base(), "test", SECRET)[0].runtime.crio_allowed_registries == ()


def test_crio_with_a_cni_of_ones_own_is_warned_about_the_image_policy() -> None:
    cfg = {**base(), "runtime": {"name": "crio"}, "cni": {"name": "none"}}
    _, warnings = load_spec(cfg, "test", SECRET)
    assert [w.path for w in warnings] == ["runtime.crio.allowedRegistries"]
    cfg["runtime"] = {"name": "crio", "crio": {"allowedRegistries": ["quay.io/cilium"]}}
    assert load_spec(cfg, "test", SECRET)[1] == []


def test_defaults_are_applied_and_derived_values_computed() -> None:
    spec, _ = load_spec(base(), "prod", SECRET)
    assert spec.cluster_name == "prod"
    assert spec.network.dns_service_ip == "10.96.0.10"
    assert spec.network.api_service_ip == "10.96.0.1"
    assert spec.api_endpoint.url == "https://192.168.10.11:6443"
    assert spec.cni.backend == "vxlan"
    custom = with_("network.serviceCidr", "10.0.0.0/16")
    spec, _ = load_spec(custom, "prod", SECRET)
    assert spec.network.dns_service_ip == "10.0.0.10"


def test_parse_collects_problems_without_raising() -> None:
    spec, problems = parse(with_("ssh.port", "x"), "test", SECRET)
    assert spec.nodes[0].ssh.port == 22  # bad values fall back so later rules still run
    assert [p.path for p in problems.errors] == ["ssh.port"]
