"""The text of the files in render/templates/, read once per process: every node renders the same
templates, and a 500-node stack would otherwise read them thousands of times."""

from __future__ import annotations

import functools
from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"


@functools.cache
def template(name: str) -> str:
    """render/templates/<name> (a relative path: "coredns/Corefile")."""
    return (TEMPLATES / name).read_text()
