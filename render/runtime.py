"""The container runtime of a kubelet node, rendered: containerd or CRI-O configs, crictl, units, scripts.

Configs are built as data and dumped with tomli-w, in the format of the runtime version the spec
pins: containerd 2.0-2.2 read config version 3 with the io.containerd.cri.v1.* plugin ids; 2.3
reads version 4 (the same CRI plugins, the gRPC address moved into io.containerd.server.v1.grpc);
containerd 1.6/1.7 read version 2 with everything under io.containerd.grpc.v1.cri (sandbox_image,
cni.bin_dir). CRI-O gets one drop-in in
/etc/crio/crio.conf.d/ (lexical order, last wins) on top of its built-in defaults.

Binaries are installed by the Host component (render/artifacts.py): containerd and crictl in
/usr/local/bin, runc in /usr/local/sbin, the CRI-O bundle under /opt/crio, Kata under /opt/kata,
CNI plugins in /opt/cni/bin. Nothing here installs a binary; the preflight script checks that
every binary a config names is there.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import tomli_w

from render import registry, yaml_dump
from render.artifacts import CNI_BIN_DIR, CRIO_DIR, KATA_DIR
from render.common import BIN_DIR, MANAGED_MARKER, SBIN_DIR, managed
from render.host_files import FileMeta
from render.images import pause_image, pull_scopes
from render.registry import registry_host
from render.scripts import script
from render.systemd import STATE_DIR as SERVICE_HASH_DIR
from render.systemd import UNIT_DIR, exec_start, install, own_unit, unit_file
from spec.model import ClusterSpec
from spec.versions import parse_version

# The CRI handler name of Kata in both runtimes; the RuntimeClass `kata` (Addons) must name it.
KATA_HANDLER = "kata"
KATA_SHIM = f"{KATA_DIR}/bin/containerd-shim-kata-v2"
KATA_CONFIG = f"{KATA_DIR}/share/defaults/kata-containers/configuration.toml"

CNI_CONF_DIR = "/etc/cni/net.d"
RUNC = f"{SBIN_DIR}/runc"
CRICTL = f"{BIN_DIR}/crictl"
CRICTL_CONFIG = "/etc/crictl.yaml"
# Dropped into state directories we create, so destroy removes only what we made.
OWNED_MARK = ".k8s-from-scratch-owned"


@dataclass(frozen=True)
class RuntimeInfo:
    """What kubelet and the scripts need to know about the chosen runtime."""

    name: str  # containerd | crio
    unit: str  # systemd unit name
    socket: str  # path of the CRI socket
    binaries: tuple[str, ...]  # every binary the config or unit names (checked by preflight)
    state_dirs: tuple[str, ...]  # persistent state; removed on destroy only if we created it
    volatile_dirs: tuple[str, ...]  # tmpfs state, removed on destroy

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket}"


CONTAINERD = RuntimeInfo(
    name="containerd",
    unit="containerd.service",
    socket="/run/containerd/containerd.sock",
    binaries=(f"{BIN_DIR}/containerd", f"{BIN_DIR}/containerd-shim-runc-v2", RUNC, CRICTL),
    state_dirs=("/var/lib/containerd",),
    volatile_dirs=("/run/containerd",),
)
CRIO = RuntimeInfo(
    name="crio",
    unit="crio.service",
    socket="/var/run/crio/crio.sock",
    binaries=(
        f"{CRIO_DIR}/bin/crio",
        f"{CRIO_DIR}/bin/conmon",
        f"{CRIO_DIR}/bin/pinns",
        f"{CRIO_DIR}/bin/runc",
        CRICTL,
    ),
    state_dirs=("/var/lib/containers/storage", "/var/lib/crio"),
    volatile_dirs=("/run/containers/storage", "/var/run/crio"),
)
RUNTIMES = {r.name: r for r in (CONTAINERD, CRIO)}

CONTAINERD_CONFIG = "/etc/containerd/config.toml"
# containerd's per-registry host config (hosts.toml), read for `images.registry`.
CONTAINERD_CERTS_DIR = "/etc/containerd/certs.d"
# CRI-O reads registry settings from containers-registries.conf drop-ins.
CRIO_REGISTRIES_DROP_IN = "/etc/containers/registries.conf.d/90-k8s-from-scratch.conf"
CRIO_DROP_IN = "/etc/crio/crio.conf.d/90-k8s-from-scratch.conf"
CRIO_POLICY = "/etc/crio/policy.json"


def runtime_info(spec: ClusterSpec) -> RuntimeInfo:
    return RUNTIMES[spec.runtime.name]


def containerd_hosts_toml(spec: ClusterSpec) -> str:
    """hosts.toml for `images.registry`: pull and resolve there (over plain HTTP if told so)."""
    host = registry_host(spec)
    assert host is not None
    server = registry.server(spec, host)
    doc = {"server": server, "host": {server: {"capabilities": ["pull", "resolve"]}}}
    return managed(tomli_w.dumps(doc))


# --- containerd ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContainerdLayout:
    """Where containerd keeps things. Production uses the defaults; tests move all of it to a tmp dir."""

    root: str = "/var/lib/containerd"
    state: str = "/run/containerd"
    address: str = CONTAINERD.socket
    cni_bin_dir: str = CNI_BIN_DIR
    cni_conf_dir: str = CNI_CONF_DIR
    runc: str = RUNC
    snapshotter: str = "overlayfs"
    opt_dir: str | None = None  # containerd 1.x's "opt" plugin dir; None keeps its default


def containerd_config_version(containerd_version: str) -> int:
    """The config format a containerd reads natively (older ones are migrated, with a warning)."""
    parsed = parse_version(containerd_version)
    if parsed is None:
        raise ValueError(f"not a containerd version: {containerd_version!r}")
    if parsed[0] < 2:
        return 2
    return 4 if parsed[:2] >= (2, 3) else 3


def containerd_config(
    spec: ClusterSpec, layout: ContainerdLayout = ContainerdLayout(), version: str | None = None
) -> dict[str, Any]:
    """containerd's config.toml as data, in the format of `version` (default: the pinned one)."""
    version = version or spec.versions.containerd
    parsed = parse_version(version)
    if parsed is None:
        raise ValueError(f"not a containerd version: {version!r}")
    config_version = containerd_config_version(version)
    runtimes: dict[str, Any] = {
        "runc": {
            "runtime_type": "io.containerd.runc.v2",
            "options": {
                "BinaryName": layout.runc,
                # Must agree with kubelet's cgroupDriver; containerd's default is false (cgroupfs).
                "SystemdCgroup": spec.runtime.cgroup_driver == "systemd",
            },
        }
    }
    if spec.runtime.kata:
        runtimes[KATA_HANDLER] = {
            "runtime_type": "io.containerd.kata.v2",
            "runtime_path": KATA_SHIM,  # kata-static lives under /opt/kata, not on PATH
            # Privileged pods must not get the host's devices inside the VM.
            "privileged_without_host_devices": True,
            "options": {"ConfigPath": KATA_CONFIG},
        }
    runtime_table = {"default_runtime_name": "runc", "runtimes": runtimes}
    doc: dict[str, Any] = {"version": config_version, "root": layout.root, "state": layout.state}
    plugins: dict[str, Any] = {}
    if config_version >= 4:
        # Version 4 (containerd 2.3) moved the server settings into plugin blocks.
        plugins["io.containerd.server.v1.grpc"] = {"address": layout.address}
    else:
        doc["grpc"] = {"address": layout.address}
    if layout.opt_dir is not None:
        plugins["io.containerd.internal.v1.opt"] = {"path": layout.opt_dir}
    if config_version >= 3:
        cni: dict[str, Any] = {"conf_dir": layout.cni_conf_dir}
        # bin_dirs replaced bin_dir in 2.1 (bin_dir is deprecated there and goes away in 2.3+).
        if parsed >= (2, 1, 0):
            cni = {"bin_dirs": [layout.cni_bin_dir], **cni}
        else:
            cni = {"bin_dir": layout.cni_bin_dir, **cni}
        images: dict[str, Any] = {
            "snapshotter": layout.snapshotter,
            "pinned_images": {"sandbox": pause_image(spec)},
        }
        if spec.images.registry:
            images["registry"] = {"config_path": CONTAINERD_CERTS_DIR}
        plugins["io.containerd.cri.v1.images"] = images
        runtime = {**_selinux(spec), **_oom_clamp(spec), "containerd": runtime_table, "cni": cni}
        plugins["io.containerd.cri.v1.runtime"] = runtime
    else:
        plugins["io.containerd.grpc.v1.cri"] = {
            **_selinux(spec),
            **_oom_clamp(spec),
            "sandbox_image": pause_image(spec),
            "containerd": {"snapshotter": layout.snapshotter, **runtime_table},
            "cni": {"bin_dir": layout.cni_bin_dir, "conf_dir": layout.cni_conf_dir},
            **({"registry": {"config_path": CONTAINERD_CERTS_DIR}} if spec.images.registry else {}),
        }
    doc["plugins"] = plugins
    return doc


def _selinux(spec: ClusterSpec) -> dict[str, bool]:
    """security.selinux: enforcing: containerd labels every container (container_t with MCS
    categories of its own, its rootfs and volumes relabelled). On a host without SELinux containerd
    only logs "Selinux is not supported" and runs unlabelled (internal/cri/server/service_linux.go),
    so one config serves every host. Otherwise containerd's default: off."""
    return {"enable_selinux": True} if spec.security.selinux == "enforcing" else {}


def _oom_clamp(spec: ClusterSpec) -> dict[str, bool]:
    """containerd's own knob for hosts where nothing may lower its OOM score (the lab's): the
    score it gives containers is clamped to its own instead of failing every sandbox."""
    return {"restrict_oom_score_adj": True} if spec.runtime.restrict_oom_score_adj else {}


def render_containerd_config(
    spec: ClusterSpec, layout: ContainerdLayout = ContainerdLayout(), version: str | None = None
) -> str:
    version_line = f"# containerd {version or spec.versions.containerd}\n"
    return managed(version_line + tomli_w.dumps(containerd_config(spec, layout, version)))


# --- CRI-O ---------------------------------------------------------------------------------------


def crio_config(spec: ClusterSpec) -> dict[str, Any]:
    """The CRI-O drop-in as data: every path it uses, so no other drop-in can move them."""
    runtimes: dict[str, Any] = {
        "runc": {
            "runtime_path": f"{CRIO_DIR}/bin/runc",
            "runtime_type": "oci",
            "runtime_root": "/run/runc",
            "monitor_path": f"{CRIO_DIR}/bin/conmon",
            # conmon joins the pod's cgroup ("pod" works with both cgroup managers); this
            # replaces the deprecated global conmon_cgroup.
            "monitor_cgroup": "pod",
        }
    }
    if spec.runtime.kata:
        runtimes[KATA_HANDLER] = {
            "runtime_path": KATA_SHIM,
            "runtime_type": "vm",
            "runtime_root": "/run/vc",
            "runtime_config_path": KATA_CONFIG,
            "privileged_without_host_devices": True,
        }
    runtime: dict[str, Any] = {
        "cgroup_manager": spec.runtime.cgroup_driver,
        # Naming runc drops CRI-O's built-in crun entry (CRI-O >= 1.31 defaults to crun).
        "default_runtime": "runc",
        "pinns_path": f"{CRIO_DIR}/bin/pinns",
        "runtimes": runtimes,
    }
    if spec.security.selinux == "enforcing":
        # CRI-O's own default is "is SELinux active here"; said explicitly, no other drop-in can turn
        # it off. On a host without SELinux it labels nothing (only `false` does anything:
        # selinux.SetDisabled() in pkg/config/config.go), so one drop-in serves every host.
        runtime["selinux"] = True
    return {
        "crio": {
            "api": {"listen": CRIO.socket},
            "runtime": runtime,
            "image": {
                "pause_image": pause_image(spec),
                # Our own policy file: /etc/containers/ may belong to podman/skopeo.
                "signature_policy": CRIO_POLICY,
            },
            "network": {"network_dir": CNI_CONF_DIR, "plugin_dirs": [CNI_BIN_DIR]},
        }
    }


def render_crio_config(spec: ClusterSpec) -> str:
    # The version line makes a CRI-O upgrade change this file, which restarts CRI-O.
    return managed(f"# cri-o {spec.versions.crio}\n" + tomli_w.dumps(crio_config(spec)))


def crio_registries(spec: ClusterSpec) -> str:
    """A registries.conf drop-in that lets CRI-O pull `images.registry` over plain HTTP."""
    doc = {"registry": [{"location": registry_host(spec), "insecure": True}]}  # [[registry]] entries
    return managed(tomli_w.dumps(doc))


def crio_policy_scopes(spec: ClusterSpec) -> list[str]:
    """The registry scopes CRI-O accepts images from: the cluster's own, and the admin's."""
    return sorted(set(pull_scopes(spec)) | set(spec.runtime.crio_allowed_registries))


def crio_policy(spec: ClusterSpec) -> str:
    """containers-policy.json(5) for CRI-O: reject every image (the default) but those of the
    registries the cluster pulls from and `runtime.crio.allowedRegistries`, which the docker
    transport accepts unsigned. CRI-O asks the policy when it pulls (about the docker://
    reference it pulls) and again before it creates a container (about the image as the pod
    names it, also docker://), so that transport is the only one it needs
    (internal/storage/image.go, server/container_create.go in 1.35).
    """
    accept = [{"type": "insecureAcceptAnything"}]
    doc = {
        "default": [{"type": "reject"}],
        "transports": {"docker": {scope: accept for scope in crio_policy_scopes(spec)}},
    }
    return json.dumps(doc, indent=2) + "\n"


# --- crictl and units ----------------------------------------------------------------------------


def crictl_config(spec: ClusterSpec) -> str:
    info = runtime_info(spec)
    doc = {"runtime-endpoint": info.endpoint, "image-endpoint": info.endpoint, "timeout": 10}
    return managed(yaml_dump.dump(doc, sort_keys=False))


def runtime_unit(spec: ClusterSpec) -> str:
    if runtime_info(spec) is CONTAINERD:
        return managed(_containerd_unit())
    return managed(_crio_unit())


def _containerd_unit() -> str:
    return _runtime_unit(
        _about("containerd", "https://containerd.io", after="network.target"),
        [
            ("ExecStartPre", "-/sbin/modprobe overlay"),
            exec_start([f"{BIN_DIR}/containerd", "--config", CONTAINERD_CONFIG]),
            ("#", "containerd's shims (and the containers under them) outlive a containerd restart."),
            ("Delegate", "yes"),
            ("KillMode", "process"),
        ],
        restart=("always", "5"),
        limit="infinity",
    )


def _crio_unit() -> str:
    return _runtime_unit(
        [
            *_about("CRI-O", "https://cri-o.io", after="network-online.target"),
            ("Wants", "network-online.target"),
        ],
        [
            exec_start([f"{CRIO_DIR}/bin/crio"]),
            ("Environment", "GOTRACEBACK=crash"),
            ("ExecReload", "/bin/kill -s HUP $MAINPID"),
            ("TimeoutStartSec", "0"),
        ],
        restart=("on-failure", "10"),
        limit="1048576",
    )


def _about(name: str, docs: str, after: str) -> list[tuple[str, str]]:
    """A runtime unit's [Unit] section: it needs the network and local filesystems."""
    return [
        ("Description", f"{name} container runtime (k8s-from-scratch)"),
        ("Documentation", docs),
        ("After", f"{after} local-fs.target"),
    ]


def _runtime_unit(
    unit: list[tuple[str, str]], start: list[tuple[str, str]], restart: tuple[str, str], limit: str
) -> str:
    """A container runtime's unit, as its project ships it: `start` (how it starts), then what
    every runtime needs: readiness by sd_notify, its restart policy, open files and processes
    up to `limit` (the runtime and its shims hold many), and never the OOM killer's first pick."""
    policy, every = restart
    return unit_file(
        {
            "Unit": unit,
            "Service": [
                *start,
                ("Type", "notify"),
                ("Restart", policy),
                ("RestartSec", every),
                ("LimitNOFILE", limit),
                ("LimitNPROC", limit),
                ("LimitCORE", "infinity"),
                ("TasksMax", "infinity"),
                ("OOMScoreAdjust", "-999"),
            ],
            **install(),
        }
    )


@dataclass(frozen=True)
class RenderedFile:
    meta: FileMeta
    content: str


def runtime_files(spec: ClusterSpec) -> list[RenderedFile]:
    """Every file the runtime needs, unit included (one files step, one content hash)."""
    info = runtime_info(spec)
    unit = RenderedFile(FileMeta(f"{UNIT_DIR}/{info.unit}"), runtime_unit(spec))
    crictl = RenderedFile(FileMeta(CRICTL_CONFIG), crictl_config(spec))
    host = registry_host(spec)
    if info is CONTAINERD:
        config = RenderedFile(FileMeta(CONTAINERD_CONFIG), render_containerd_config(spec))
        hosts = (
            [RenderedFile(FileMeta(f"{CONTAINERD_CERTS_DIR}/{host}/hosts.toml"), containerd_hosts_toml(spec))]
            if host
            else []
        )
        return [config, *hosts, crictl, unit]
    registries = (
        [RenderedFile(FileMeta(CRIO_REGISTRIES_DROP_IN), crio_registries(spec))]
        if host and spec.images.plain_http
        else []
    )
    return [
        RenderedFile(FileMeta(CRIO_DROP_IN), render_crio_config(spec)),
        RenderedFile(FileMeta(CRIO_POLICY), crio_policy(spec)),
        *registries,
        crictl,
        unit,
    ]


def runtime_dirs(spec: ClusterSpec) -> tuple[str, ...]:
    """Directories the files step may create, removed on destroy when empty."""
    host = registry_host(spec)
    if runtime_info(spec) is CONTAINERD:
        certs = (f"{CONTAINERD_CERTS_DIR}/{host}", CONTAINERD_CERTS_DIR) if host else ()
        return (*certs, "/etc/containerd")
    registries = ("/etc/containers/registries.conf.d",) if host and spec.images.plain_http else ()
    return ("/etc/crio/crio.conf.d", "/etc/crio", *registries)


# --- scripts -------------------------------------------------------------------------------------


def preflight_script(spec: ClusterSpec, node_name: str, root: str = "") -> str:
    """Refuses (listing every reason) to install where another runtime owns a unit, socket or binary.

    `root` prefixes every host path (tests run the script against a fake root).
    """
    info = runtime_info(spec)
    other = CRIO if info is CONTAINERD else CONTAINERD
    binaries = [*info.binaries, f"{CNI_BIN_DIR}/loopback"]
    if spec.runtime.kata:
        binaries.append(KATA_SHIM)
    return script(
        "runtime/preflight.sh",
        ROOT=root,
        NODE=node_name,
        MARKER=MANAGED_MARKER,
        WANT=info.name,
        WANT_UNIT=info.unit,
        WANT_SOCKET=info.socket,
        OTHER=other.name,
        OTHER_UNIT=other.unit,
        OTHER_SOCKET=other.socket,
        BINARIES=" ".join(binaries),
        KATA="yes" if spec.runtime.kata else "no",
        KATA_CONFIG=KATA_CONFIG,
    )


def service_script(spec: ClusterSpec, content_hash: str, files: Sequence[str]) -> str:
    """Create/update: start the runtime, or restart it when `files` (their sha256: `content_hash`,
    recorded on the host after a good start) changed, and wait until its CRI answers."""
    info = runtime_info(spec)
    return script(
        "runtime/start.sh",
        UNIT=info.unit,
        HASH=content_hash,
        HASH_DIR=SERVICE_HASH_DIR,
        WATCHED=" ".join(files),
        ENDPOINT=info.endpoint,
        CRICTL=CRICTL,
        # containerd ships ctr: its CRI plugin answering "ok" is readiness, without crictl.
        CTR=f"{BIN_DIR}/ctr" if info.name == "containerd" else "",
        STATE_DIRS=" ".join(info.state_dirs),
        OWNED_MARK=OWNED_MARK,
    )


def stop_script(spec: ClusterSpec) -> str:
    """Delete: remove the pods kubelet left, stop our unit (never a foreign one), remove our state."""
    info = runtime_info(spec)
    return script(
        "runtime/stop.sh",
        **own_unit(info.unit),
        HASH_DIR=SERVICE_HASH_DIR,
        ENDPOINT=info.endpoint,
        CRICTL=CRICTL,
        STATE_DIRS=" ".join(info.state_dirs),
        VOLATILE_DIRS=" ".join(info.volatile_dirs),
        OWNED_MARK=OWNED_MARK,
    )
