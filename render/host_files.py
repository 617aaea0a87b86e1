"""Shipping managed files to a host: a line-per-file bundle on stdin and the POSIX sh that installs it.

Secrets travel only inside the bundle (stdin), never in a command string. Installing is atomic
(temp file + rename) and idempotent: an identical file with the right mode and owner is left
untouched, so re-runs change nothing on the host.
"""

from __future__ import annotations

import base64
import hashlib
import shlex
from dataclasses import dataclass

from render.scripts import body


@dataclass(frozen=True)
class FileMeta:
    path: str
    mode: str = "0644"
    owner: str = "root"
    group: str = "root"

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or any(c.isspace() for c in self.path):
            raise ValueError(f"managed paths are absolute and have no spaces: {self.path!r}")
        if len(self.mode) != 4 or not set(self.mode) <= set("01234567"):
            raise ValueError(f"mode must be four octal digits: {self.mode!r}")


def sha256(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def bundle_line(meta: FileMeta, content: str) -> str:
    data = base64.b64encode(content.encode()).decode()
    return f"{meta.path} {meta.mode} {meta.owner} {meta.group} {data}\n"


def encode_bundle(files: list[tuple[FileMeta, str]]) -> str:
    return "".join(bundle_line(meta, content) for meta, content in files)


def install_command(files: list[tuple[FileMeta, str]]) -> str:
    """The create/update command for (file, sha256 of its content) pairs.

    It lists every path with its content hash, so a preview says which file changes on which
    host, and a changed file changes this command (an update, never a replace); then it runs
    files/install.sh (from the host's script library) on the bundle.
    """
    listing = "".join(f"# {m.path} {m.mode} {m.owner}:{m.group} sha256:{digest}\n" for m, digest in files)
    return listing + body("files/install.sh")


def remove_command(metas: list[FileMeta], dirs: tuple[str, ...] = ()) -> str:
    """The delete command: removes the files, then the listed directories if they are empty."""
    paths = " ".join(shlex.quote(m.path) for m in metas)
    lines = ["set -eu", f"rm -f {paths}"]
    for directory in dirs:
        lines.append(f"rmdir --ignore-fail-on-non-empty {shlex.quote(directory)} 2>/dev/null || true")
    return "\n".join(lines) + "\n"
