"""Several idempotent host scripts run as one step: each part in a subshell of its own, in order.

One step per concern (OS settings, binaries, a service with its files) instead of one per script
keeps large stacks cheap to evaluate (bench/README.md) while a preview still names what changes:
every part keeps its own text, under a `# --- part: <name>` header, so the step's diff shows the
part. A part runs in a subshell so that its variables, `cd`s and early `exit 0`s stay its own; the
first part that fails stops the step, and the error names the part. At most one part reads the
step's stdin (a file bundle, secrets included); the others get /dev/null, so that nothing they
run (a package manager's scripts) can swallow it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from render.scripts import assignments, body

_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")


@dataclass(frozen=True)
class Part:
    name: str  # shown in the step's text and in its error
    script: str  # a whole sh script (may start with #!/bin/sh and set -eu)
    reads_stdin: bool = False


@dataclass(frozen=True)
class StepScripts:
    """A whole step: its create and delete commands, and the stdin its create reads (if any)."""

    create: str
    delete: str
    stdin: str | None = None


def run_parts(label: str, parts: Sequence[Part], prelude: str = "") -> str:
    """One sh command running `parts` in order; `prelude` (shared settings and shell functions)
    runs first in the step's own shell, so every part sees it without repeating it."""
    if not parts:
        return "true\n"
    names = [p.name for p in parts]
    if len(set(names)) != len(names):
        raise ValueError(f"{label}: part names repeat: {names}")
    if bad := [n for n in names if not _NAME.fullmatch(n)]:
        raise ValueError(f"{label}: part names are lower-case words joined by dashes: {bad}")
    if sum(p.reads_stdin for p in parts) > 1:
        raise ValueError(f"{label}: only one part can read the step's stdin")
    out = [
        "#!/bin/sh\n",
        assignments(K8SFS_STEP=label),
        body("steps/parts.sh"),  # part_done, from the host's script library
        prelude.rstrip("\n") + "\n" if prelude else "",
    ]
    for part in parts:
        text = part.script.removeprefix("#!/bin/sh\n").rstrip("\n")
        # `set +e` around the subshell: the part's own `set -e` then governs it (a subshell in an
        # `if`/`||` would ignore -e inside), and part_done reports its failure with its name (and
        # turns -e back on).
        out.append(
            f"# --- part: {part.name}\n"
            "set +e\n"
            f"(\nset -e\n{text}\n){'' if part.reads_stdin else ' </dev/null'}\n"
            f"part_done {part.name} $?\n"
        )
    return "".join(out)
