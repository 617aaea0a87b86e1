"""Reads the stack's raw configuration from the Pulumi runtime, as plain values for spec.parse."""

from __future__ import annotations

import json
from typing import Any

from pulumi.runtime import config as runtime_config

from spec import defaults as d
from spec.parse import STRING_KEYS


def _all_config() -> dict[str, Any]:
    merged: dict[str, Any] = dict(runtime_config.get_config_env())
    merged.update(runtime_config.CONFIG.get())
    return merged


def read_raw_config(project: str = d.PROJECT) -> tuple[dict[str, Any], frozenset[str]]:
    """Returns {key: value} for every `<project>:key`, and which of those keys are secret."""
    prefix = f"{project}:"
    raw: dict[str, Any] = {}
    secret: set[str] = set()
    for full_key, value in _all_config().items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix) :]
        raw[key] = value if key in STRING_KEYS else _decode(value)
        if runtime_config.is_config_secret(full_key):
            secret.add(key)
    return raw, frozenset(secret)


def _decode(value: Any) -> Any:
    """Objects and lists arrive JSON-encoded; scalars as their text."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value
