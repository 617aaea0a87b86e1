"""Assertions over a Graph recorded under the mocks."""

from __future__ import annotations

from collections.abc import Iterable

from mockrun.program import Graph
from mockrun.recorder import Registration


def assert_after(graph: Graph, later: Registration, names: Iterable[str]) -> None:
    """`later` depends on each resource named (it is created after them)."""
    for name in names:
        assert graph.named(name).urn in later.dependencies, name
