"""Documentation that is generated must be current."""

from __future__ import annotations

from pathlib import Path

from scripts.config_reference import render

REPO = Path(__file__).resolve().parents[1]


def test_configuration_reference_is_current() -> None:
    current = (REPO / "docs" / "configuration.md").read_text()
    assert current == render(), "run: .venv/bin/python scripts/config_reference.py"


def test_every_top_level_key_is_documented() -> None:
    from spec.parse import TOP_LEVEL_KEYS

    text = (REPO / "docs" / "configuration.md").read_text()
    for key in TOP_LEVEL_KEYS:
        assert f"`{key}" in text, key
