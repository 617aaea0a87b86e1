"""Shell scripts from the templates in render/templates/<concern>/: the one template mechanism.

A template is plain POSIX sh. Its values are not spliced into its text: they arrive as shell
variables assigned, single-quoted, above it, so a value can never become code and shellcheck
reads the rendered script as ordinary shell. Two directive lines, gone from the rendered text:

    #% params: NODE UNIT HASH     the variables the renderer gives: exactly these, every one used
    #% include: lib/restarts.sh   another template's text, in place: one copy of shared shell

A missing, unexpected or unused value is an error when the script is rendered, not a `set -u`
failure on a host.

Host steps' templates (HOST_LIB) are not repeated in every step: each host has them once, in its
script library (components/host_lib.py puts them there before any other step), as
`/var/lib/k8s-from-scratch/lib/<name>.<sha256 prefix>.sh`, and a rendered script sources its
file after the values (`. <file>`): the text a step stores is its values and that line. The name
changes with the text, so a changed template changes exactly the steps that run it (an update of
each, shown in a preview), and a step never runs a text other than the one it was rendered
with. `inline()` puts the texts back (tests, and scripts that must stand alone).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from render.common import STATE_ROOT

TEMPLATES = Path(__file__).parent / "templates"
LIB_DIR = f"{STATE_ROOT}/lib"
# The templates host steps run, sourced from the host's script library. The others are rendered
# whole: drift probes (run over SSH by the providers, which must work whatever the host has),
# scripts that are file contents or run in pods, and the include-only lib/ texts.
HOST_LIB = frozenset(
    [
        "artifacts/install.sh",
        "artifacts/remove.sh",
        "csr-approver/disable.sh",
        "csr-approver/enable.sh",
        "files/install.sh",
        "host/cmdline-undo.sh",
        "host/cmdline.sh",
        "host/firewall-undo.sh",
        "host/firewall.sh",
        "host/iptables-undo.sh",
        "host/iptables.sh",
        "host/kernel-undo.sh",
        "host/kernel.sh",
        "host/lib.sh",
        "host/packages-undo.sh",
        "host/packages.sh",
        "host/preflight.sh",
        "host/selinux-undo.sh",
        "host/selinux.sh",
        "host/swap-undo.sh",
        "host/swap.sh",
        "host/timesync-undo.sh",
        "host/timesync.sh",
        "image-check/check.sh",
        "kube-proxy/start.sh",
        "kube-proxy/stop.sh",
        "kubelet/start.sh",
        "kubelet/stop.sh",
        "runtime/preflight.sh",
        "runtime/start.sh",
        "runtime/stop.sh",
        "service/start.sh",
        "service/stop.sh",
        "service/wait.sh",
        "steps/parts.sh",
    ]
)
_SOURCE = re.compile(rf"^\. {re.escape(LIB_DIR)}/(\S+)$", re.M)

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
    """The template's values, then `defs` (shell functions it calls), then its text (for a
    HOST_LIB template, the line that sources it from the host's library): the rest of a script,
    or a part that runs after a prelude (render/script_parts.py)."""
    template = load(name)
    missing = [p for p in template.params if p not in values]
    unexpected = [k for k in values if k not in template.params]
    if missing or unexpected:
        raise KeyError(f"{name}: no value for {missing}, no parameter for {unexpected}")
    text = f". {LIB_DIR}/{lib_file(name)}\n" if name in HOST_LIB else template.text
    return assignments(**values) + defs + text


@functools.cache
def lib_file(name: str) -> str:
    """The library file of a HOST_LIB template: its name and a prefix of its text's sha256."""
    if name not in HOST_LIB:
        raise KeyError(f"{name} is not in the host script library (render.scripts.HOST_LIB)")
    digest = hashlib.sha256(load(name).text.encode()).hexdigest()[:16]
    return f"{name.removesuffix('.sh').replace('/', '-')}.{digest}.sh"


@functools.cache
def library() -> dict[str, str]:
    """The host script library: file name -> text, every HOST_LIB template."""
    return {lib_file(name): load(name).text for name in sorted(HOST_LIB)}


def inline(text: str) -> str:
    """`text` with every line that sources a library file replaced by that file's text: the
    script as it runs on a host, standing alone."""
    files = library()

    def text_of(match: re.Match[str]) -> str:
        if match.group(1) not in files:
            raise KeyError(f"{match.group(1)} is not in this version's host script library")
        return files[match.group(1)].rstrip("\n")

    return _SOURCE.sub(text_of, text)


def script(name: str, /, *, defs: str = "", **values: str) -> str:
    """A whole sh script: #!/bin/sh, then body()."""
    return "#!/bin/sh\n" + body(name, defs=defs, **values)
