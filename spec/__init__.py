"""The typed stack spec: parse raw config, validate every rule, report all problems at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spec.binaries import with_binaries
from spec.model import ClusterSpec, NodeSpec, SecretStr
from spec.parse import parse
from spec.pool import (
    PoolSpec,
    SettingsReader,
    check_pool_keys,
    cluster_problem,
    node_field,
    node_index,
    pool_raw,
)
from spec.problems import Problem, Problems, SpecError
from spec.validate import validate

__all__ = [
    "ClusterSpec",
    "NodeSpec",
    "PoolSpec",
    "Problem",
    "SecretStr",
    "SpecError",
    "load_pool_spec",
    "load_spec",
]


def load_spec(
    raw: Mapping[str, Any], stack: str, secret_keys: frozenset[str] = frozenset()
) -> tuple[ClusterSpec, list[Problem]]:
    """The complete spec (a lab stack's binaries wired to its mirror, every download with a
    checksum) and the warnings; or SpecError listing every error, each with its config path.
    Nothing after load_spec refuses a spec: components just use it."""
    spec, problems = parse(raw, stack, secret_keys)
    validate(spec, problems)
    spec = with_binaries(spec, problems)
    if problems.errors:
        raise SpecError(problems.items)
    return spec, problems.warnings


def load_pool_spec(
    raw: Mapping[str, Any], stack: str, secret_keys: frozenset[str], read_settings: SettingsReader
) -> tuple[ClusterSpec, PoolSpec, list[Problem]]:
    """A pool stack's spec (spec/pool.py): the settings `read_settings(pool.cluster)` returns
    (LookupError: why the cluster stack has none) with the pool's nodes; or SpecError listing
    every error, the cluster's own named as such."""
    problems = Problems()
    cluster = check_pool_keys(raw, problems)
    settings = None
    if cluster is not None:
        try:
            settings = read_settings(cluster)
        except LookupError as err:
            problems.error("pool.cluster", cluster, str(err), "run `pulumi up` in the cluster stack first")
    if problems.errors or settings is None or cluster is None:
        raise SpecError(problems.items)
    merged = Problems()
    spec, _ = parse(pool_raw(raw, settings), stack, secret_keys, merged)
    validate(spec, merged)
    spec = with_binaries(spec, merged)
    own = len(raw["nodes"])

    def on_pool_node(p: Problem) -> bool | None:
        index = node_index(p.path)
        return None if index is None else index < own

    mine = {(node_field(p.path), p.message) for p in merged.items if on_pool_node(p)}
    for p in merged.items:
        if on_pool_node(p) is False and (node_field(p.path), p.message) in mine:
            continue  # the other side of a clash already named on the pool's node
        problems.items.append(cluster_problem(p, own, settings, cluster))
    if problems.errors:
        raise SpecError(problems.items)
    return spec, PoolSpec(cluster, spec.nodes[:own]), problems.warnings
