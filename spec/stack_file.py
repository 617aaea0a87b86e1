"""A Pulumi.<stack>.yaml read as the program would see its config: the project's keys (without
their `k8s-from-scratch:` prefix) and the stack's name, for tools that run without Pulumi."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from spec import defaults as d


def read_stack_file(path: Path) -> tuple[dict[str, Any], str]:
    """(raw config of this project, stack name). Secret values stay `{secure: ...}` mappings."""
    doc = yaml.safe_load(path.read_text()) or {}
    raw = {
        key.partition(":")[2]: value
        for key, value in (doc.get("config") or {}).items()
        if key.partition(":")[0] == d.PROJECT
    }
    return raw, path.name.removeprefix("Pulumi.").removesuffix(".yaml")
