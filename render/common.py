"""Facts every renderer shares: where our binaries and state live, and the line that marks a file
as ours."""

from __future__ import annotations

BIN_DIR = "/usr/local/bin"
SBIN_DIR = "/usr/local/sbin"
# Our records on a host (created users, service hashes, host-prep state, artifact manifests).
STATE_ROOT = "/var/lib/k8s-from-scratch"

# Every unit and config file we install starts with this line; preflight and delete scripts use it
# to tell our files from a distribution's or Docker's.
MANAGED_MARKER = "# Managed by k8s-from-scratch (pulumi up rewrites this file; do not edit)."


def managed(text: str) -> str:
    """A file's content headed by MANAGED_MARKER."""
    return f"{MANAGED_MARKER}\n{text}"
