"""Shell scripts from the templates in render/templates/<concern>/: the one template mechanism.

A template is plain POSIX sh. Its values are not spliced into its text: they arrive as shell
variables assigned, single-quoted, above it, so a value can never become code and shellcheck
reads the rendered script as ordinary shell. Two directive lines, gone from the rendered text:

    #% params: NODE UNIT HASH     the variables the renderer gives: exactly these, every one used
    #% include: lib/restarts.sh   another template's text, in place: one copy of shared shell

A missing, unexpected or unused value is an error when the script is rendered, not a `set -u`
failure on a host.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"

_PARAMS = "#% params:"
_INCLUDE = "#% include:"
_NAME = re.compile(r"[A-Z][A-Z0-9_]*")


@dataclass(frozen=True)
class Template:
    name: str  # its path under render/templates/
    params: tuple[str, ...]
    text: str  # directives resolved


@functools.cache  # every node renders the same templates; read each once per process
def load(name: str) -> Template:
    params: list[str] = []
    lines: list[str] = []
    for line in (TEMPLATES / name).read_text().splitlines(keepends=True):
        if line.startswith(_PARAMS):
            params += line.removeprefix(_PARAMS).split()
        elif line.startswith(_INCLUDE):
            included = load(line.removeprefix(_INCLUDE).strip())
            if not set(included.params) <= set(params):
                missing = sorted(set(included.params) - set(params))
                raise ValueError(
                    f"{name}: includes {included.name}, which reads {missing}: add them to params"
                )
            lines.append(included.text)
        elif line.startswith("#%"):
            raise ValueError(f"{name}: unknown directive {line.strip()!r}")
        else:
            lines.append(line)
    text = "".join(lines)
    for param in params:
        if not _NAME.fullmatch(param):
            raise ValueError(f"{name}: {param!r} is not an upper-case shell variable name")
        if not re.search(rf"\$\{{?{param}\b", text):
            raise ValueError(f"{name}: declares {param} but never reads it")
    if len(set(params)) != len(params):
        raise ValueError(f"{name}: params repeat: {params}")
    return Template(name, tuple(params), text)


def assignments(**values: str) -> str:
    """Shell variable lines, each value single-quoted (shlex.quote leaves a node named `cp` bare,
    which shellcheck reads as a command)."""
    return "".join(f"{k}={_single_quoted(v)}\n" for k, v in values.items())


def _single_quoted(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def body(name: str, /, *, defs: str = "", **values: str) -> str:
    """The template's values, then `defs` (shell functions it calls), then its text: the rest of a
    script, or a part that runs after a prelude (render/script_parts.py)."""
    template = load(name)
    missing = [p for p in template.params if p not in values]
    unexpected = [k for k in values if k not in template.params]
    if missing or unexpected:
        raise KeyError(f"{name}: no value for {missing}, no parameter for {unexpected}")
    return assignments(**values) + defs + template.text


def script(name: str, /, *, defs: str = "", **values: str) -> str:
    """A whole sh script: #!/bin/sh, then body()."""
    return "#!/bin/sh\n" + body(name, defs=defs, **values)
