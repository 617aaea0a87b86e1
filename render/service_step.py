"""The texts of a service step (a service and the files it reads), as pure functions.

Shared by components/steps.py (one remote command per step) and render/node_parts.py (a worker's
parts, applied by its NodeHost): the same files give the same texts and the same restart hash,
so a host converted from one to the other restarts nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from render.host_files import FileMeta, install_command, remove_command
from render.script_parts import Part, run_parts


def digest(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def files_hash(listing: Sequence[tuple[FileMeta, str]]) -> str:
    """One hash over files' paths and contents ((meta, sha256) pairs): what a service's restart
    follows."""
    return digest("\n".join(f"{m.path}:{d}" for m, d in listing))


def restart_hash(listing: Sequence[tuple[FileMeta, str]], binary_sum: str | None = None) -> str:
    """The hash a service restarts on: its files', and the checksum of the binary it runs."""
    hashed = files_hash(listing)
    return hashed if binary_sum is None else digest(f"{hashed}\n{binary_sum}")


def create_text(
    label: str,
    listing: Sequence[tuple[FileMeta, str]],
    service: Callable[[str], str],
    restart_on: str,
    before: Sequence[Part] = (),
) -> str:
    """Create/update: the `before` checks, the files (from stdin), then `service(restart_on)`."""
    return run_parts(
        label,
        [
            *before,
            Part("files", install_command(list(listing)), reads_stdin=True),
            Part("service", service(restart_on)),
        ],
    )


def delete_text(label: str, metas: Sequence[FileMeta], stop: str, dirs: tuple[str, ...] = ()) -> str:
    """Delete: stop the service, then remove its files and the listed dirs when empty."""
    return run_parts(label, [Part("service", stop), Part("files", remove_command(list(metas), dirs))])
