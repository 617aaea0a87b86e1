"""Typed reads from raw (JSON-like) config with path tracking; every misfit becomes a Problem."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from spec.problems import Problems

_MISSING = object()


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class Reader:
    """Reads one mapping of the config; remembers which keys were read to report the rest."""

    def __init__(self, raw: Any, path: str, problems: Problems) -> None:
        self.path = path
        self.problems = problems
        self.known: set[str] = set()
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            problems.error(
                path,
                raw,
                f"expected an object, got {type(raw).__name__}",
                "write it as a YAML mapping of keys to values",
            )
            raw = {}
        self.raw: Mapping[str, Any] = raw

    def has(self, key: str) -> bool:
        return key in self.raw

    def _get(self, key: str) -> Any:
        self.known.add(key)
        return self.raw.get(key, _MISSING)

    def sub(self, key: str) -> Reader:
        value = self._get(key)
        return Reader(None if value is _MISSING else value, join(self.path, key), self.problems)

    def value(self, key: str, default: Any = None) -> Any:
        value = self._get(key)
        return default if value is _MISSING else value

    def text(self, key: str, default: str | None, choices: Iterable[str] | None = None) -> str | None:
        value = self._get(key)
        if value is _MISSING or value is None:
            return default
        path = join(self.path, key)
        if not isinstance(value, str):
            self.problems.error(
                path, value, f"expected a string, got {type(value).__name__}", "quote the value"
            )
            return default
        if choices is not None:
            accepted = tuple(choices)
            if value not in accepted:
                self.problems.error(
                    path,
                    value,
                    "is not an accepted value",
                    f"use one of: {', '.join(accepted)}{_did_you_mean(value, accepted)}",
                )
                return default
        return value

    def integer(self, key: str, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self._get(key)
        if value is _MISSING or value is None:
            return default
        path = join(self.path, key)
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                value = int(value)
            else:
                self.problems.error(
                    path,
                    value,
                    f"expected a whole number, got {type(value).__name__}",
                    "write a number without quotes or units",
                )
                return default
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            lo = "" if minimum is None else f"at least {minimum}"
            hi = "" if maximum is None else f"at most {maximum}"
            self.problems.error(
                path, value, "is out of range", "use a number " + " and ".join(x for x in (lo, hi) if x)
            )
            return default
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        self.problems.error(
            join(self.path, key),
            value,
            f"expected true or false, got {type(value).__name__}",
            "write true or false",
        )
        return default

    def seq(self, key: str) -> list[Any] | None:
        value = self._get(key)
        if value is _MISSING or value is None:
            return None
        if not isinstance(value, list):
            self.problems.error(
                join(self.path, key),
                value,
                f"expected a list, got {type(value).__name__}",
                "write it as a YAML list",
            )
            return None
        return value

    def obj(self, key: str) -> Mapping[str, Any] | None:
        value = self._get(key)
        if value is _MISSING or value is None:
            return None
        if not isinstance(value, Mapping):
            self.problems.error(
                join(self.path, key),
                value,
                f"expected an object, got {type(value).__name__}",
                "write it as a YAML mapping",
            )
            return None
        return value

    def finish(self) -> None:
        """Reports every key that nothing read: typos must not be silently ignored."""
        for key in self.raw:
            if key not in self.known:
                self.problems.error(
                    join(self.path, key),
                    self.raw[key],
                    "is not a known key",
                    f"known keys here: {', '.join(sorted(self.known))}{_did_you_mean(key, self.known)}",
                )


def _did_you_mean(value: str, accepted: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, list(accepted), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
