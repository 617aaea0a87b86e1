"""Reads the stack's raw configuration from the Pulumi runtime, as plain values for spec.parse."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from spec import defaults as d
from spec.parse import STRING_KEYS, decode_config_value
from spec.pool import OUTPUT as POOL_OUTPUT


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
        raw[key] = value if key in STRING_KEYS else decode_config_value(value)
        if runtime_config.is_config_secret(full_key):
            secret.add(key)
    return raw, frozenset(secret)


READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"  # the engine's own: what StackReference reads


def read_pool_output(stack: str) -> dict[str, Any]:
    """The `pool` output of the cluster stack `stack` (fully qualified), read now, while the
    program is evaluated (a StackReference's outputs would arrive later, as Outputs; the pool's
    spec is validated before any resource is registered). LookupError: why there is none."""
    try:
        result = pulumi.runtime.invoke(READ_STACK_OUTPUTS, {"name": stack})
    except Exception as err:  # the engine's error, whatever it is, is the user's answer
        raise LookupError(f"stack {stack} cannot be read: {err}") from err
    outputs = (result.value or {}).get("outputs") or {}
    pool = whole_numbers(outputs.get(POOL_OUTPUT))
    if not isinstance(pool, dict) or not isinstance(pool.get("settings"), dict):
        raise LookupError(
            f"stack {stack} has no `{POOL_OUTPUT}` output: name a cluster stack, brought up by a"
            " version that has node pools"
        )
    return pool


def whole_numbers(value: Any) -> Any:
    """`value` with its integral floats as ints: the engine hands stack outputs over as protobuf
    Structs, whose every number is a double (a configured `0` arrives as 0.0, which the spec's
    integer keys refuse)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_numbers(v) for v in value]
    return value
