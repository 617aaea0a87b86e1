"""The typed stack spec: parse raw config, validate every rule, report all problems at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spec.binaries import with_binaries
from spec.model import ClusterSpec, NodeSpec, SecretStr
from spec.parse import parse
from spec.problems import Problem, SpecError
from spec.validate import validate

__all__ = ["ClusterSpec", "NodeSpec", "Problem", "SecretStr", "SpecError", "load_spec"]


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
