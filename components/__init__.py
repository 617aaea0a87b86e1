"""Thin ComponentResources that wire rendered content to hosts and the cluster."""

from __future__ import annotations

from typing import Any

import pulumi

TYPE_PREFIX = "k8s-from-scratch:index"


def type_token(name: str) -> str:
    return f"{TYPE_PREFIX}:{name}"


def inherited_depends_on(opts: pulumi.ResourceOptions | None) -> list[Any]:
    """A component's own depends_on, for its first children.

    The engine does not make a component's children wait for what the component depends on,
    so a component passes its depends_on to the children that start its work.
    """
    deps = opts.depends_on if opts is not None else None
    if deps is None:
        return []
    return list(deps) if isinstance(deps, list | tuple) else [deps]
