"""The Pulumi program: read config, validate everything, then build the cluster."""

from __future__ import annotations

import functools
import gc
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pulumi
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime.proto import source_pb2

from components.cluster import Cluster
from components.cni import Fetcher, fetch_url
from components.node_pool import ClusterAccess, NodePool
from components.sdk_runtime import gather_outstanding_outputs, quiet_sdk_debug
from components.stack_config import read_pool_output, read_raw_config
from render import node_pool as np
from spec import load_pool_spec, load_spec
from spec.pool import DIY_ORGANIZATION, cluster_settings, stack_reference
from spec.pool import OUTPUT as POOL_OUTPUT


def tune_runtime() -> None:
    """Everything the entry point sets up before the program runs; the bench's mocks figure
    measures the program with it too."""
    tune_gc()
    trim_stack_traces()
    quiet_sdk_debug()
    gather_outstanding_outputs()


def tune_gc() -> None:
    """Evaluating a large stack makes hundreds of thousands of long-lived objects (resources,
    Outputs, their inputs) that the default GC thresholds rescan over and over (bench/README.md).
    Called by the entry point (`tune_runtime`)."""
    gc.freeze()  # what the imports made is never garbage
    gc.set_threshold(100_000, 20, 100)


REPO = Path(__file__).resolve().parents[1]


def ours(uri: str, root: Path = REPO) -> bool:
    """A source position (a file:// URI) in this program's own code: under `root`, not in an
    installed package (the venv lives in the project folder)."""
    if not uri.startswith("file://"):
        return False
    path = Path(uri.removeprefix("file://"))
    return path.is_relative_to(root) and "site-packages" not in path.parts


def trim_stack_traces(root: Path = REPO) -> None:
    """Every registration carries the Python stack that made it (the engine keeps it in the state,
    `stackTrace`): about 17 frames, two thirds of them the SDK's, asyncio's and the language
    host's, 1.4 kB a resource, serialized again with the whole state on every step. Only the
    frames in this program's code are kept: the first is still the one the resource's
    `sourcePosition` names, and the rest show the way there (steps.py <- worker_node.py <-
    cluster.py <- program.py <- __main__.py). They are read from the interpreter's frames, past
    the same three constructors the SDK's own hook skips: that hook formats every frame of the
    stack, half a millisecond a resource. An SDK without the hook records what it records."""
    current = getattr(sdk_resource, "_get_stack_trace", None)
    if current is None or getattr(current, "trimmed", False):
        return

    @functools.cache
    def project_uri(filename: str) -> str | None:
        try:
            uri = Path(filename).as_uri()
        except ValueError:  # a relative or empty name: the SDK gives such a frame no position
            return None
        return uri if ours(uri, root) else None

    def project_frames() -> source_pb2.StackTrace:
        frame: FrameType | None = sys._getframe(1)
        constructors = 0  # Resource's, CustomResource's (or ComponentResource's), the class's
        while frame is not None and constructors < 3:
            constructors += frame.f_code.co_name == "__init__"
            frame = frame.f_back
        kept = []
        while frame is not None:
            uri = project_uri(frame.f_code.co_filename)
            if uri is not None:
                kept.append(source_pb2.StackFrame(pc=source_pb2.SourcePosition(uri=uri, line=frame.f_lineno)))
            frame = frame.f_back
        return source_pb2.StackTrace(frames=kept)

    project_frames.trimmed = True  # type: ignore[attr-defined]
    sdk_resource._get_stack_trace = project_frames


def main(
    fetch: Fetcher = fetch_url,
    export: Callable[[str, Any], None] = pulumi.export,
    read_cluster: Callable[[str], dict[str, Any]] = read_pool_output,
) -> None:
    """The entry point's program; the mocks pass an offline `fetch`, an `export` that keeps
    what the stack exports and, for a pool stack, what its cluster stack's `pool` output holds."""
    raw, secret_keys = read_raw_config()
    if "pool" in raw:
        node_pool(raw, secret_keys, export, read_cluster)
        return
    # Raises SpecError listing every problem before a single resource is registered (a lab
    # stack's binaries come from its mirror, with the mirror's checksums: spec/binaries.py).
    spec, warnings = load_spec(raw, pulumi.get_stack(), secret_keys)
    for warning in warnings:
        pulumi.log.warn(str(warning))
    cluster = Cluster(spec.cluster_name, spec, raw, fetch=fetch)
    export("clusterName", spec.cluster_name)
    export("kubernetesVersion", spec.kubernetes_version)
    export("apiEndpoint", spec.api_endpoint.url)
    export("nodes", cluster.node_names)
    export("adminKubeconfig", cluster.pki.admin_kubeconfig)  # secret
    export("certificateExpiries", cluster.pki.expiries)
    # Per image, whether its registry holds it (render/image_check.py), as the check printed it.
    export("images", cluster.image_check.stdout.apply(lambda out: out.strip().splitlines()))
    if cluster.cni.notice:
        export("cniNotice", cluster.cni.notice)
    # What node pool stacks read (spec/pool.py): secret, it holds kube-proxy's and an admin's keys.
    settings = cluster_settings(spec, raw)
    pki = cluster.pki
    shared = pulumi.Output.all(pki.ca.cert_pem, pki.kube_proxy_kubeconfig, pki.admin_kubeconfig)
    export(POOL_OUTPUT, pulumi.Output.secret(shared.apply(lambda v: np.pool_output(settings, *v))))


def node_pool(
    raw: dict[str, Any],
    secret_keys: frozenset[str],
    export: Callable[[str, Any], None],
    read_cluster: Callable[[str], dict[str, Any]],
) -> None:
    """A pool stack: its workers, joined to the cluster its `pool.cluster` names."""
    cluster: dict[str, Any] = {}

    def settings(name: str) -> dict[str, Any]:
        organization = pulumi.get_organization() or DIY_ORGANIZATION
        cluster.update(read_cluster(stack_reference(name, organization, pulumi.get_project())))
        found: dict[str, Any] = cluster["settings"]
        return found

    spec, pool, warnings = load_pool_spec(raw, pulumi.get_stack(), secret_keys, settings)
    for warning in warnings:
        pulumi.log.warn(str(warning))
    access = ClusterAccess(
        cluster["caCert"],
        pulumi.Output.secret(cluster["kubeProxyKubeconfig"]),
        pulumi.Output.secret(cluster["adminKubeconfig"]),
    )
    NodePool(f"{spec.cluster_name}-pool", spec, pool, access)
    export("cluster", pool.cluster)
    export("clusterName", spec.cluster_name)
    export("nodes", [n.name for n in pool.members])
