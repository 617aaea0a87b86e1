"""The Pulumi program: read config, validate everything, then build the cluster."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import resource as sdk_resource

from components.cluster import Cluster
from components.cni import Fetcher, fetch_url
from components.stack_config import read_raw_config
from spec import load_spec


def tune_gc() -> None:
    """Evaluating a large stack makes hundreds of thousands of long-lived objects (resources,
    Outputs, their inputs) that the default GC thresholds rescan over and over (bench/README.md).
    Called by the entry point, and by the bench so that it measures the program as Pulumi runs it."""
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
    cluster.py <- program.py <- __main__.py). An SDK without the hook records what it records."""
    original = getattr(sdk_resource, "_get_stack_trace", None)
    if original is None or getattr(original, "trimmed", False):
        return

    def project_frames() -> Any:
        trace = original()
        kept = [f for f in trace.frames if f.HasField("pc") and ours(f.pc.uri, root)]
        return type(trace)(frames=kept)

    project_frames.trimmed = True  # type: ignore[attr-defined]
    sdk_resource._get_stack_trace = project_frames


def main(fetch: Fetcher = fetch_url, export: Callable[[str, Any], None] = pulumi.export) -> None:
    """The entry point's program; the mocks pass an offline `fetch` and an `export` that keeps
    what the stack exports."""
    raw, secret_keys = read_raw_config()
    # Raises SpecError listing every problem before a single resource is registered (a lab
    # stack's binaries come from its mirror, with the mirror's checksums: spec/binaries.py).
    spec, warnings = load_spec(raw, pulumi.get_stack(), secret_keys)
    for warning in warnings:
        pulumi.log.warn(str(warning))
    cluster = Cluster(spec.cluster_name, spec, fetch=fetch)
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
