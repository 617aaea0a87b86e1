"""Host steps over pulumi-command: managed files, systemd services and scripts, each undoable.

Every step is a remote.Command whose create/update is idempotent and whose delete undoes it.
Changes flow as updates (changed command text or stdin), never through `triggers` (which would
force a replace: create-then-delete, and the delete would tear down what the create just did).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi_command import remote

from render.host_files import FileMeta, encode_bundle, install_command, remove_command


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

    def tagged(path: str, content: pulumi.Input[str]) -> pulumi.Output[str]:
        return pulumi.Output.from_input(content).apply(lambda c: f"{path}:{_digest(c)}")

    parts = [tagged(f.meta.path, f.content) for f in files]
    joined = pulumi.Output.all(*parts).apply(lambda xs: _digest("\n".join(xs)))
    return pulumi.Output.unsecret(joined)


def files_step(
    name: str,
    connection: remote.ConnectionArgs,
    files: Sequence[ManagedFile],
    opts: pulumi.ResourceOptions,
    dirs: tuple[str, ...] = (),
) -> remote.Command:
    """Writes files atomically; destroy removes them (and the listed dirs when empty)."""
    metas = [f.meta for f in files]
    any_secret = any(f.secret for f in files)
    stdin: pulumi.Input[str]
    create: pulumi.Input[str]
    plain = [f.content for f in files if isinstance(f.content, str)]
    if len(plain) == len(files):
        # Rendered text only (most steps): the same inputs without a chain of Outputs per file,
        # which large stacks pay for on every step.
        stdin = encode_bundle(list(zip(metas, plain, strict=True)))
        create = install_command([(m, _digest(c)) for m, c in zip(metas, plain, strict=True)])
    else:
        contents = [pulumi.Output.from_input(f.content) for f in files]
        stdin = pulumi.Output.all(*contents).apply(
            lambda cs: encode_bundle(list(zip(metas, cs, strict=True)))
        )
        digests = [pulumi.Output.unsecret(c.apply(_digest)) for c in contents]
        create = pulumi.Output.all(*digests).apply(
            lambda ds: install_command(list(zip(metas, ds, strict=True)))
        )
    if any_secret:
        stdin = pulumi.Output.secret(stdin)
    step = remote.Command(
        name,
        connection=connection,
        create=create,
        delete=remove_command(metas, dirs),
        stdin=stdin,
        add_previous_output_in_env=False,
        logging=remote.Logging.STDOUT_AND_STDERR,
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["stdin"] if any_secret else None)
        ),
    )
    _note(name, connection, step, files)
    return step


def script_step(
    name: str,
    connection: remote.ConnectionArgs,
    create: pulumi.Input[str],
    delete: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    update: pulumi.Input[str] | None = None,
    stdin: pulumi.Input[str] | None = None,
) -> remote.Command:
    """An idempotent script with its undo. `update` defaults to re-running `create`."""
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
    _note(name, connection, step)
    return step
