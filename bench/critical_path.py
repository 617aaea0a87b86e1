"""The longest chain of host steps the engine must run one after another.

Every remote.Command and every NodeHost is one sequential step on some host; other resources (certificates,
Kubernetes objects, providers, components, the lab's local commands) cost no host step but do
order them (a worker's kubelet waits for the bootstrap token Secret, which waits for the API
servers through the Kubernetes provider). So: the longest path over the whole dependency graph,
counting only remote commands, ending at a chosen step (a worker node's last one: registered,
serving a cluster certificate).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from graphlib import TopologicalSorter
from typing import Protocol

HOST_STEP = "command:remote:Command"
# A worker-only node's NodeHost runs all of its host's work as one step (components/node_host.py).
NODE_HOST = "pulumi-python:dynamic/k8sfs:NodeHost"
HOST_STEPS = (HOST_STEP, NODE_HOST)


class Recorded(Protocol):
    type: str
    name: str

    @property
    def urn(self) -> str: ...

    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    provider: str  # "<provider urn>::<id>" or ""


def _deps(r: Recorded, known: set[str]) -> set[str]:
    urns = set(r.dependencies)
    if r.provider:  # the engine creates a resource only once its (explicit) provider exists
        urns.add(r.provider.rsplit("::", 1)[0])
    for group in r.property_dependencies.values():
        urns.update(group)
    return {u for u in urns if u in known and u != r.urn}


def critical_path(registrations: Iterable[Recorded], end: Callable[[Recorded], bool]) -> list[str]:
    """Names of the host steps on the longest chain ending at a resource for which `end` holds.

    Ties go to the chain met first in registration order, so the answer is stable."""
    regs = list(registrations)
    by_urn = {r.urn: r for r in regs}
    known = set(by_urn)
    deps = {r.urn: _deps(r, known) for r in regs}
    order = {r.urn: i for i, r in enumerate(regs)}
    # best[urn]: (steps, chain of step urns) of the longest chain ending at urn, urn included.
    best: dict[str, tuple[int, list[str]]] = {}
    for urn in TopologicalSorter(deps).static_order():
        r = by_urn[urn]
        prior = max(
            (best[d] for d in sorted(deps[urn], key=order.__getitem__)),
            key=lambda b: b[0],
            default=(0, []),
        )
        if r.type in HOST_STEPS:
            best[urn] = (prior[0] + 1, [*prior[1], urn])
        else:
            best[urn] = prior
    ends = [r for r in regs if end(r)]
    if not ends:
        return []
    longest = max(ends, key=lambda r: best[r.urn][0])
    return [by_urn[u].name for u in best[longest.urn][1]]
