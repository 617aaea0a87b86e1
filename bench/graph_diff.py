"""Which resources' inputs differ between two recorded graphs of the program.

A resource is keyed by its URN (type + parent chain + name): the engine diffs exactly those
pairs, and a changed input is an update (or a replacement) on `pulumi up`. Inputs are compared
as canonical JSON: key order inside maps does not count (the engine compares maps by key), list
order does (a reordered list is a change the engine shows). Mock-made random material (keys,
certificates, tokens) must come from the memoising mocks (mockrun/mocks.py MEMO_ENABLED), so
that a difference is always one of OUR program's inputs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol


class Recorded(Protocol):
    """What the diff reads of a mockrun.recorder.Registration."""

    type: str
    name: str

    @property
    def urn(self) -> str: ...

    inputs: dict[str, Any]


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def owned_by(name: str, node: str) -> bool:
    """Is this resource one of `node`'s own (its name carries the node name as a dash-separated part)?"""
    return re.search(rf"(^|-){re.escape(node)}(-|$)", name) is not None


@dataclass
class GraphDiff:
    changed: list[str] = field(default_factory=list)  # names of resources whose inputs differ
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.changed) + len(self.added) + len(self.removed)


def diff_urns(before: Iterable[Recorded], after: Iterable[Recorded]) -> tuple[set[str], set[str], set[str]]:
    """(changed, added, removed) URNs: what the engine would update, create and delete."""
    old = {r.urn: r for r in before}
    new = {r.urn: r for r in after}
    changed = {u for u in new.keys() & old.keys() if canonical(new[u].inputs) != canonical(old[u].inputs)}
    return changed, new.keys() - old.keys(), old.keys() - new.keys()


def diff_graphs(before: Iterable[Recorded], after: Iterable[Recorded]) -> GraphDiff:
    before, after = list(before), list(after)
    changed, added, removed = diff_urns(before, after)
    names = {r.urn: r.name for r in [*before, *after]}
    return GraphDiff(
        changed=sorted(names[u] for u in changed),
        added=sorted(names[u] for u in added),
        removed=sorted(names[u] for u in removed),
    )


def blast_radius(before: Iterable[Recorded], after: Iterable[Recorded], node: str) -> dict[str, Any]:
    """What a change of `node` alone does to everything that is not `node`'s own."""
    diff = diff_graphs(before, after)
    foreign = {
        "changed": [n for n in diff.changed if not owned_by(n, node)],
        "added": [n for n in diff.added if not owned_by(n, node)],
        "removed": [n for n in diff.removed if not owned_by(n, node)],
    }
    return {
        "count": sum(len(v) for v in foreign.values()),
        **foreign,
        "own": {
            "changed": len([n for n in diff.changed if owned_by(n, node)]),
            "added": len([n for n in diff.added if owned_by(n, node)]),
            "removed": len([n for n in diff.removed if owned_by(n, node)]),
        },
    }
