"""The pinned binaries each node downloads, and where their checksums come from.

A node's roles and the runtime decide which (artifact, version, arch) it needs; load_spec refuses a
spec in which one of them has no checksum. How each is fetched and installed: render/artifacts.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

from spec import lab_mirror
from spec.checksums import CHECKSUMS
from spec.model import BinariesSpec, ClusterSpec, NodeSpec
from spec.problems import Problems
from spec.versions import version_field

# Artifacts whose version is a `versions` key (the Kubernetes tarballs follow kubernetesVersion).
_VERSION_KEYS = {
    "etcd": "etcd",
    "containerd": "containerd",
    "runc": "runc",
    "crio": "crio",
    "kata": "kata",
    "crictl": "crictl",
    "cni-plugins": "cniPlugins",
}
_BUILD_MIRROR = "`python -m lab.mirror build --stack-file Pulumi.<stack>.yaml`"
_PIN_IT = (
    "pin it: pulumi config set --path 'binaries.checksums.{key}' "
    "sha256:<hex of the upstream file>, or use a pinned version"
)


@dataclass(frozen=True)
class Pin:
    """One download: the key of the checksum tables and of the mirror layout."""

    name: str
    version: str
    arch: str
    version_path: str  # the config key that chose the version

    @property
    def key(self) -> str:
        return f"{self.name}/{self.version}/{self.arch}"


def node_kubernetes_version(spec: ClusterSpec, node: NodeSpec) -> str:
    return node.kubernetes_version or spec.kubernetes_version


def node_pins(spec: ClusterSpec, node: NodeSpec) -> tuple[Pin, ...]:
    """Every download a node needs for its roles, in install order."""
    arch = node.arch
    names: list[str] = []
    out: list[Pin] = []
    if node.is_control_plane:
        out.append(Pin("kubernetes-server", spec.kubernetes_version, arch, "kubernetesVersion"))
    elif node.runs_kubelet:
        out.append(Pin("kubernetes-node", node_kubernetes_version(spec, node), arch, "kubernetesVersion"))
    if node.is_etcd:
        names.append("etcd")
    if node.runs_kubelet:
        names += ["containerd", "runc"] if spec.runtime.name == "containerd" else ["crio"]
        names += ["crictl", "cni-plugins"] + (["kata"] if spec.runtime.kata else [])
    for name in names:
        key = _VERSION_KEYS[name]
        out.append(Pin(name, getattr(spec.versions, version_field(key)), arch, f"versions.{key}"))
    return tuple(out)


def checksum(spec: ClusterSpec, key: str) -> str | None:
    """ "sha256:<hex>" / "sha512:<hex>" of "artifact/version/arch": the stack's own pin first."""
    return spec.binaries.checksums.get(key) or CHECKSUMS.get(key)


def with_binaries(spec: ClusterSpec, problems: Problems) -> ClusterSpec:
    """The spec whose every needed download has a checksum, or problems saying which has none.

    A lab stack takes its binaries from the lab mirror, with the mirror's checksums (those the
    stack pins itself win)."""
    remedy = _PIN_IT
    pinned: Callable[[str], str | None] = partial(checksum, spec)
    if spec.lab.enabled:
        if any(p.path.split(".")[0] == "lab" for p in problems.errors):
            return spec  # no lab to serve: its own problems say why
        out = lab_mirror.mirror_dir(spec)
        try:
            sums = lab_mirror.read_checksums(out)
        except (OSError, ValueError) as err:
            problems.error(
                "lab",
                str(out),
                f"has no usable binary mirror ({err})",
                f"build it: `make up`, or {_BUILD_MIRROR}",
            )
            return spec
        wired = {**sums, **spec.binaries.checksums}
        spec = replace(spec, binaries=BinariesSpec(base_url=lab_mirror.mirror_url(spec), checksums=wired))
        # Lab hosts download from the mirror alone: an upstream checksum would not find the file.
        remedy, pinned = f"{{key}} is not in the lab mirror {out}: rebuild it: {_BUILD_MIRROR}", wired.get
    _check_checksums(spec, problems, remedy, pinned)
    return spec


def _check_checksums(
    spec: ClusterSpec, problems: Problems, remedy: str, pinned: Callable[[str], str | None]
) -> None:
    """One problem per download some node needs that `pinned` has no checksum for (once each;
    none for a version already refused: its own problem says what is wrong)."""
    refused = {p.path for p in problems.errors}
    seen: set[str] = set()
    for node in spec.nodes:
        for pin in node_pins(spec, node):
            if pin.key in seen or pin.version_path in refused or pinned(pin.key) is not None:
                continue
            seen.add(pin.key)
            problems.error(
                pin.version_path,
                pin.version,
                f"has no pinned checksum for {pin.name} {pin.version} ({pin.arch}), "
                f"needed by node {node.name}: binaries are never installed unverified",
                remedy.replace("{key}", pin.key),
            )
