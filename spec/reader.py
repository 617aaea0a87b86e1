"""Typed reads from raw (JSON-like) config with path tracking; every misfit becomes a Problem."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from spec.defaults import KEYS, Key
from spec.problems import Problems

_MISSING = object()
_DECLARED = object()  # "use the declared default"


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class Reader:
    """Reads one mapping of the config; remembers which keys were read to report the rest.

    Every key read must be declared in spec.defaults.KEYS (under `section`, the declared path:
    "nodes[]" for each node), which gives its default, choices and range: what the parser reads
    and what the docs list are one table. `declared` collects the declared paths read."""

    def __init__(
        self,
        raw: Any,
        path: str,
        problems: Problems,
        section: str | None = None,
        declared: set[str] | None = None,
    ) -> None:
        self.path = path
        self.section = path if section is None else section
        self.problems = problems
        self.declared: set[str] = set() if declared is None else declared
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

    def spec_of(self, key: str) -> Key:
        """The declaration of `key` here; reading an undeclared key is a bug, not a user error."""
        name = join(self.section, key)
        if name not in KEYS:
            raise KeyError(f"{name} is read but not declared in spec.defaults.KEYS")
        self.declared.add(name)
        return KEYS[name]

    def _get(self, key: str) -> Any:
        self.known.add(key)
        return self.raw.get(key, _MISSING)

    def sub(self, key: str, section: str | None = None) -> Reader:
        """The object at `key`; `section`: its declared path when it is not this one's + key."""
        value = self._get(key)
        raw = None if value is _MISSING else value
        section = join(self.section, key) if section is None else section
        return Reader(raw, join(self.path, key), self.problems, section, self.declared)

    def item(self, raw: Any, index: int, key: str) -> Reader:
        """The object at index `index` of the list at `key`."""
        path = join(join(self.path, key), index)
        return Reader(raw, path, self.problems, join(self.section, key) + "[]", self.declared)

    def value(self, key: str) -> Any:
        declared = self.spec_of(key)
        value = self._get(key)
        return declared.default if value is _MISSING else value

    def text(self, key: str, default: Any = _DECLARED, choices: Any = _DECLARED) -> str | None:
        """A string; the default when unset; one of the choices (declared unless given)."""
        declared = self.spec_of(key)
        default = declared.default if default is _DECLARED else default
        choices = declared.choices if choices is _DECLARED else choices
        value = self._get(key)
        if value is _MISSING or value is None:
            return default
        path = join(self.path, key)
        if not isinstance(value, str):
            self.problems.error(
                path, value, f"expected a string, got {type(value).__name__}", "quote the value"
            )
            return default
        if choices is not None and value not in choices:
            self.problems.error(
                path,
                value,
                "is not an accepted value",
                f"use one of: {', '.join(choices)}{_did_you_mean(value, choices)}",
            )
            return default
        return value

    def string(self, key: str, default: str | None = None) -> str:
        """A non-empty string: the declared default (or `default`) when unset or empty."""
        fallback = self.spec_of(key).default if default is None else default
        return self.text(key, fallback) or str(fallback)

    def integer(self, key: str, default: Any = _DECLARED) -> int:
        declared = self.spec_of(key)
        default = declared.default if default is _DECLARED else default
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
        low, high = declared.minimum, declared.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            lo = "" if low is None else f"at least {low}"
            hi = "" if high is None else f"at most {high}"
            self.problems.error(
                path, value, "is out of range", "use a number " + " and ".join(x for x in (lo, hi) if x)
            )
            return default
        if declared.choices is not None and value not in declared.choices:
            self.problems.error(
                path,
                value,
                "is not an accepted size",
                f"use one of: {', '.join(map(str, declared.choices))}",
            )
            return default
        return value

    def flag(self, key: str) -> bool:
        declared = self.spec_of(key)
        value = self._get(key)
        if value is _MISSING or value is None:
            return bool(declared.default)
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
        return bool(declared.default)

    def seq(self, key: str) -> list[Any] | None:
        return self._typed(key, list, "a list", "write it as a YAML list")

    def obj(self, key: str) -> Mapping[str, Any] | None:
        return self._typed(key, Mapping, "an object", "write it as a YAML mapping")

    def _typed(self, key: str, kind: type, name: str, remedy: str) -> Any:
        """The list or mapping at `key`; None when unset or of another type (a problem then)."""
        self.spec_of(key)
        value = self._get(key)
        if value is _MISSING or value is None:
            return None
        if not isinstance(value, kind):
            self.problems.error(
                join(self.path, key), value, f"expected {name}, got {type(value).__name__}", remedy
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
