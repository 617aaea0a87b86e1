"""Writes docs/configuration.md from spec.defaults.KEYS: every key the parser reads, its default
and what it accepts (the parser takes its defaults from the same table)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spec.defaults import KEYS, Key  # noqa: E402


def _shown(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _default(key: Key) -> str:
    if key.shown is not None:
        return key.shown
    return "-" if key.default in (None, "") else f"`{_shown(key.default)}`"


def _accepted(key: Key) -> str:
    parts = [", ".join(f"`{_shown(c)}`" for c in key.choices)] if key.choices else []
    if key.minimum is not None or key.maximum is not None:
        low = "" if key.minimum is None else str(key.minimum)
        high = "" if key.maximum is None else str(key.maximum)
        parts.append(f"{low}-{high}" if low and high else f"at least {low}" if low else f"at most {high}")
    if isinstance(key.default, bool) and not parts:
        parts.append("true/false")
    if key.accepted:
        parts.append(key.accepted)
    return "; ".join(parts)


def row(path: str) -> str:
    """A key's line in the table; the docs test looks keys up by it."""
    key = KEYS[path]
    return f"| `{path}` | {_default(key)} | {_accepted(key)} |"


def render() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Generated from `spec/defaults.py` (`KEYS`) by `scripts/config_reference.py`; do not edit by hand.",
        "Keys live under the `k8s-from-scratch:` namespace; nested keys are set with",
        "`pulumi config set --path`; `nodes[]` is each node. Every rule is checked before any host is",
        "touched.",
        "",
        "| key | default | accepted |",
        "|---|---|---|",
        *(row(path) for path in KEYS),
        "",
    ]
    return "\n".join(lines)


def undocumented(paths: set[str], text: str) -> list[str]:
    """The key paths that have no row in `text`."""
    return sorted(p for p in paths if f"| `{p}` |" not in text)


if __name__ == "__main__":
    (REPO / "docs" / "configuration.md").write_text(render())
