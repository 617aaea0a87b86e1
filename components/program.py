"""The Pulumi program: read config, validate everything, then build the cluster."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import pulumi

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
