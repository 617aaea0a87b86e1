"""`HostLib`: one per host, the host's script library, put there before any other step.

Every host step sources the templates it runs from `/var/lib/k8s-from-scratch/lib` (render/scripts.py,
HOST_LIB) instead of carrying their text: the engine stores every step's command text twice
(inputs and outputs) and rewrites the whole state for every step, so texts repeated in every
step of every host made the state, and each step's cost, grow with the cluster. This resource
stores only the library's file names (`<template>.<sha256 prefix>.sh`); its provider, which runs
the program's own code, renders the texts and checks them against those names.

A dynamic resource, like the DriftGuard, and guarded the same way:
- create/update: writes the files that are missing or differ (a file of an older version stays:
  a step still in the state may name it, e.g. one the same `up` deletes after this update);
- read (refresh): hashes the files on the host; a missing or changed one shows in the refreshed
  `files` (`<name>: missing`, `<name>: sha256:<found>`), so `pulumi refresh --expect-no-changes`
  fails and the next `pulumi up` (or scripts/repair_hosts.py) writes it back;
- delete: removes the library; every step of the host depends on it, so it goes last.
"""

from __future__ import annotations

import shlex
from pathlib import PurePosixPath
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult
from pulumi_command import remote

from components.drift_guard import REPAIRED
from components.pickling import fresh_pickler
from components.ssh import Sessions, Target, connection_props, run, run_checked
from render import drift, scripts
from render.host_files import FileMeta, encode_bundle, install_command, sha256

SECRET_OUTPUTS = ["private_key", "proxy"]
# A host may still be booting when its library is its first step (the lab's hosts).
CONNECT_ATTEMPTS = 40


def expected(name: str) -> str:
    """The sha256 prefix a library file's name carries."""
    return name.removesuffix(".sh").rsplit(".", 1)[-1]


def texts(names: list[str]) -> dict[str, str]:
    """The library files `names`, rendered by this code: the provider runs the program's own
    modules, so a name it cannot render means the two disagree."""
    library = scripts.library()
    unknown = [n for n in names if n not in library]
    if unknown:
        raise ValueError(f"the host script library of this program has no {unknown}")
    for name in names:
        if not sha256(library[name]).startswith(expected(name)):
            raise ValueError(f"{name}: the rendered text does not have the sha256 its name says")
    return {n: library[n] for n in names}


def _paths(props: dict[str, Any]) -> list[str]:
    return [f"{props['dir']}/{name}" for name in props["files"]]


def probe(props: dict[str, Any]) -> list[str]:
    """`files` as the host has them: a name for each intact file, `<name>: missing` or
    `<name>: sha256:<12 hex>` for the others."""
    target = Target.from_props(props)
    seen = drift.parse_files_probe(run(target, drift.probe_files_script(_paths(props))).stdout)
    out = []
    for name, path in zip(props["files"], _paths(props), strict=True):
        found = seen.get(path, drift.FileState(drift.MISSING)).sha256
        if found == drift.MISSING:
            out.append(f"{name}: missing")
        elif not found.startswith(expected(name)):
            out.append(f"{name}: sha256:{found[:12]}")
        else:
            out.append(name)
    return out


def drifts(expected_props: dict[str, Any], observed: dict[str, Any]) -> list[drift.Drift]:
    """A Drift for each library file the host does not have as expected."""
    out = []
    for want, have in zip(expected_props["files"], observed.get("files") or [], strict=False):
        if want != have:
            found = have.removeprefix(f"{want}: ")
            out.append(drift.Drift("lib", want, f"sha256:{expected(want)[:12]}", found))
    return out


def install(props: dict[str, Any]) -> list[str]:
    """Writes the library files that are missing or differ; returns the paths written."""
    with Sessions(CONNECT_ATTEMPTS) as ssh:
        return install_on(ssh, Target.from_props(props), props["files"], props["dir"])


def install_on(
    ssh: Sessions, target: Target, names: list[str], directory: str = scripts.LIB_DIR
) -> list[str]:
    """Writes the library files `names` that are missing or differ on `target`; returns the paths
    written. The install script is sent whole (the library may be what is missing)."""
    files = texts(names)
    metas = [FileMeta(f"{directory}/{name}", "0644") for name in files]
    command = scripts.inline(
        install_command([(m, sha256(t)) for m, t in zip(metas, files.values(), strict=True)])
    )
    result = ssh.run_checked(
        target,
        command,
        encode_bundle(list(zip(metas, files.values(), strict=True))),
        what="installing the host script library",
    )
    return [
        line.removeprefix("updated ") for line in result.stdout.splitlines() if line.startswith("updated ")
    ]


def remove_command(directory: str) -> str:
    """Destroy: the library, and the state root if nothing else is left in it."""
    parent = str(PurePosixPath(directory).parent)
    return f"rm -rf {shlex.quote(directory)}\nrmdir {shlex.quote(parent)} 2>/dev/null || true\n"


class HostLibProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        install(props)
        return CreateResult(id_=f"{props['host']}:host-lib", outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs={**props, "files": probe(props)})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = ("files", "dir", "host", "port", "user", "private_key", "proxy")
        return DiffResult(changes=any(olds.get(k) != news.get(k) for k in keys))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # What was written stays in state until the next update: the repair command prints it.
        return UpdateResult(outs={**news, REPAIRED: [f"wrote {p}" for p in install(news)]})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        run_checked(
            Target.from_props(props), remove_command(props["dir"]), what="removing the host script library"
        )


class HostLib(Resource, module="k8sfs", name="HostLib"):
    """The script library of one host (`scripts.library()`, every file), for every host step to
    source; created after `opts`' depends_on, before the host's first step."""

    def __init__(
        self,
        name: str,
        connection: remote.ConnectionArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            **connection_props(connection),
            "dir": scripts.LIB_DIR,
            "files": sorted(scripts.library()),
        }
        lib_opts = pulumi.ResourceOptions(additional_secret_outputs=SECRET_OUTPUTS)
        fresh_pickler()  # components/pickling.py
        super().__init__(HostLibProvider(), name, props, pulumi.ResourceOptions.merge(opts, lib_opts))
