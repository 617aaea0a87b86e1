"""Drift: what a host really has, compared with what we rendered. Pure: scripts and parsing.

A probe prints one tab-separated line per managed object; the comparison yields one Drift per
object that differs, named by host-local path or unit, so `pulumi refresh` and the drift report
say exactly what changed where.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from render.scripts import script

MISSING = "missing"


@dataclass(frozen=True)
class FileState:
    sha256: str  # MISSING when the file does not exist
    mode: str = ""
    owner: str = ""
    group: str = ""


@dataclass(frozen=True)
class UnitState:
    enabled: str  # systemctl is-enabled: enabled, disabled, masked, not-found...
    active: str  # systemctl is-active: active, inactive, failed, activating...


@dataclass(frozen=True)
class Drift:
    kind: str  # file | unit
    name: str  # path or unit name
    expected: str
    observed: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: expected {self.expected}, found {self.observed}"


def _lines(values: Sequence[str]) -> str:
    """A probe's list as one shell variable, a name a line."""
    if any("\n" in v for v in values):
        raise ValueError(f"a probed name has a line break: {list(values)}")
    return "\n".join(values)


def _rows(output: str) -> Iterator[list[str]]:
    """A probe's output, one list of tab-separated fields a line."""
    return (line.split("\t") for line in output.splitlines())


def probe_files_script(paths: list[str]) -> str:
    """Prints `path<TAB>sha256<TAB>mode<TAB>owner<TAB>group`, or `path<TAB>missing`."""
    return script("drift/files.sh", PATHS=_lines(paths))


def parse_files_probe(output: str) -> dict[str, FileState]:
    states: dict[str, FileState] = {}
    for row in _rows(output):
        match row:
            case [path, "missing"]:
                states[path] = FileState(MISSING)
            case [path, digest, mode, owner, group]:
                states[path] = FileState(digest, mode.zfill(4), owner, group)
    return states


def observed_entries(entries: list[dict[str, Any]], seen: dict[str, FileState]) -> list[dict[str, Any]]:
    """Manifest entries ({path, sha256, mode, owner, group}) rewritten with what a probe saw."""
    out = []
    for entry in entries:
        have = seen.get(entry["path"], FileState(MISSING))
        out.append(
            {
                **entry,
                "sha256": have.sha256,
                "mode": have.mode or entry["mode"],
                "owner": have.owner or entry["owner"],
                "group": have.group or entry["group"],
            }
        )
    return out


def probe_units_script(units: list[str]) -> str:
    """Prints `unit<TAB>is-enabled<TAB>is-active` for each unit."""
    return script("drift/units.sh", UNITS=_lines(units))


def parse_units_probe(output: str) -> dict[str, UnitState]:
    return {row[0]: UnitState(row[1], row[2]) for row in _rows(output) if len(row) == 3}


def probe_artifacts_script(names: list[str], state_dir: str) -> str:
    """Prints `artifact<TAB>ok` or `artifact<TAB>drifted<TAB>path,...` from the install records."""
    return script("drift/artifacts.sh", STATE_DIR=state_dir, ARTIFACTS=_lines(names))


def parse_artifacts_probe(output: str) -> dict[str, str]:
    """artifact -> "ok" or "drifted:<paths>"."""
    states: dict[str, str] = {}
    for row in _rows(output):
        match row:
            case [name, "ok"]:
                states[name] = "ok"
            case [name, "drifted", paths]:
                states[name] = f"drifted:{paths}"
    return states


def compare_files(expected: dict[str, FileState], observed: dict[str, FileState]) -> list[Drift]:
    """Expected content hash, mode and ownership against what the probe saw."""
    drifts = []
    for path, want in sorted(expected.items()):
        have = observed.get(path, FileState(MISSING))
        if have.sha256 == MISSING:
            drifts.append(Drift("file", path, f"sha256:{want.sha256[:12]}", "no file"))
        elif have.sha256 != want.sha256:
            drifts.append(Drift("file", path, f"sha256:{want.sha256[:12]}", f"sha256:{have.sha256[:12]}"))
        elif (have.mode, have.owner, have.group) != (want.mode, want.owner, want.group):
            drifts.append(
                Drift(
                    "file",
                    path,
                    f"{want.mode} {want.owner}:{want.group}",
                    f"{have.mode} {have.owner}:{have.group}",
                )
            )
    return drifts


def compare_units(expected: dict[str, UnitState], observed: dict[str, UnitState]) -> list[Drift]:
    """A managed unit must be enabled and running (activating counts as running)."""
    drifts = []
    for unit, want in sorted(expected.items()):
        have = observed.get(unit, UnitState("not-found", "unknown"))
        if have.enabled != want.enabled:
            drifts.append(Drift("unit", unit, want.enabled, have.enabled))
        running = {"active", "activating", "reloading"}
        if (have.active in running) != (want.active in running):
            drifts.append(Drift("unit", unit, want.active, have.active))
    return drifts
