"""Host steps over pulumi-command: managed files, systemd services and scripts, each undoable.

Every step is a remote.Command whose create/update is idempotent and whose delete undoes it.
Changes flow as updates (changed command text or stdin), never through `triggers` (which would
force a replace: create-then-delete, and the delete would tear down what the create just did).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi_command import remote

from render.host_files import FileMeta, encode_bundle, install_command, remove_command
from render.script_parts import Part, run_parts


@dataclass
class Ledger:
    """What the steps of one program put on each host (keyed by address), for the DriftGuards."""

    files: dict[str, list[tuple[str, ManagedFile]]] = field(default_factory=dict)  # (step, file)
    steps: dict[str, list[pulumi.Resource]] = field(default_factory=dict)


_ledger: Ledger | None = None


def start_ledger() -> Ledger:
    """Begins recording the steps created from now on (the Cluster does, once per program)."""
    global _ledger
    _ledger = Ledger()
    return _ledger


def _note(
    name: str, connection: remote.ConnectionArgs, step: pulumi.Resource, files: Sequence[Any] = ()
) -> None:
    if _ledger is None:
        return
    host = str(connection.host)
    _ledger.steps.setdefault(host, []).append(step)
    _ledger.files.setdefault(host, []).extend((name, f) for f in files)


@dataclass(frozen=True)
class ManagedFile:
    """A file we own on a host. `secret` content is only ever sent on stdin and kept secret."""

    meta: FileMeta
    content: pulumi.Input[str]
    secret: bool = False


def _digest(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def content_hash(files: Sequence[ManagedFile]) -> pulumi.Output[str]:
    """One non-secret hash over files' paths and contents: a restart trigger for services.

    A hash of a secret (high-entropy keys) reveals nothing, so it is unsecreted to keep
    previews readable.
    """

    metas = [f.meta for f in files]
    _, digests = _bundle(files)  # the digests are unsecret already
    return pulumi.Output.from_input(digests).apply(lambda ds: _files_hash(metas, ds))


def _bundle(files: Sequence[ManagedFile]) -> tuple[pulumi.Input[str], list[str] | pulumi.Output[list[str]]]:
    """(stdin bundle, sha256 of each file's content). The digests are never secret: a hash of a
    high-entropy secret reveals nothing, and previews must show which file changes."""
    metas = [f.meta for f in files]
    plain = [f.content for f in files if isinstance(f.content, str)]
    if len(plain) == len(files):
        # Rendered text only (most steps): the same inputs without a chain of Outputs, which
        # large stacks pay for on every step.
        return encode_bundle(list(zip(metas, plain, strict=True))), [_digest(c) for c in plain]
    contents = pulumi.Output.all(*[f.content for f in files])
    stdin = contents.apply(lambda cs: encode_bundle(list(zip(metas, cs, strict=True))))
    digests = pulumi.Output.unsecret(contents.apply(lambda cs: [_digest(c) for c in cs]))
    return stdin, digests


def _secret_stdin(
    files: Sequence[ManagedFile], stdin: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> tuple[pulumi.Input[str], pulumi.ResourceOptions]:
    if not any(f.secret for f in files):
        return stdin, opts
    extra = pulumi.ResourceOptions(additional_secret_outputs=["stdin"])
    return pulumi.Output.secret(stdin), pulumi.ResourceOptions.merge(opts, extra)


def _files_hash(metas: Sequence[FileMeta], digests: Sequence[str]) -> str:
    """content_hash's value, from the files' digests."""
    return _digest("\n".join(f"{m.path}:{d}" for m, d in zip(metas, digests, strict=True)))


def files_step(
    name: str,
    connection: remote.ConnectionArgs,
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
    return script_step(name, connection, create, remove_command(metas, dirs), opts, stdin=stdin, files=files)


def service_step(
    name: str,
    connection: remote.ConnectionArgs,
    files: Sequence[ManagedFile],
    service: Callable[[str], str],
    stop: str,
    opts: pulumi.ResourceOptions,
    dirs: tuple[str, ...] = (),
    before: Sequence[Part] = (),
) -> remote.Command:
    """A service with its files, as one step: create runs `before` (checks), installs the files
    (from stdin), then `service(hash of the files)`, which (re)starts the service; the step runs
    only when its text changes, i.e. when a file or the service script did. Delete runs `stop`,
    then removes the files (and the listed dirs when empty)."""
    metas = [f.meta for f in files]
    stdin, digests = _bundle(files)

    def create_text(ds: list[str]) -> str:
        listing = list(zip(metas, ds, strict=True))
        return run_parts(
            name,
            [
                *before,
                Part("files", install_command(listing), reads_stdin=True),
                Part("service", service(_files_hash(metas, ds))),
            ],
        )

    create = create_text(digests) if isinstance(digests, list) else digests.apply(create_text)
    delete = run_parts(name, [Part("service", stop), Part("files", remove_command(metas, dirs))])
    stdin, opts = _secret_stdin(files, stdin, opts)
    return script_step(name, connection, create, delete, opts, stdin=stdin, files=files)


def script_step(
    name: str,
    connection: remote.ConnectionArgs,
    create: pulumi.Input[str],
    delete: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    update: pulumi.Input[str] | None = None,
    stdin: pulumi.Input[str] | None = None,
    files: Sequence[ManagedFile] = (),
) -> remote.Command:
    """An idempotent script with its undo. `update` defaults to re-running `create`. `files` are
    what the script installs (from `stdin`), noted for the host's DriftGuard."""
    step = remote.Command(
        name,
        connection=connection,
        create=create,
        update=update,
        delete=delete,
        stdin=stdin,
        add_previous_output_in_env=False,
        logging=remote.Logging.STDOUT_AND_STDERR,
        opts=opts,
    )
    _note(name, connection, step, files)
    return step
