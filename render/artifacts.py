"""Pinned binary artifacts: which a node needs, where they come from, their checksums, how they install.

URLs follow upstream's release layout (spec/checksums.py names each pattern and its source); with
`binaries.baseUrl` every artifact comes from `<baseUrl>/<artifact>/<version>/<filename>` instead.
Which artifacts a node needs and their checksums are spec facts (spec/binaries.py): load_spec has
refused a spec in which some needed artifact has no checksum.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from render.common import BIN_DIR, SBIN_DIR, STATE_ROOT
from render.script_parts import Part, StepScripts, run_parts
from render.scripts import script
from spec import binaries
from spec.binaries import node_kubernetes_version as node_kubernetes_version  # render/kubelet.py's
from spec.binaries import node_pins
from spec.model import ClusterSpec, NodeSpec

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


@dataclass(frozen=True)
class _Recipe:
    """How upstream publishes one artifact. Patterns take {version}, {arch}, {filename} and, in
    `source`/`dest`, {binary}: one Member per binary (the Kubernetes tarballs' depend on the node)."""

    filename: str
    url: str
    kind: str
    source: str
    dest: str
    binaries: tuple[str, ...] = ("",)


_GITHUB = "https://github.com/{}/releases/download/v{{version}}/{{filename}}"
_RECIPES = {
    "kubernetes-server": _Recipe(
        "kubernetes-server-linux-{arch}.tar.gz",
        "https://dl.k8s.io/v{version}/{filename}",
        "tar",
        "kubernetes/server/bin/{binary}",
        f"{BIN_DIR}/{{binary}}",
    ),
    "kubernetes-node": _Recipe(
        "kubernetes-node-linux-{arch}.tar.gz",
        "https://dl.k8s.io/v{version}/{filename}",
        "tar",
        "kubernetes/node/bin/{binary}",
        f"{BIN_DIR}/{{binary}}",
    ),
    "etcd": _Recipe(
        "etcd-v{version}-linux-{arch}.tar.gz",
        _GITHUB.format("etcd-io/etcd"),
        "tar",
        "etcd-v{version}-linux-{arch}/{binary}",
        f"{BIN_DIR}/{{binary}}",
        ("etcd", "etcdctl", "etcdutl"),
    ),
    "containerd": _Recipe(
        "containerd-{version}-linux-{arch}.tar.gz",
        _GITHUB.format("containerd/containerd"),
        "tar",
        "bin/{binary}",
        f"{BIN_DIR}/{{binary}}",
        ("containerd", "containerd-shim-runc-v2", "ctr"),
    ),
    "runc": _Recipe("runc.{arch}", _GITHUB.format("opencontainers/runc"), "binary", ".", f"{SBIN_DIR}/runc"),
    # File by file: CNIs (flannel, calico, ...) drop their own plugins into the same dir.
    "cni-plugins": _Recipe(
        "cni-plugins-linux-{arch}-v{version}.tgz",
        _GITHUB.format("containernetworking/plugins"),
        "tar",
        "./*",
        CNI_BIN_DIR,
    ),
    "crictl": _Recipe(
        "crictl-v{version}-linux-{arch}.tar.gz",
        _GITHUB.format("kubernetes-sigs/cri-tools"),
        "tar",
        "crictl",
        f"{BIN_DIR}/crictl",
    ),
    "crio": _Recipe(
        "cri-o.{arch}.v{version}.tar.gz",
        "https://storage.googleapis.com/cri-o/artifacts/{filename}",
        "tree",
        "cri-o",
        CRIO_DIR,
    ),
    # Kata's release tags have no leading "v".
    "kata": _Recipe(
        "kata-static-{version}-{arch}.tar.xz",
        "https://github.com/kata-containers/kata-containers/releases/download/{version}/{filename}",
        "tree",
        "opt/kata",
        KATA_DIR,
    ),
}


def artifact(name: str, version: str, arch: str, binaries: tuple[str, ...] | None = None) -> Artifact:
    """The download `name` at `version` for `arch`; `binaries` picks a Kubernetes tarball's members."""
    recipe = _RECIPES[name]
    filename = recipe.filename.format(version=version, arch=arch)
    fill = {"version": version, "arch": arch, "filename": filename}
    return Artifact(
        name=name,
        version=version,
        arch=arch,
        filename=filename,
        upstream_url=recipe.url.format(**fill),
        kind=recipe.kind,
        members=tuple(
            Member(recipe.source.format(binary=b, **fill), recipe.dest.format(binary=b))
            for b in (recipe.binaries if binaries is None else binaries)
        ),
    )


def node_artifacts(spec: ClusterSpec, node: NodeSpec) -> tuple[Artifact, ...]:
    """Every artifact a node needs for its roles, in install order."""
    return tuple(
        artifact(p.name, p.version, p.arch, _tarball_binaries(spec, p.name)) for p in node_pins(spec, node)
    )


def _tarball_binaries(spec: ClusterSpec, name: str) -> tuple[str, ...] | None:
    """What a node takes out of its Kubernetes tarball (None for the other artifacts)."""
    node = tuple(b for b in NODE_BINARIES if b != "kube-proxy" or spec.kube_proxy.enabled)
    return {"kubernetes-server": CONTROL_PLANE_BINARIES + node, "kubernetes-node": node}.get(name)


def checksum(spec: ClusterSpec, artifact: Artifact) -> str | None:
    """ "sha256:<hex>" / "sha512:<hex>": the stack's override first, then the pinned table."""
    return binaries.checksum(spec, artifact.key)


def install_script(
    spec: ClusterSpec, artifact: Artifact, cache_dir: str = CACHE_DIR, state_dir: str = STATE_DIR
) -> str:
    """Idempotent download + verify + atomic install; skips everything when already installed."""
    sums = checksum(spec, artifact)
    if sums is None:  # load_spec refuses such a spec: this artifact is not one of its nodes'
        raise LookupError(f"no checksum for {artifact.key}")
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
