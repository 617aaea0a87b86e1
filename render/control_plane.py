"""kube-apiserver, kube-controller-manager and kube-scheduler: flags by Kubernetes minor, their
config files (encryption, audit policy, scheduler config) and systemd units.

Only flags and API versions current Kubernetes (1.34-1.36) accepts are rendered; FORBIDDEN_FLAGS
and FORBIDDEN_API_VERSIONS list what was removed since the old field reports, and a test renders
every preset at every supported minor to prove none of it appears.
"""

from __future__ import annotations

import posixpath
from typing import Any

from render import etcd, ports, systemd, yaml_dump
from render.common import BIN_DIR
from render.systemd import Unit, render_unit
from spec import defaults as d
from spec.model import ClusterSpec, NodeSpec
from spec.versions import minor_of

# One system user per service; each reads only its own secrets (SECRETS below).
APISERVER_USER, KCM_USER, SCHEDULER_USER = "kube-apiserver", "kube-controller-manager", "kube-scheduler"
PKI = "/etc/kubernetes/pki"
CONF = "/etc/kubernetes"
AUDIT_DIR = "/var/log/kubernetes/audit"

CA_CRT, CA_KEY = f"{PKI}/ca.crt", f"{PKI}/ca.key"
APISERVER_CRT, APISERVER_KEY = f"{PKI}/apiserver.crt", f"{PKI}/apiserver.key"
KUBELET_CLIENT_CRT = f"{PKI}/apiserver-kubelet-client.crt"
KUBELET_CLIENT_KEY = f"{PKI}/apiserver-kubelet-client.key"
ETCD_CA_CRT = f"{PKI}/etcd/ca.crt"
ETCD_CLIENT_CRT, ETCD_CLIENT_KEY = f"{PKI}/apiserver-etcd-client.crt", f"{PKI}/apiserver-etcd-client.key"
FRONT_PROXY_CA_CRT = f"{PKI}/front-proxy-ca.crt"
FRONT_PROXY_CLIENT_CRT = f"{PKI}/front-proxy-client.crt"
FRONT_PROXY_CLIENT_KEY = f"{PKI}/front-proxy-client.key"
SA_KEY, SA_PUB = f"{PKI}/sa.key", f"{PKI}/sa.pub"
# Where the controller-manager had its own copy of sa.key while it read its keys itself.
LEGACY_KCM_SA_KEY = f"{PKI}/controller-manager/sa.key"
ENCRYPTION_CONFIG = f"{CONF}/encryption-config.yaml"
AUDIT_POLICY = f"{CONF}/audit-policy.yaml"
ADMISSION_CONFIG = f"{CONF}/admission-config.yaml"
SCHEDULER_CONFIG = f"{CONF}/scheduler-config.yaml"
KCM_KUBECONFIG = f"{CONF}/controller-manager.conf"
SCHEDULER_KUBECONFIG = f"{CONF}/scheduler.conf"
AUDIT_LOG = f"{AUDIT_DIR}/audit.log"

APISERVER, KCM, SCHEDULER = "kube-apiserver", "kube-controller-manager", "kube-scheduler"
SERVICE_USERS = {APISERVER: APISERVER_USER, KCM: KCM_USER, SCHEDULER: SCHEDULER_USER}

# The secret files (keys, kubeconfigs, the encryption config) each service reads. On disk they
# are root's, 0600 (CIS 1.1.15-1.1.21: kubeconfigs and all of the PKI directory owned by root).
# Each service gets its own as copies made at every start in its runtime directory, its user's
# alone (render.systemd SECRETS_HELPER: /run/<service>/<file name>, 0400 in a 0700 directory),
# and its flags name those. So the scheduler still cannot read the CA key, nor the
# controller-manager the API server's client keys; the CA key reaches the controller-manager
# alone (it signs kubelet certificates). Certificates are public: read in place.
SECRETS: dict[str, tuple[str, ...]] = {
    APISERVER: (
        APISERVER_KEY,
        KUBELET_CLIENT_KEY,
        ETCD_CLIENT_KEY,
        FRONT_PROXY_CLIENT_KEY,
        SA_KEY,
        ENCRYPTION_CONFIG,
    ),
    KCM: (KCM_KUBECONFIG, CA_KEY, SA_KEY),  # sa.key: it signs legacy service-account tokens
    SCHEDULER: (SCHEDULER_KUBECONFIG,),
}


def secrets_dir(service: str) -> str:
    """Where `service` finds its copies: its unit's runtime directory."""
    return systemd.runtime_dir(f"{service}.service")


def secret_copy(service: str, path: str) -> str:
    """What `service`'s flags and config files name for the secret file `path`: its own copy."""
    if path not in SECRETS[service]:
        raise ValueError(f"{service} is not given {path}")
    return systemd.secret_copy(f"{service}.service", path)


# Flags removed (or never to be used again) per binary; exact flag names.
FORBIDDEN_FLAGS: dict[str, tuple[str, ...]] = {
    APISERVER: (
        "--experimental-encryption-provider-config",  # 1.24: --encryption-provider-config
        "--insecure-port",  # removed 1.24
        "--insecure-bind-address",  # removed 1.24
        "--kubelet-https",  # removed 1.22
        "--enable-swagger-ui",  # removed 1.14
        "--repair-malfunctioning-endpoints",  # long gone
        "--admission-control",  # deprecated for --enable-admission-plugins
        "--basic-auth-file",  # removed 1.19
        "--target-ram-mb",  # removed 1.24
        "--service-account-api-audiences",  # removed 1.25: --api-audiences
        "--etcd-quorum-read",  # removed 1.12
        "--deserialization-cache-size",  # removed 1.15
        "--storage-backend",  # etcd2 is gone; etcd3 is the only backend
    ),
    KCM: (
        "--address",  # removed 1.24: --bind-address
        "--port",  # removed 1.24: --secure-port
        "--experimental-cluster-signing-duration",  # removed 1.25: --cluster-signing-duration
        "--insecure-experimental-approve-all-kubelet-csrs-for-group",
        "--horizontal-pod-autoscaler-use-rest-clients",
        "--pod-eviction-timeout",  # removed 1.27
    ),
    SCHEDULER: (
        "--address",  # removed 1.24
        "--port",  # removed 1.24
        "--algorithm-provider",  # removed 1.23
        "--policy-config-file",  # removed 1.23
        "--use-legacy-policy-config",  # removed 1.23
        "--hard-pod-affinity-symmetric-weight",
    ),
    # Not rendered here, but listed so the one checker also serves the node side.
    "kubelet": (
        "--allow-privileged",  # removed 1.15 (the apiserver's own --allow-privileged stays)
        "--container-runtime",  # removed 1.27
        "--network-plugin",  # removed 1.24
        "--cni-bin-dir",
        "--cni-conf-dir",
        "--pod-infra-container-image",  # removed 1.35
    ),
}
FORBIDDEN_ADMISSION_PLUGINS = ("DenyEscalatingExec", "PodSecurityPolicy", "Initializers")
FORBIDDEN_API_VERSIONS = (
    "audit.k8s.io/v1beta1",
    "audit.k8s.io/v1alpha1",
    "apiserver.config.k8s.io/v1beta1",
    "apiserver.config.k8s.io/v1alpha1",
    "kubescheduler.config.k8s.io/v1alpha1",
    "kubescheduler.config.k8s.io/v1beta1",
    "kubescheduler.config.k8s.io/v1beta2",
    "kubescheduler.config.k8s.io/v1beta3",
    "node.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1beta1",
    "certificates.k8s.io/v1beta1",
    "policy/v1beta1",
    "extensions/v1beta1",
)


def forbidden_in(component: str, text: str) -> list[str]:
    """Every removed flag, admission plugin or API version that occurs in rendered text."""
    names = {token.split("=", 1)[0] for token in text.split() if token.startswith("--")}
    found = [f for f in FORBIDDEN_FLAGS.get(component, ()) if f in names]
    found += [p for p in FORBIDDEN_ADMISSION_PLUGINS if p in text]
    found += [v for v in FORBIDDEN_API_VERSIONS if v in text]
    return found


def _join(values: tuple[str, ...]) -> str:
    return ",".join(values)


def service_account_issuer(spec: ClusterSpec) -> str:
    return f"https://kubernetes.default.svc.{spec.network.cluster_domain}"


def _tls(spec: ClusterSpec) -> list[tuple[str, str]]:
    out = [("tls-min-version", spec.security.tls_min_version)]
    if spec.security.tls_min_version != "VersionTLS13":  # TLS 1.3 suites are not configurable
        out.append(("tls-cipher-suites", _join(spec.security.tls_cipher_suites)))
    return out


def apiserver_flags(spec: ClusterSpec, node: NodeSpec) -> tuple[tuple[str, str], ...]:
    minor = minor_of(spec.kubernetes_version)
    if minor not in d.SUPPORTED_KUBERNETES_MINORS:
        raise ValueError(f"no control-plane flags for Kubernetes {minor}")
    audit = spec.security.audit
    out: list[tuple[str, str]] = [
        ("advertise-address", node.internal_address),
        ("secure-port", str(ports.api_server(spec))),
        ("allow-privileged", "true"),  # CNIs and kube-proxy run privileged pods
        ("anonymous-auth", "false"),
        ("authorization-mode", "Node,RBAC"),
        ("enable-admission-plugins", "NodeRestriction"),  # the rest of the defaults stay on
        ("admission-control-config-file", ADMISSION_CONFIG),  # Pod Security: baseline by default
        ("enable-bootstrap-token-auth", "true"),
        ("client-ca-file", CA_CRT),
        ("tls-cert-file", APISERVER_CRT),
        ("tls-private-key-file", secret_copy(APISERVER, APISERVER_KEY)),
        *_tls(spec),
        ("kubelet-client-certificate", KUBELET_CLIENT_CRT),
        ("kubelet-client-key", secret_copy(APISERVER, KUBELET_CLIENT_KEY)),
        ("kubelet-certificate-authority", CA_CRT),
        ("kubelet-preferred-address-types", "InternalIP,ExternalIP,Hostname"),
        ("etcd-servers", etcd.endpoints(spec)),
        ("etcd-cafile", ETCD_CA_CRT),
        ("etcd-certfile", ETCD_CLIENT_CRT),
        ("etcd-keyfile", secret_copy(APISERVER, ETCD_CLIENT_KEY)),
        ("service-cluster-ip-range", spec.network.service_cidr),
        ("service-account-issuer", service_account_issuer(spec)),
        ("service-account-key-file", SA_PUB),
        ("service-account-signing-key-file", secret_copy(APISERVER, SA_KEY)),
        # Tokens live as long as they say, not a year (the default extends legacy-aware ones).
        ("service-account-extend-token-expiration", "false"),
        ("encryption-provider-config", secret_copy(APISERVER, ENCRYPTION_CONFIG)),
        ("requestheader-client-ca-file", FRONT_PROXY_CA_CRT),
        ("requestheader-allowed-names", "front-proxy-client"),
        ("requestheader-username-headers", "X-Remote-User"),
        ("requestheader-group-headers", "X-Remote-Group"),
        ("requestheader-extra-headers-prefix", "X-Remote-Extra-"),
        ("proxy-client-cert-file", FRONT_PROXY_CLIENT_CRT),
        ("proxy-client-key-file", secret_copy(APISERVER, FRONT_PROXY_CLIENT_KEY)),
        ("profiling", "false"),
    ]
    if audit.enabled:
        out += [
            ("audit-policy-file", AUDIT_POLICY),
            ("audit-log-path", AUDIT_LOG),
            ("audit-log-format", "json"),
            ("audit-log-maxage", str(audit.max_age_days)),
            ("audit-log-maxbackup", str(audit.max_backups)),
            ("audit-log-maxsize", str(audit.max_size_mb)),
        ]
    return tuple(out)


def controller_manager_flags(spec: ClusterSpec) -> tuple[tuple[str, str], ...]:
    net = spec.network
    hours = spec.pki.cert_validity_days * 24
    return (
        ("bind-address", "127.0.0.1"),
        ("secure-port", str(ports.CONTROLLER_MANAGER)),
        ("kubeconfig", secret_copy(KCM, KCM_KUBECONFIG)),
        ("authentication-kubeconfig", secret_copy(KCM, KCM_KUBECONFIG)),
        ("authorization-kubeconfig", secret_copy(KCM, KCM_KUBECONFIG)),
        ("leader-elect", "true"),
        ("cluster-name", spec.cluster_name),
        # The default set: no bootstrapsigner (no token of ours signs cluster-info) and no
        # tokencleaner, which would delete each node's expired token Secret, an object of the
        # stack (render/bootstrap.py): an expired token is inert, and goes with its node.
        ("controllers", "*"),
        ("client-ca-file", CA_CRT),
        ("requestheader-client-ca-file", FRONT_PROXY_CA_CRT),
        ("root-ca-file", CA_CRT),
        ("service-account-private-key-file", secret_copy(KCM, SA_KEY)),
        ("use-service-account-credentials", "true"),
        ("cluster-signing-cert-file", CA_CRT),
        ("cluster-signing-key-file", secret_copy(KCM, CA_KEY)),
        ("cluster-signing-duration", f"{hours}h"),
        ("allocate-node-cidrs", "true"),  # flannel/canal and cilium's kubernetes IPAM read podCIDR
        ("cluster-cidr", net.pod_cidr),
        ("node-cidr-mask-size", str(net.node_cidr_mask_size)),
        ("service-cluster-ip-range", net.service_cidr),
        *_tls(spec),
        ("profiling", "false"),
    )


def scheduler_flags(spec: ClusterSpec) -> tuple[tuple[str, str], ...]:
    return (
        ("config", SCHEDULER_CONFIG),
        ("bind-address", "127.0.0.1"),
        ("secure-port", str(ports.SCHEDULER)),
        ("authentication-kubeconfig", secret_copy(SCHEDULER, SCHEDULER_KUBECONFIG)),
        ("authorization-kubeconfig", secret_copy(SCHEDULER, SCHEDULER_KUBECONFIG)),
        *_tls(spec),
    )


def scheduler_config(spec: ClusterSpec) -> str:
    doc = {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "clientConnection": {"kubeconfig": secret_copy(SCHEDULER, SCHEDULER_KUBECONFIG)},
        "leaderElection": {"leaderElect": True},
        "enableProfiling": False,
    }
    return yaml_dump.dump(doc, sort_keys=False)


def encryption_config(spec: ClusterSpec, key_b64: str) -> str:
    """EncryptionConfiguration for Secrets: the chosen provider first, identity last so data
    written before encryption was on stays readable. `none`: identity only."""
    provider = spec.security.encryption_at_rest
    providers: list[dict[str, Any]] = []
    if provider != "none":
        providers.append({provider: {"keys": [{"name": "key1", "secret": key_b64}]}})
    providers.append({"identity": {}})
    doc = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"], "providers": providers}],
    }
    return yaml_dump.dump(doc, sort_keys=False)


# Pod Security Admission for every namespace without labels of its own: baseline is enforced
# (no privileged pods, host namespaces or host paths), restricted is warned about and audited.
# kube-system holds the cluster's own privileged pods (kube-proxy and CNIs that live there); a
# namespace that needs more opts in with pod-security.kubernetes.io/enforce (flannel's does).
POD_SECURITY_DEFAULTS = {"enforce": "baseline", "warn": "restricted", "audit": "restricted"}
POD_SECURITY_EXEMPT_NAMESPACES = ["kube-system"]


def admission_config() -> str:
    """AdmissionConfiguration for --admission-control-config-file: the PodSecurity defaults."""
    defaults: dict[str, str] = {}
    for mode, level in POD_SECURITY_DEFAULTS.items():
        defaults[mode] = level
        defaults[f"{mode}-version"] = "latest"
    doc = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AdmissionConfiguration",
        "plugins": [
            {
                "name": "PodSecurity",
                "configuration": {
                    "apiVersion": "pod-security.admission.config.k8s.io/v1",
                    "kind": "PodSecurityConfiguration",
                    "defaults": defaults,
                    "exemptions": {
                        "usernames": [],
                        "runtimeClasses": [],
                        "namespaces": POD_SECURITY_EXEMPT_NAMESPACES,
                    },
                },
            }
        ],
    }
    return yaml_dump.dump(doc, sort_keys=False)


def audit_policy() -> str:
    """S4's policy: noisy reads skipped, Secrets/ConfigMaps at Metadata (never their content),
    pods at RequestResponse, everything else at Metadata."""
    core = ""
    doc = {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {"level": "None", "nonResourceURLs": ["/healthz*", "/livez*", "/readyz*", "/version"]},
            {
                "level": "None",
                "users": ["system:kube-proxy"],
                "verbs": ["watch"],
                "resources": [{"group": core, "resources": ["endpoints", "services", "services/status"]}],
            },
            {
                "level": "None",
                "verbs": ["get", "list", "watch"],
                "resources": [
                    {"group": "coordination.k8s.io", "resources": ["leases"]},
                    {"group": core, "resources": ["events"]},
                ],
            },
            {
                "level": "Metadata",
                "resources": [
                    {"group": core, "resources": ["secrets", "configmaps", "serviceaccounts/token"]},
                    {"group": "authentication.k8s.io", "resources": ["tokenreviews"]},
                ],
            },
            {"level": "RequestResponse", "resources": [{"group": core, "resources": ["pods"]}]},
            {"level": "Metadata"},
        ],
    }
    return yaml_dump.dump(doc, sort_keys=False)


def _unit(name: str, description: str, flags: tuple[tuple[str, str], ...], after: tuple[str, ...]) -> Unit:
    user = SERVICE_USERS[name]
    return Unit(
        name=f"{name}.service",
        description=description,
        documentation="https://kubernetes.io/docs/reference/command-line-tools-reference/",
        exec_start=(f"{BIN_DIR}/{name}", *systemd.flags(flags)),
        after=("network-online.target", *after),
        user=user,
        group=user,
        secrets=SECRETS[name],
    )


def units(spec: ClusterSpec, node: NodeSpec) -> dict[str, Unit]:
    """The three units; the apiserver orders after a local etcd when there is one."""
    local_etcd = ("etcd.service",) if node.is_etcd else ()
    return {
        APISERVER: _unit(
            APISERVER, "Kubernetes API server (k8s-from-scratch)", apiserver_flags(spec, node), local_etcd
        ),
        KCM: _unit(
            KCM,
            "Kubernetes controller manager (k8s-from-scratch)",
            controller_manager_flags(spec),
            (f"{APISERVER}.service",),
        ),
        SCHEDULER: _unit(
            SCHEDULER,
            "Kubernetes scheduler (k8s-from-scratch)",
            scheduler_flags(spec),
            (f"{APISERVER}.service",),
        ),
    }


def unit_texts(spec: ClusterSpec, node: NodeSpec) -> dict[str, str]:
    return {name: render_unit(u) for name, u in units(spec, node).items()}


def flag_lines(flags: tuple[tuple[str, str], ...]) -> str:
    """One --flag=value per line: the golden-file form."""
    return "".join(f"{flag}\n" for flag in systemd.flags(flags))


def local_api_url(spec: ClusterSpec) -> str:
    """The node's own kube-apiserver, as its controller-manager, scheduler and checks reach it."""
    return f"https://127.0.0.1:{ports.api_server(spec)}"


def apiserver_health_check(spec: ClusterSpec) -> str:
    """/livez and /readyz over TLS, authenticated: anonymous auth is off, so the check presents
    the apiserver-kubelet-client certificate (any authenticated user may read them)."""
    base = local_api_url(spec)
    curl = f"curl -sS --max-time 5 --cacert {CA_CRT} --cert {KUBELET_CLIENT_CRT} --key {KUBELET_CLIENT_KEY}"
    return f"{curl} {base}/livez >/dev/null && {curl} {base}/readyz 2>/dev/null | grep -qx ok"


def local_health_check(port: int) -> str:
    """kube-controller-manager / kube-scheduler /healthz: always-allowed, self-signed serving cert."""
    return f"curl -sSk --max-time 5 https://127.0.0.1:{port}/healthz 2>/dev/null | grep -qx ok"


def user_script() -> str:
    """The three users; the audit log is the API server's alone. Also removes the
    controller-manager's own copy of sa.key that clusters made before root-owned secrets have."""
    dirs = (f"{PKI}/etcd", AUDIT_DIR)
    legacy = f"rm -f {LEGACY_KCM_SA_KEY}\nrmdir {posixpath.dirname(LEGACY_KCM_SA_KEY)} 2>/dev/null || true\n"
    return systemd.user_script(list(SERVICE_USERS.values()), "/nonexistent", dirs, AUDIT_DIR) + legacy


def remove_user_script() -> str:
    """Also the one user all three shared before they had their own (clusters made then)."""
    dirs = ("/var/log/kubernetes", f"{PKI}/etcd", posixpath.dirname(LEGACY_KCM_SA_KEY), PKI, CONF)
    return systemd.remove_user_script([*SERVICE_USERS.values(), "kube"], AUDIT_DIR, dirs)
