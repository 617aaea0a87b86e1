"""A worker's host parts, in order, as data: what its NodeHost applies (components/node_host.py).

The same texts the classic steps run (components/host.py, runtime.py, worker_node.py), from
the same render functions. Three contents are not the program's to know: the cluster CA (Pki's
output), kube-proxy's kubeconfig (a secret, copied from a control-plane host by the provider) and
the bootstrap kubeconfig (a token the provider makes when the node has not joined). The program
renders with their sha256 only (`Contents` without texts), the provider with the texts: each
part's `identity` is the same either way, so the program's inputs (the identities) say which
part of which host a preview changes, and the provider checks that it renders what the program
did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from render import artifacts, host_prep
from render import kube_proxy as kp
from render import kubelet as kl
from render import runtime as rt
from render.host_files import FileMeta, encode_bundle, sha256
from render.script_parts import Part, StepScripts
from render.service_step import create_text, delete_text, digest, restart_hash
from spec.model import ClusterSpec, NodeSpec

PARTS = ("prepare", "binaries", "runtime", "kubelet", "kube-proxy")
# What a transient file's digest is written as in a part's identity: a new token is no change.
TRANSIENT = "-"


@dataclass(frozen=True)
class Contents:
    """The texts the program does not render: each as its sha256, and the text where known."""

    ca_sha256: str
    kube_proxy_sha256: str | None  # None: kube-proxy disabled
    ca: str | None = None
    kube_proxy: str | None = None
    bootstrap: str | None = None  # the bootstrap kubeconfig; None: the node has joined


@dataclass(frozen=True)
class NodeFile:
    meta: FileMeta
    sha256: str
    content: str | None  # None where only the hash is known
    transient: bool = False  # consumed on the host: not guarded, not in the restart hash


@dataclass(frozen=True)
class HostPart:
    name: str
    create: str
    delete: str
    identity: str  # sha256 of what the part does: its texts, with transient files' digests blanked
    files: tuple[NodeFile, ...] = ()
    unit: str | None = None  # the service it runs
    stdin: str | None = None  # for parts without files (prepare's own bundle)

    def bundle(self) -> str | None:
        """The part's stdin: its own, or its files' bundle (every content must be known)."""
        if self.stdin is not None or not self.files:
            return self.stdin
        missing = [f.meta.path for f in self.files if f.content is None]
        if missing:
            raise ValueError(f"{self.name}: contents not known for {missing}")
        return encode_bundle([(f.meta, f.content) for f in self.files if f.content is not None])

    def guarded(self) -> list[NodeFile]:
        return [f for f in self.files if not f.transient]


def label(name: str, part: str) -> str:
    return f"{name}-{part}"


def _identity(*texts: str | None) -> str:
    return digest("\x00".join(t or "" for t in texts))


def _step_part(name: str, step: StepScripts, files: tuple[NodeFile, ...] = ()) -> HostPart:
    """A step rendered whole; `files` are what its own stdin installs (guarded)."""
    identity = _identity(step.create, step.delete, step.stdin)
    return HostPart(name, step.create, step.delete, identity, files, stdin=step.stdin)


def _plain(meta: FileMeta, text: str) -> NodeFile:
    return NodeFile(meta, sha256(text), text)


def _given(meta: FileMeta, sha: str, text: str | None, transient: bool = False) -> NodeFile:
    if text is not None and sha256(text) != sha:
        raise ValueError(f"{meta.path}: the content does not have the sha256 the program rendered")
    return NodeFile(meta, sha, text, transient)


@dataclass(frozen=True)
class _Service:
    part: str
    unit: str
    files: tuple[NodeFile, ...]
    service: Callable[[str], str]
    stop: str
    dirs: tuple[str, ...]
    before: tuple[Part, ...] = ()


def _service_part(name: str, s: _Service) -> HostPart:
    step = label(name, s.part)
    # A transient file with no text (a joined node gets no token) is not installed at all.
    present = tuple(f for f in s.files if not (f.transient and f.sha256 == TRANSIENT))
    kept = [(f.meta, f.sha256) for f in s.files if not f.transient]
    create = create_text(step, [(f.meta, f.sha256) for f in present], s.service, restart_hash(kept), s.before)
    blanked = [(f.meta, TRANSIENT if f.transient else f.sha256) for f in s.files]
    shown = create_text(step, blanked, s.service, restart_hash(kept), s.before)
    delete = delete_text(step, [f.meta for f in s.files], s.stop, s.dirs)
    return HostPart(s.part, create, delete, _identity(shown, delete), present, s.unit)


def node_parts(spec: ClusterSpec, node: NodeSpec, name: str, contents: Contents) -> list[HostPart]:
    """`node`'s parts (a worker that runs no control-plane or etcd service), `name` the
    NodeHost's: the step labels are `{name}-{part}`."""
    if node.is_etcd or node.is_control_plane or not node.runs_kubelet:
        raise ValueError(f"node {node.name} is not a worker-only node")
    kernel = tuple(_plain(m, t) for m, t in host_prep.kernel_files(spec, node))
    parts = [
        _step_part("prepare", host_prep.prepare_step(spec, node, label(name, "prepare")), kernel),
        _step_part("binaries", artifacts.binaries_step(spec, node, label(name, "binaries"))),
    ]
    runtime_files = tuple(_plain(f.meta, f.content) for f in rt.runtime_files(spec))
    info = rt.runtime_info(spec)
    kubelet_files = (
        *(_plain(m, t) for m, t in kl.kubelet_static_files(spec, node)),
        _given(kl.CLIENT_CA_META, contents.ca_sha256, contents.ca),
        _given(
            kl.BOOTSTRAP_META,
            sha256(contents.bootstrap) if contents.bootstrap else TRANSIENT,
            contents.bootstrap,
            transient=True,
        ),
    )
    kubelet_paths = [f.meta.path for f in kubelet_files if not f.transient]
    services = [
        _Service(
            "runtime",
            info.unit,
            runtime_files,
            lambda h: rt.service_script(spec, h, [f.meta.path for f in runtime_files]),
            rt.stop_script(spec),
            rt.runtime_dirs(spec),
            (Part("preflight", rt.preflight_script(spec, node.name)),),
        ),
        _Service(
            "kubelet",
            kl.UNIT,
            kubelet_files,
            lambda h: kl.service_script(spec, node, h, kubelet_paths),
            kl.stop_script(),
            (kl.DROP_IN_DIR, kl.KUBELET_DIR, "/etc/kubernetes"),
        ),
    ]
    if spec.kube_proxy.enabled:
        if contents.kube_proxy_sha256 is None:
            raise ValueError("kube-proxy is enabled: its kubeconfig's sha256 is needed")
        proxy_files = (
            *(_plain(m, t) for m, t in kp.static_files(spec, node)),
            _given(kp.KUBECONFIG_META, contents.kube_proxy_sha256, contents.kube_proxy),
        )
        services.append(
            _Service(
                "kube-proxy",
                kp.UNIT,
                proxy_files,
                lambda h: kp.service_script(node, h, [f.meta.path for f in proxy_files]),
                kp.stop_script(),
                (kp.PROXY_DIR, "/etc/kubernetes"),
            )
        )
    return parts + [_service_part(name, s) for s in services]


def identities(parts: list[HostPart]) -> list[str]:
    """The NodeHost's `parts` input: `name:sha256` of each part, in order."""
    return [f"{p.name}:{p.identity}" for p in parts]
