"""Writes docs/configuration.md from spec/defaults.py: the one place defaults are documented."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spec import defaults as d  # noqa: E402


def _list(values: tuple[object, ...] | list[object]) -> str:
    return ", ".join(f"`{v}`" for v in values)


def render() -> str:
    minors = ", ".join(f"{a}.{b}.x" for a, b in d.SUPPORTED_KUBERNETES_MINORS)
    rows = [
        ("clusterName", "the stack name", "a DNS label"),
        ("kubernetesVersion", f"`{d.DEFAULT_KUBERNETES_VERSION}`", f"{minors}"),
        *((f"versions.{k}", f"`{v}`", "x.y.z") for k, v in d.DEFAULT_VERSIONS.items()),
        ("nodes[].roles", "-", _list(d.ROLES)),
        ("nodes[].arch", "`amd64`", _list(d.ARCHES)),
        ("nodes[].os", "`auto` (read /etc/os-release)", _list(d.OS_FAMILIES)),
        ("nodes[].labels", "{}", "kubelet-settable labels (NodeRestriction)"),
        ("nodes[].taints", "[]", f"`key=value:Effect`, effect in {_list(d.TAINT_EFFECTS)}"),
        ("nodes[].kubernetesVersion", "kubernetesVersion", "workers only, at most 3 minors older"),
        ("ssh.user", f"`{d.SSH_DEFAULT_USER}`", "login user"),
        ("ssh.port", f"`{d.SSH_DEFAULT_PORT}`", "1-65535"),
        ("ssh.privateKey", "-", "secret (`pulumi config set --secret`)"),
        ("ssh.privateKeyFile", "-", "path of a key file, instead of privateKey"),
        ("ssh.bastion", "-", "`{host, port, user, privateKey}`"),
        ("ssh.hostKeys", "- (host keys unchecked)", "`{nodeName: 'ssh-ed25519 AAAA...'}`"),
        ("apiEndpoint", f"first control plane, port {d.API_SERVER_PORT}", "host[:port]"),
        ("network.podCidr", f"`{d.POD_CIDR}`", "CIDR"),
        ("network.serviceCidr", f"`{d.SERVICE_CIDR}`", f"CIDR, at most {d.MAX_SERVICE_HOST_BITS} host bits"),
        ("network.nodeCidrMaskSize", f"`{d.NODE_CIDR_MASK_SIZE}`", "longer than podCidr's prefix"),
        ("network.clusterDomain", f"`{d.CLUSTER_DOMAIN}`", "DNS domain"),
        ("network.dnsServiceIp", "10th address of serviceCidr", "inside serviceCidr"),
        *((f"pki.{k}", f"`{v}`", "") for k, v in d.PKI_DEFAULTS.items()),
        ("pki.keyAlgorithm (accepted)", "", _list(d.KEY_ALGORITHMS)),
        ("pki.ecdsaCurve (accepted)", "", _list(d.ECDSA_CURVES)),
        ("pki.rsaBits (accepted)", "", _list(list(d.RSA_BITS))),
        ("runtime.name", "`containerd`", _list(d.RUNTIMES)),
        ("runtime.cgroupDriver", "`systemd`", _list(d.CGROUP_DRIVERS)),
        ("runtime.kata", "`false`", "adds the Kata handler and RuntimeClass `kata`"),
        (
            "runtime.restrictOomScoreAdj",
            "`false`",
            "lab hosts only (no CAP_SYS_RESOURCE): containerd clamps pods' OOM scores",
        ),
        ("cni.name", f"`{d.DEFAULT_CNI}`", _list(d.CNIS)),
        *((f"cni.* for {c}", "", _list(list(o)) or "no options") for c, o in d.CNI_OPTIONS.items()),
        ("kubeProxy.mode", f"`{d.DEFAULT_KUBE_PROXY_MODE}`", _list(d.KUBE_PROXY_MODES)),
        (
            "kubeProxy.conntrackMaxPerCore",
            "- (kube-proxy's 32768)",
            "0 leaves the kernel's value (container hosts)",
        ),
        ("iptablesBackend", "`auto`", _list(d.IPTABLES_BACKENDS)),
        ("security.encryptionAtRest", f"`{d.DEFAULT_ENCRYPTION}`", _list(d.ENCRYPTION_PROVIDERS)),
        *((f"security.audit.{k}", f"`{v}`", "") for k, v in d.AUDIT_DEFAULTS.items()),
        ("security.tlsMinVersion", "`VersionTLS12`", _list(d.TLS_VERSIONS)),
        ("security.tlsCipherSuites", "all accepted", _list(d.SECURE_CIPHER_SUITES)),
        ("security.selinux", f"`{d.DEFAULT_SELINUX}`", _list(d.SELINUX_MODES) + " (enforcing: keep it)"),
        *((f"addons.{k}", f"`{v}`", "true/false") for k, v in d.ADDON_DEFAULTS.items()),
        ("images.registry", "- (upstream registries)", "host[:port][/path] of a mirror"),
        ("images.plainHttp", "`false`", "the registry answers plain HTTP (lab or trusted network)"),
        ("binaries.baseUrl", "- (upstream)", "http(s)/file URL of a mirror: `<artifact>/<version>/<file>`"),
        ("binaries.checksums", "{} (pinned in spec/checksums.py)", "`{artifact/version/arch: sha256:<hex>}`"),
        ("etcd.allowEvenMembers", "`false`", "true/false"),
        *((f"lab.{k}", f"`{v}`", "") for k, v in d.LAB_DEFAULTS.items()),
    ]
    lines = [
        "# Configuration reference",
        "",
        "Generated from `spec/defaults.py` by `scripts/config_reference.py`; do not edit by hand.",
        "Keys live under the `k8s-from-scratch:` namespace; nested keys are set with",
        "`pulumi config set --path`. Every rule is checked before any host is touched.",
        "",
        "| key | default | accepted |",
        "|---|---|---|",
        *(f"| `{k}` | {dflt} | {acc} |" for k, dflt, acc in rows),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    (REPO / "docs" / "configuration.md").write_text(render())
