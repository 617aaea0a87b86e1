"""kubelet on one node: its KubeletConfiguration as data, its unit, and the scripts that run it.

Decisions (docs/nodes.md says why):
- TLS bootstrap: a bootstrap kubeconfig with the node's own token gets the client certificate,
  approved by our approver only for this node's name (render/csr_policy.py); `serverTLSBootstrap`
  makes kubelet request its serving certificate as a kubernetes.io/kubelet-serving CSR, which
  the approver checks too. The bootstrap kubeconfig lives only until kubelet has its client
  certificate: a path unit removes it the moment the certificate appears, and every later run
  of the kubelet step never writes it again on a node that has joined.
- Taints go in `registerWithTaints` (kubelet may set taints when it registers; NodeRestriction
  stops it changing them later); labels kubelet may set go in --node-labels; the
  node-role.kubernetes.io/control-plane label is NodeRestriction-forbidden and is applied
  through the API (components/csr_approver.py, NodeJoin).
- Facts only the host knows (cgroup v1, systemd-resolved, a small RAM) are detected when the
  service starts and written to a drop-in in --config-dir, so the rendered config is the same
  for every host of a spec.
- No --pod-infra-container-image (removed in 1.35): the runtime pins the pause image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from render import yaml_dump
from render.common import BIN_DIR, managed
from render.host_files import FileMeta
from render.runtime import runtime_info
from render.scripts import script
from render.systemd import STATE_DIR as SERVICE_HASH_DIR
from render.systemd import UNIT_DIR, install, own_unit, restart_always_unit, unit_file
from spec.model import ClusterSpec, NodeSpec, Taint

KUBELET_DIR = "/etc/kubernetes/kubelet"
CONFIG = f"{KUBELET_DIR}/config.yaml"
DROP_IN_DIR = f"{KUBELET_DIR}/config.d"
HOST_FACTS = f"{DROP_IN_DIR}/50-host-facts.conf"
BOOTSTRAP_KUBECONFIG = f"{KUBELET_DIR}/bootstrap-kubeconfig"
CLIENT_CA = f"{KUBELET_DIR}/ca.crt"
STATE_DIR = "/var/lib/kubelet"
KUBECONFIG = f"{STATE_DIR}/kubeconfig"  # written by kubelet once its client CSR is approved
CERT_DIR = f"{STATE_DIR}/pki"
CLIENT_CERT = f"{CERT_DIR}/kubelet-client-current.pem"
UNIT = "kubelet.service"
UNIT_FILE = f"{UNIT_DIR}/{UNIT}"
# Removes the bootstrap kubeconfig once the client certificate exists (render/kubelet.py docs).
CLEANUP = "k8s-from-scratch-kubelet-bootstrap-cleanup"
CLEANUP_PATH = f"{CLEANUP}.path"
CLEANUP_SERVICE = f"{CLEANUP}.service"

CONTROL_PLANE_ROLE = "node-role.kubernetes.io/control-plane"
CONTROL_PLANE_TAINT = Taint(CONTROL_PLANE_ROLE, "", "NoSchedule")
# kubeadm's label for control planes; in node.kubernetes.io/, so kubelet may set it itself.
EXCLUDE_FROM_LB = "node.kubernetes.io/exclude-from-external-load-balancers"

# Below this much RAM (MiB) kubelet reserves memory for the OS and itself, so pods are evicted
# before the node runs out (S3: flannel and pods OOM-killed on 1 GB Raspberry Pi workers).
SMALL_NODE_MB = 2048
SMALL_NODE_SYSTEM_RESERVED = "200Mi"
SMALL_NODE_KUBE_RESERVED = "150Mi"

POD_PIDS_LIMIT = 4096  # generous for any one pod; a runaway fork loop stops there


def registration_taints(node: NodeSpec) -> list[Taint]:
    """Taints kubelet sets when it registers: the node's own, plus the control-plane taint on a
    control plane that is not also a worker (kubeadm's behaviour)."""
    taints = list(node.taints)
    has_it = any(t.key == CONTROL_PLANE_TAINT.key and t.effect == CONTROL_PLANE_TAINT.effect for t in taints)
    if node.is_control_plane and not node.is_worker and not has_it:
        taints.insert(0, CONTROL_PLANE_TAINT)
    return taints


def kubelet_labels(node: NodeSpec) -> dict[str, str]:
    """Labels kubelet sets itself (--node-labels): the node's own (validated kubelet-settable)."""
    labels = dict(node.labels)
    if node.is_control_plane:
        labels.setdefault(EXCLUDE_FROM_LB, "")
    return labels


def api_labels(node: NodeSpec) -> dict[str, str]:
    """Labels NodeRestriction forbids kubelet to set: applied through the API after registration."""
    return {CONTROL_PLANE_ROLE: ""} if node.is_control_plane else {}


def _taint(t: Taint) -> dict[str, str]:
    out = {"key": t.key}
    if t.value:
        out["value"] = t.value
    out["effect"] = t.effect
    return out


def kubelet_config(spec: ClusterSpec, node: NodeSpec) -> dict[str, Any]:
    """KubeletConfiguration (kubelet.config.k8s.io/v1beta1) for one node."""
    info = runtime_info(spec)
    config: dict[str, Any] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True, "cacheTTL": "2m0s"},
            "x509": {"clientCAFile": CLIENT_CA},
        },
        "authorization": {"mode": "Webhook"},
        "readOnlyPort": 0,
        "cgroupDriver": spec.runtime.cgroup_driver,
        "containerRuntimeEndpoint": info.endpoint,
        "clusterDNS": [spec.network.dns_service_ip],
        "clusterDomain": spec.network.cluster_domain,
        "rotateCertificates": True,
        "serverTLSBootstrap": True,
        "tlsMinVersion": spec.security.tls_min_version,
    }
    if spec.security.tls_min_version == "VersionTLS12":
        # Go does not let TLS 1.3 suites be chosen; the list only matters for TLS 1.2.
        config["tlsCipherSuites"] = list(spec.security.tls_cipher_suites)
    # Host prep turns swap off; a host where it came back fails loudly instead of running pods
    # that swap (S3: re-enabled swap made joins time out).
    config["failSwapOn"] = True
    config["memorySwap"] = {"swapBehavior": "NoSwap"}
    # Every container gets the runtime's default seccomp profile unless its pod asks otherwise,
    # and no pod can exhaust the node's PIDs (a fork bomb stays inside its pod).
    config["seccompDefault"] = True
    # Host prep sets the kernel tunables kubelet wants (render/host_prep.KUBELET_KERNEL_TUNABLES):
    # kubelet only checks them, and refuses to start where something changed them (CIS 4.2.6).
    config["protectKernelDefaults"] = True
    config["podPidsLimit"] = POD_PIDS_LIMIT
    config["registerNode"] = True
    taints = registration_taints(node)
    if taints:
        config["registerWithTaints"] = [_taint(t) for t in taints]
    if spec.runtime.kata:
        # Kata starts a VM per pod; the default 2m CRI timeout is too short on a busy host (S2).
        config["runtimeRequestTimeout"] = "15m0s"
    return config


def render_kubelet_config(spec: ClusterSpec, node: NodeSpec) -> str:
    return managed(yaml_dump.dump(kubelet_config(spec, node), sort_keys=False))


def kubelet_flags(spec: ClusterSpec, node: NodeSpec) -> list[str]:
    """What has no KubeletConfiguration field: files, identity, node IP, self-set labels."""
    flags = [
        f"--config={CONFIG}",
        f"--config-dir={DROP_IN_DIR}",
        f"--bootstrap-kubeconfig={BOOTSTRAP_KUBECONFIG}",
        f"--kubeconfig={KUBECONFIG}",
        f"--cert-dir={CERT_DIR}",
        f"--hostname-override={node.name}",
        f"--node-ip={node.internal_address}",
    ]
    labels = kubelet_labels(node)
    if labels:
        flags.append("--node-labels=" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())))
    return flags


def kubelet_unit(spec: ClusterSpec, node: NodeSpec) -> str:
    return managed(
        restart_always_unit(
            "Kubernetes kubelet (k8s-from-scratch)",
            "https://kubernetes.io/docs/reference/command-line-tools-reference/kubelet/",
            [f"{BIN_DIR}/kubelet", *kubelet_flags(spec, node)],
            after=runtime_info(spec).unit,  # kubelet needs the runtime's socket
        )
    )


def bootstrap_cleanup_units() -> dict[str, str]:
    """A path unit that starts a oneshot removing the bootstrap kubeconfig as soon as kubelet's
    client certificate exists (RemainAfterExit: the path unit fires once, not in a loop)."""
    what = "the kubelet bootstrap token once kubelet has its client certificate"
    path = {
        "Unit": [("Description", f"Remove {what} (k8s-from-scratch)")],
        "Path": [("PathExists", CLIENT_CERT), ("Unit", CLEANUP_SERVICE)],
        **install("multi-user.target"),
    }
    service = {
        "Unit": [("Description", f"Remove {what} (k8s-from-scratch)")],
        "Service": [
            ("Type", "oneshot"),
            ("RemainAfterExit", "yes"),
            ("ExecStart", f"/bin/rm -f {BOOTSTRAP_KUBECONFIG}"),
        ],
    }
    return {CLEANUP_PATH: managed(unit_file(path)), CLEANUP_SERVICE: managed(unit_file(service))}


def kubelet_static_files(spec: ClusterSpec, node: NodeSpec) -> list[tuple[FileMeta, str]]:
    """The kubelet files whose content is known at render time (CA and token come from Pki and
    Bootstrap)."""
    cleanup = [(FileMeta(f"{UNIT_DIR}/{name}"), text) for name, text in bootstrap_cleanup_units().items()]
    return [
        # Only root reads them (CIS 4.1.1, 4.1.9): they name every credential kubelet uses.
        (FileMeta(CONFIG, mode="0600"), render_kubelet_config(spec, node)),
        (FileMeta(UNIT_FILE, mode="0600"), kubelet_unit(spec, node)),
        *cleanup,
    ]


CLIENT_CA_META = FileMeta(CLIENT_CA)
BOOTSTRAP_META = FileMeta(BOOTSTRAP_KUBECONFIG, mode="0600")


def service_script(spec: ClusterSpec, node: NodeSpec, content_hash: str, files: Sequence[str]) -> str:
    """Create/update: write the host-facts drop-in; on a node that has joined, remove the
    bootstrap kubeconfig and restart kubelet only if `files` (their sha256: `content_hash`) or the
    host facts changed; on one that has not, arm the cleanup and restart kubelet with its (new)
    token. Then kubelet must keep running."""
    return script(
        "kubelet/start.sh",
        NODE=node.name,
        HASH=content_hash,
        HASH_DIR=SERVICE_HASH_DIR,
        WATCHED=" ".join([*files, HOST_FACTS]),
        UNIT=UNIT,
        HOST_FACTS=HOST_FACTS,
        KUBECONFIG=KUBECONFIG,
        CLIENT_CERT=CLIENT_CERT,
        BOOTSTRAP=BOOTSTRAP_KUBECONFIG,
        CLEANUP_PATH=CLEANUP_PATH,
        CLEANUP_SERVICE=CLEANUP_SERVICE,
        CGROUP_FS="/sys/fs/cgroup",
        RESOLVED_CONF="/run/systemd/resolve/resolv.conf",
        MEMINFO="/proc/meminfo",
        SMALL_NODE_MB=str(SMALL_NODE_MB),
        SYSTEM_RESERVED=SMALL_NODE_SYSTEM_RESERVED,
        KUBE_RESERVED=SMALL_NODE_KUBE_RESERVED,
    )


def stop_script() -> str:
    """Delete: stop our kubelet, unmount pod volumes, remove its state and the host-facts drop-in."""
    return script(
        "kubelet/stop.sh",
        **own_unit(UNIT),
        HOST_FACTS=HOST_FACTS,
        STATE_DIR=STATE_DIR,
        HASH_DIR=SERVICE_HASH_DIR,
        CLEANUP_PATH=CLEANUP_PATH,
        CLEANUP_SERVICE=CLEANUP_SERVICE,
        BOOTSTRAP=BOOTSTRAP_KUBECONFIG,
    )
