"""Host steps over pulumi-command: managed files, systemd services and scripts, each undoable.

Every step is a remote.Command whose create/update is idempotent and whose delete undoes it.
Changes flow as updates (changed command text or stdin), never through `triggers` (which would
force a replace: create-then-delete, and the delete would tear down what the create just did).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi_command import remote

from render.host_files import FileMeta, encode_bundle, install_command, remove_command
from render.script_parts import Part
from render.service_step import create_text, delete_text, digest, restart_hash


@dataclass(frozen=True)
class ManagedFile:
    """A file we own on a host. `secret` content is only ever sent on stdin and kept secret.
    A `transient` file is consumed and removed on the host (a bootstrap token): no drift when it
    is gone, and no reason to restart the service that reads it."""

    meta: FileMeta
    content: pulumi.Input[str]
    secret: bool = False
    transient: bool = False


# On every command: sshd would need AcceptEnv for the previous output's variables, and a failed
# step's output is what tells the user why.
COMMAND_SETTINGS: dict[str, Any] = {
    "add_previous_output_in_env": False,
    "logging": remote.Logging.STDOUT_AND_STDERR,
}


@dataclass
class HostSteps:
    """One host as its steps see it: how to reach it, and what the steps created on it (the
    host's DriftGuard guards those files and comes after those steps)."""

    connection: remote.ConnectionArgs
    created: list[pulumi.Resource] = field(default_factory=list)
    files: list[ManagedFile] = field(default_factory=list)
    # path -> the units that read the file: a repaired file restarts exactly those.
    readers: dict[str, list[str]] = field(default_factory=dict)

    def note_readers(self, unit: str, files: Sequence[ManagedFile]) -> None:
        for f in files:
            if f.transient:
                continue
            units = self.readers.setdefault(f.meta.path, [])
            if unit not in units:
                units.append(unit)


def client_files(
    rendered: Iterable[tuple[FileMeta, str]],
    kubeconfig: tuple[FileMeta, pulumi.Input[str]],
    ca: tuple[FileMeta, pulumi.Input[str]] | None = None,
) -> list[ManagedFile]:
    """A Kubernetes client's files: what render/ made, the cluster CA it trusts and its
    kubeconfig (credentials: secret)."""
    files = [ManagedFile(meta, content) for meta, content in rendered]
    if ca is not None:
        files.append(ManagedFile(*ca))
    files.append(ManagedFile(*kubeconfig, secret=True))
    return files


def paths(files: Sequence[ManagedFile]) -> list[str]:
    """Where the files go on the host."""
    return [f.meta.path for f in files]


def _bundle(files: Sequence[ManagedFile]) -> tuple[pulumi.Input[str], list[str] | pulumi.Output[list[str]]]:
    """(stdin bundle, sha256 of each file's content). The digests are never secret: a hash of a
    high-entropy secret reveals nothing, and previews must show which file changes."""
    metas = [f.meta for f in files]
    plain = [f.content for f in files if isinstance(f.content, str)]
    if len(plain) == len(files):
        # Rendered text only (most steps): the same inputs without a chain of Outputs, which
        # large stacks pay for on every step.
        return encode_bundle(list(zip(metas, plain, strict=True))), [digest(c) for c in plain]
    contents = pulumi.Output.all(*[f.content for f in files])
    stdin = contents.apply(lambda cs: encode_bundle(list(zip(metas, cs, strict=True))))
    digests = pulumi.Output.unsecret(contents.apply(lambda cs: [digest(c) for c in cs]))
    return stdin, digests


def _secret_stdin(
    files: Sequence[ManagedFile], stdin: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> tuple[pulumi.Input[str], pulumi.ResourceOptions]:
    if not any(f.secret for f in files):
        return stdin, opts
    extra = pulumi.ResourceOptions(additional_secret_outputs=["stdin"])
    return pulumi.Output.secret(stdin), pulumi.ResourceOptions.merge(opts, extra)


def files_step(
    name: str,
    host: HostSteps,
    files: Sequence[ManagedFile],
    opts: pulumi.ResourceOptions,
    dirs: tuple[str, ...] = (),
) -> remote.Command:
    """Writes files atomically; destroy removes them (and the listed dirs when empty)."""
    metas = [f.meta for f in files]
    stdin, digests = _bundle(files)

    def create_text(ds: list[str]) -> str:
        return install_command(list(zip(metas, ds, strict=True)))

    create = create_text(digests) if isinstance(digests, list) else digests.apply(create_text)
    stdin, opts = _secret_stdin(files, stdin, opts)
    return script_step(name, host, create, remove_command(metas, dirs), opts, stdin=stdin, files=files)


def service_step(
    name: str,
    host: HostSteps,
    unit: str,
    files: Sequence[ManagedFile],
    service: Callable[[str], str],
    stop: str,
    opts: pulumi.ResourceOptions,
    dirs: tuple[str, ...] = (),
    before: Sequence[Part] = (),
    installed_by: pulumi.Resource | None = None,
    binary_sum: str | None = None,
) -> remote.Command:
    """A service and the files it reads, restarted only when they change: create runs
    `service(hash)`, which (re)starts the service when the hash differs from the running one's,
    and the step itself runs only when its text changes: when a file, the service script or
    `binary_sum` (the checksum of the binary it runs) did. Delete runs `stop`.

    The step installs `files` itself (from stdin, after the `before` checks; delete removes them
    and the listed dirs when empty), unless `installed_by` is the step that already installs
    them (files shared by several services: one bundle, each service hashes its own). The host
    notes that `unit` reads `files`."""
    host.note_readers(unit, files)
    metas = [f.meta for f in files]
    stdin, digests = _bundle(files)

    def service_hash(ds: list[str]) -> str:
        kept = [(m, d) for f, m, d in zip(files, metas, ds, strict=True) if not f.transient]
        return restart_hash(kept, binary_sum)

    if installed_by is not None:
        ready = digests if isinstance(digests, pulumi.Output) else pulumi.Output.from_input(digests)
        after = pulumi.ResourceOptions(depends_on=[installed_by])
        return script_step(
            name,
            host,
            ready.apply(lambda ds: service(service_hash(ds))),
            stop,
            pulumi.ResourceOptions.merge(opts, after),
        )

    def text(ds: list[str]) -> str:
        return create_text(name, list(zip(metas, ds, strict=True)), service, service_hash(ds), before)

    create = text(digests) if isinstance(digests, list) else digests.apply(text)
    delete = delete_text(name, metas, stop, dirs)
    stdin, opts = _secret_stdin(files, stdin, opts)
    return script_step(name, host, create, delete, opts, stdin=stdin, files=files)


def script_step(
    name: str,
    host: HostSteps,
    create: pulumi.Input[str],
    delete: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    stdin: pulumi.Input[str] | None = None,
    files: Sequence[ManagedFile] = (),
) -> remote.Command:
    """An idempotent script with its undo; an update re-runs `create`. `files` are what the
    script installs (from `stdin`), noted for the host's DriftGuard."""
    step = remote.Command(
        name,
        connection=host.connection,
        create=create,
        delete=delete,
        stdin=stdin,
        opts=opts,
        **COMMAND_SETTINGS,
    )
    host.created.append(step)
    host.files.extend(f for f in files if not f.transient)
    return step
