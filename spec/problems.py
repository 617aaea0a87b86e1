"""Configuration problems: each names its key path, the bad value and what would be accepted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spec.model import SecretStr


def show(value: Any) -> str:
    """A value as the user wrote it, short; secrets are never shown."""
    if isinstance(value, SecretStr):
        return "<secret>"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class Problem:
    path: str  # config key path as `pulumi config set --path` takes it, e.g. nodes[1].roles
    value: Any
    message: str  # what is wrong
    remedy: str  # what would be accepted / how to fix it
    warning: bool = False  # warnings are reported but do not stop the program

    def __str__(self) -> str:
        kind = "warning" if self.warning else "error"
        return f"{kind}: {self.path} = {show(self.value)}: {self.message}; {self.remedy}"


class SpecError(Exception):
    """Raised with every error of a configuration at once."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = [p for p in problems if not p.warning]
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"the stack configuration has {len(self.problems)} problem(s); nothing was touched:\n{lines}"
        )


class Problems:
    """Collects problems while parsing and validating."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def error(self, path: str, value: Any, message: str, remedy: str) -> None:
        self.items.append(Problem(path, value, message, remedy))

    def warn(self, path: str, value: Any, message: str, remedy: str) -> None:
        self.items.append(Problem(path, value, message, remedy, warning=True))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.items if not p.warning]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.items if p.warning]
