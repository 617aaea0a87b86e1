"""Golden files under tests/golden/: rendered text compared byte for byte.

UPDATE_GOLDEN=1 rewrites them from the current rendering; review the diff before committing."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def assert_golden(path: Path, text: str) -> None:
    """`text` is what the golden file at `path` holds (written first under UPDATE_GOLDEN=1)."""
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 and review it"
    want = path.read_text()
    diff = "".join(difflib.unified_diff(want.splitlines(True), text.splitlines(True), "golden", "now"))
    assert text == want, f"{path} changed: review, then regenerate with UPDATE_GOLDEN=1\n{diff}"
