"""Pinned binary artifacts: which a node needs, where they come from, their checksums, how they install.

URLs follow upstream's release layout (spec/checksums.py names each pattern and its source); with
`binaries.baseUrl` every artifact comes from `<baseUrl>/<artifact>/<version>/<filename>` instead.
A checksum comes from `binaries.checksums["artifact/version/arch"]` first, then the pinned table;
an artifact without one is refused before any resource exists (`missing_checksums`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from render.common import BIN_DIR, STATE_ROOT
from render.script_parts import Part, StepScripts, run_parts
from render.scripts import script
from spec.checksums import CHECKSUMS
from spec.model import ClusterSpec, NodeSpec
from spec.problems import Problem, SpecError

CNI_BIN_DIR = "/opt/cni/bin"
CACHE_DIR = "/var/cache/k8s-from-scratch"
STATE_DIR = f"{STATE_ROOT}/artifacts"
CRIO_DIR = "/opt/crio"  # the unpacked cri-o tree; the Runtime component configures and runs it
KATA_DIR = "/opt/kata"

# The control-plane binaries come from the server tarball, node binaries from the node tarball:
# those two are the per-release archives upstream publishes checksums for.
CONTROL_PLANE_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
NODE_BINARIES = ("kubelet", "kube-proxy", "kubectl")


@dataclass(frozen=True)
class Member:
    """What to take out of a download. `source`: a path in the archive ("." for a bare binary);
    `source` ending in "/*" takes every regular file of that directory into `dest` (a dir)."""

    source: str
    dest: str
    mode: str = "0755"


@dataclass(frozen=True)
class Artifact:
    name: str  # the key of spec/checksums.py and of the mirror layout
    version: str
    arch: str
    filename: str
    upstream_url: str
    kind: str  # "binary" (the download is the file), "tar" (an archive) or "tree" (a whole dir)
    members: tuple[Member, ...]

    @property
    def key(self) -> str:
        return f"{self.name}/{self.version}/{self.arch}"

    def url(self, base_url: str | None) -> str:
        if base_url:
            return f"{base_url.rstrip('/')}/{self.name}/{self.version}/{self.filename}"
        return self.upstream_url

    def installed_paths(self) -> tuple[str, ...]:
        """Paths this artifact owns once installed (directories for globs and trees)."""
        return tuple(m.dest for m in self.members)


def _k8s(name: str, version: str, arch: str, binaries: tuple[str, ...]) -> Artifact:
    flavour = name.removeprefix("kubernetes-")
    filename = f"kubernetes-{flavour}-linux-{arch}.tar.gz"
    return Artifact(
        name=name,
        version=version,
        arch=arch,
        filename=filename,
        upstream_url=f"https://dl.k8s.io/v{version}/{filename}",
        kind="tar",
        members=tuple(Member(f"kubernetes/{flavour}/bin/{b}", f"{BIN_DIR}/{b}") for b in binaries),
    )


def etcd(version: str, arch: str) -> Artifact:
    stem = f"etcd-v{version}-linux-{arch}"
    return Artifact(
        name="etcd",
        version=version,
        arch=arch,
        filename=f"{stem}.tar.gz",
        upstream_url=f"https://github.com/etcd-io/etcd/releases/download/v{version}/{stem}.tar.gz",
        kind="tar",
        members=tuple(Member(f"{stem}/{b}", f"{BIN_DIR}/{b}") for b in ("etcd", "etcdctl", "etcdutl")),
    )


def containerd(version: str, arch: str) -> Artifact:
    filename = f"containerd-{version}-linux-{arch}.tar.gz"
    return Artifact(
        name="containerd",
        version=version,
        arch=arch,
        filename=filename,
        upstream_url=f"https://github.com/containerd/containerd/releases/download/v{version}/{filename}",
        kind="tar",
        members=tuple(
            Member(f"bin/{b}", f"{BIN_DIR}/{b}") for b in ("containerd", "containerd-shim-runc-v2", "ctr")
        ),
    )


def runc(version: str, arch: str) -> Artifact:
    return Artifact(
        name="runc",
        version=version,
        arch=arch,
        filename=f"runc.{arch}",
        upstream_url=f"https://github.com/opencontainers/runc/releases/download/v{version}/runc.{arch}",
        kind="binary",
        members=(Member(".", "/usr/local/sbin/runc"),),
    )


def cni_plugins(version: str, arch: str) -> Artifact:
    filename = f"cni-plugins-linux-{arch}-v{version}.tgz"
    return Artifact(
        name="cni-plugins",
        version=version,
        arch=arch,
        filename=filename,
        upstream_url=(
            f"https://github.com/containernetworking/plugins/releases/download/v{version}/{filename}"
        ),
        kind="tar",
        # File by file: CNIs (flannel, calico, ...) drop their own plugins into the same dir.
        members=(Member("./*", CNI_BIN_DIR),),
    )


def crictl(version: str, arch: str) -> Artifact:
    filename = f"crictl-v{version}-linux-{arch}.tar.gz"
    return Artifact(
        name="crictl",
        version=version,
        arch=arch,
        filename=filename,
        upstream_url=f"https://github.com/kubernetes-sigs/cri-tools/releases/download/v{version}/{filename}",
        kind="tar",
        members=(Member("crictl", f"{BIN_DIR}/crictl"),),
    )


def crio(version: str, arch: str) -> Artifact:
    filename = f"cri-o.{arch}.v{version}.tar.gz"
    return Artifact(
        name="crio",
        version=version,
        arch=arch,
        filename=filename,
        upstream_url=f"https://storage.googleapis.com/cri-o/artifacts/{filename}",
        kind="tree",
        members=(Member("cri-o", CRIO_DIR),),
    )


def kata(version: str, arch: str) -> Artifact:
    filename = f"kata-static-{version}-{arch}.tar.xz"
    return Artifact(
        name="kata",
        version=version,
        arch=arch,
        filename=filename,
        upstream_url=(
            f"https://github.com/kata-containers/kata-containers/releases/download/{version}/{filename}"
        ),
        kind="tree",
        members=(Member("opt/kata", KATA_DIR),),
    )


def node_kubernetes_version(spec: ClusterSpec, node: NodeSpec) -> str:
    return node.kubernetes_version or spec.kubernetes_version


def node_artifacts(spec: ClusterSpec, node: NodeSpec) -> tuple[Artifact, ...]:
    """Every artifact a node needs for its roles, in install order."""
    v, arch = spec.versions, node.arch
    out: list[Artifact] = []
    if node.is_control_plane:
        binaries = CONTROL_PLANE_BINARIES + _node_binaries(spec)
        out.append(_k8s("kubernetes-server", spec.kubernetes_version, arch, binaries))
    elif node.runs_kubelet:
        out.append(_k8s("kubernetes-node", node_kubernetes_version(spec, node), arch, _node_binaries(spec)))
    if node.is_etcd:
        out.append(etcd(v.etcd, arch))
    if node.runs_kubelet:
        if spec.runtime.name == "containerd":
            out += [containerd(v.containerd, arch), runc(v.runc, arch)]
        else:
            out.append(crio(v.crio, arch))
        out += [crictl(v.crictl, arch), cni_plugins(v.cni_plugins, arch)]
        if spec.runtime.kata:
            out.append(kata(v.kata, arch))
    return tuple(out)


def _node_binaries(spec: ClusterSpec) -> tuple[str, ...]:
    return tuple(b for b in NODE_BINARIES if b != "kube-proxy" or spec.kube_proxy.enabled)


def checksum(spec: ClusterSpec, artifact: Artifact) -> str | None:
    """ "sha256:<hex>" / "sha512:<hex>": the stack's override first, then the pinned table."""
    override = spec.binaries.checksums.get(artifact.key)
    if override:
        return override
    return CHECKSUMS.get((artifact.name, artifact.version, artifact.arch))


_VERSION_KEY = {
    "kubernetes-server": "kubernetesVersion",
    "kubernetes-node": "kubernetesVersion",
    "etcd": "versions.etcd",
    "containerd": "versions.containerd",
    "runc": "versions.runc",
    "cni-plugins": "versions.cniPlugins",
    "crictl": "versions.crictl",
    "crio": "versions.crio",
    "kata": "versions.kata",
}


def missing_checksums(spec: ClusterSpec, nodes: Sequence[NodeSpec] | None = None) -> list[Problem]:
    """One problem per artifact some node (of `nodes`, default all) needs and nobody pinned a
    checksum for."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for node in spec.nodes if nodes is None else nodes:
        for artifact in node_artifacts(spec, node):
            if artifact.key in seen or checksum(spec, artifact) is not None:
                continue
            seen.add(artifact.key)
            problems.append(
                Problem(
                    _VERSION_KEY.get(artifact.name, "versions"),
                    artifact.version,
                    f"has no pinned checksum for {artifact.name} {artifact.version} ({artifact.arch}), "
                    f"needed by node {node.name}: binaries are never installed unverified",
                    f"pin it: pulumi config set --path 'binaries.checksums.{artifact.key}' "
                    "sha256:<hex of the upstream file>, or use a pinned version",
                )
            )
    return problems


def require_checksums(spec: ClusterSpec, nodes: Sequence[NodeSpec] | None = None) -> None:
    """Raises SpecError (before any resource) when some needed artifact has no checksum."""
    problems = missing_checksums(spec, nodes)
    if problems:
        raise SpecError(problems)


def install_script(
    spec: ClusterSpec, artifact: Artifact, cache_dir: str = CACHE_DIR, state_dir: str = STATE_DIR
) -> str:
    """Idempotent download + verify + atomic install; skips everything when already installed."""
    sums = checksum(spec, artifact)
    if sums is None:
        raise SpecError(
            [Problem(_VERSION_KEY.get(artifact.name, "versions"), artifact.version, "has no checksum", "")]
        )
    algo, _, digest = sums.partition(":")
    members = "\n".join(f"{m.source} {m.dest} {m.mode}" for m in artifact.members)
    return script(
        "artifacts/install.sh",
        ARTIFACT=artifact.name,
        VERSION=artifact.version,
        FILE=artifact.filename,
        URL=artifact.url(spec.binaries.base_url),
        ALGO=algo,
        SUM=digest,
        KIND=artifact.kind,
        MEMBERS=members,
        CACHE_DIR=cache_dir,
        STATE_DIR=state_dir,
    )


def remove_script(artifact: Artifact, cache_dir: str = CACHE_DIR, state_dir: str = STATE_DIR) -> str:
    """Destroy: removes what the install recorded, the recorded state and the cached download."""
    # Directories we may have created, removed only when empty (CNIs share /opt/cni/bin).
    clean = [CNI_BIN_DIR, str(Path(CNI_BIN_DIR).parent)] if artifact.name == "cni-plugins" else []
    return script(
        "artifacts/remove.sh",
        ARTIFACT=artifact.name,
        CACHE_DIR=cache_dir,
        STATE_DIR=state_dir,
        CLEAN_DIRS=" ".join([*clean, str(Path(state_dir).parent)]),
    )


def binaries_step(spec: ClusterSpec, node: NodeSpec, label: str) -> StepScripts:
    """The Host's one binaries step: every artifact of the node in install order (each part skips
    itself when that version is installed already); delete removes them in reverse order."""
    wanted = node_artifacts(spec, node)
    return StepScripts(
        create=run_parts(label, [Part(a.name, install_script(spec, a)) for a in wanted]),
        delete=run_parts(label, [Part(a.name, remove_script(a)) for a in reversed(wanted)]),
    )
