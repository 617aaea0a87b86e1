"""Move a stack made before NodeHosts to one NodeHost per worker-only node, touching no host.

    python -m scripts.migrate_node_hosts [--stack NAME] [--dry-run]

Before, a worker-only node was 15 resources: its Host, Runtime and WorkerNode components and
their steps, its DriftGuard, its token (issued, value, Secret), its allow list and its join
step. Now it is one NodeHost (components/node_host.py). A plain `pulumi up` would create the
NodeHosts and then delete the old resources, and their deletes would stop kubelet, kube-proxy
and the runtime and remove what the NodeHost had just checked. So this removes the old resources
from the state only (`pulumi stack export`, the resources and every reference to them dropped,
`pulumi stack import`), and the next `pulumi up` creates each NodeHost, which finds its host as
it wants it: it writes nothing that is already there, restarts nothing, and makes no token for a
node that has joined. The old token Secret stays in the API, inert once expired; the allow list
is the NodeHost's (same name), removed when the node leaves.

`pulumi` must be on PATH with the stack's backend and passphrase in the environment, run from the
project folder. Run it once, with the new program checked out, before its first `pulumi up`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

TYPE = "k8s-from-scratch:index:"


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def worker_only_nodes(resources: Sequence[dict[str, Any]]) -> tuple[str, list[str]]:
    """(the cluster's name, its nodes that have a Host but neither an etcd member nor a control
    plane): the nodes that become NodeHosts."""
    cluster = next((_name(r["urn"]) for r in resources if r["type"] == f"{TYPE}Cluster"), None)
    if cluster is None:
        raise ValueError("no Cluster in this state: is it a stack of this project?")
    hosts = [
        _name(r["urn"]).removeprefix(f"{cluster}-host-") for r in resources if r["type"] == f"{TYPE}Host"
    ]
    roles = {
        _name(r["urn"]).removeprefix(prefix)
        for r in resources
        for kind, prefix in (("EtcdMember", f"{cluster}-etcd-"), ("ControlPlane", f"{cluster}-cp-"))
        if r["type"] == f"{TYPE}{kind}"
    }
    return cluster, [h for h in hosts if h not in roles]


def classic_names(cluster: str, node: str) -> set[str]:
    """The names of a worker-only node's resources before NodeHosts."""
    c, n = cluster, node
    return {
        f"{c}-host-{n}",
        f"{c}-host-{n}-lib",
        f"{c}-host-{n}-prepare",
        f"{c}-host-{n}-binaries",
        f"{c}-{n}-runtime",
        f"{c}-{n}-runtime-service",
        f"{c}-{n}-node",
        f"{c}-{n}-node-kubelet",
        f"{c}-{n}-node-kube-proxy",
        f"{c}-{n}-drift-guard",
        f"{c}-bootstrap-{n}-token-issued",
        f"{c}-bootstrap-{n}-token-value",
        f"{c}-bootstrap-{n}-token",
        f"{c}-join-{n}-allow",
        f"{c}-join-{n}-serving",
    }


def migrated(deployment: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The deployment without the old resources of its worker-only nodes (nor any reference to
    them), and their names."""
    resources: list[dict[str, Any]] = deployment.get("resources") or []
    if deployment.get("pending_operations"):
        raise ValueError("the state has pending operations: run `pulumi cancel` and `pulumi refresh` first")
    cluster, nodes = worker_only_nodes(resources)
    names = set().union(*(classic_names(cluster, n) for n in nodes)) if nodes else set()
    gone = {
        r["urn"] for r in resources if _name(r["urn"]) in names and r["type"] != "pulumi:providers:kubernetes"
    }
    kept = []
    for r in resources:
        if r["urn"] in gone:
            continue
        if r.get("parent") in gone:
            raise ValueError(f"{r['urn']} is a child of a resource being removed: not a state this knows")
        r = dict(r)
        if r.get("dependencies"):
            r["dependencies"] = [d for d in r["dependencies"] if d not in gone]
        if r.get("propertyDependencies"):
            r["propertyDependencies"] = {
                k: [d for d in v if d not in gone] for k, v in r["propertyDependencies"].items()
            }
        kept.append(r)
    return {**deployment, "resources": kept}, sorted(_name(u) for u in gone)


def _pulumi(*args: str, stack: list[str], stdin: str | None = None) -> str:
    done = subprocess.run(["pulumi", *args, *stack], input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"pulumi {' '.join(args)} failed:\n{done.stderr.strip()}")
    return done.stdout


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", help="the stack (default: the selected one)")
    parser.add_argument("--dry-run", action="store_true", help="only print what would be removed")
    args = parser.parse_args(argv)
    stack = ["--stack", args.stack] if args.stack else []
    exported = json.loads(_pulumi("stack", "export", stack=stack))  # secrets stay encrypted
    deployment, removed = migrated(exported["deployment"])
    if not removed:
        print("no worker-only node with the old resources: nothing to migrate")
        return 0
    print(f"removing {len(removed)} resources from the state (no host is touched):")
    for name in removed:
        print(f"  {name}")
    if args.dry_run:
        return 0
    with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
        json.dump({**exported, "deployment": deployment}, handle)
        handle.flush()
        _pulumi("stack", "import", "--file", handle.name, stack=stack)
    print("done: `pulumi up` now creates each worker's NodeHost, which adopts its host as it is")
    return 0


if __name__ == "__main__":
    sys.exit(main())
