"""systemd units as data, and the scripts that start, restart, wait for and remove a service.

A service step's command carries the content hash of everything the service reads, so a changed
file is an update of that step; on the host the script restarts the unit only when the hash
differs from the one recorded after the last healthy start, so unrelated updates (a new SSH key,
say) never restart anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from render.common import STATE_ROOT
from render.template_text import template

UNIT_DIR = "/etc/systemd/system"
STATE_DIR = f"{STATE_ROOT}/services"


@dataclass(frozen=True)
class Unit:
    name: str  # e.g. "etcd.service"
    description: str
    exec_start: tuple[str, ...]  # argv: binary, then one flag per element
    documentation: str = ""
    after: tuple[str, ...] = ("network-online.target",)
    wants: tuple[str, ...] = ("network-online.target",)
    type: str = "simple"
    user: str | None = None
    group: str | None = None
    restart_sec: int = 5
    limit_nofile: int = 65536
    extra: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # more [Service] keys

    @property
    def path(self) -> str:
        return f"{UNIT_DIR}/{self.name}"


def _quote_arg(arg: str) -> str:
    # systemd splits ExecStart like a shell without expansion of $ (we use none) or globs.
    if any(c in arg for c in " \t\"'\\;$%"):
        escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
        return f'"{escaped}"'
    return arg


def render_unit(unit: Unit) -> str:
    lines = ["[Unit]", f"Description={unit.description}"]
    if unit.documentation:
        lines.append(f"Documentation={unit.documentation}")
    if unit.wants:
        lines.append(f"Wants={' '.join(unit.wants)}")
    if unit.after:
        lines.append(f"After={' '.join(unit.after)}")
    lines += ["", "[Service]", f"Type={unit.type}"]
    if unit.user:
        lines.append(f"User={unit.user}")
    if unit.group:
        lines.append(f"Group={unit.group}")
    binary, *args = unit.exec_start
    exec_lines = [binary] + [f"  {_quote_arg(a)}" for a in args]
    lines.append("ExecStart=" + " \\\n".join(exec_lines))
    lines += [
        "Restart=on-failure",
        f"RestartSec={unit.restart_sec}",
        f"LimitNOFILE={unit.limit_nofile}",
    ]
    lines += [f"{k}={v}" for k, v in unit.extra]
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


def flags(values: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """--name=value arguments in the given order."""
    return tuple(f"--{k}={v}" for k, v in values)


def assignments(**values: str) -> str:
    """Shell parameter lines heading a rendered script."""
    return "".join(f"{k}={_sq(v)}\n" for k, v in values.items())


def _sq(value: str) -> str:
    """Always single-quoted (shlex leaves `cp` bare, which shellcheck reads as a command)."""
    return "'" + value.replace("'", "'\\''") + "'"


def service_script(
    unit: str,
    content_hash: str,
    check: str | None = None,
    wait_after_start: bool = True,
    tries: int = 90,
    interval: int = 2,
    no_block_start: bool = False,
) -> str:
    """Create/update of a service step.

    `check` is a shell command that succeeds when the service is healthy; it is retried `tries`
    times, `interval` seconds apart, after a (re)start. `no_block_start` starts without waiting
    for readiness (etcd members of a new cluster only become ready together) and, with
    `wait_after_start=False`, leaves the waiting to a later step.
    """
    header = assignments(
        UNIT=unit,
        HASH=content_hash,
        STATE_DIR=STATE_DIR,
        TRIES=str(tries),
        INTERVAL=str(interval),
        WAIT_AFTER_START="yes" if wait_after_start else "no",
        NO_BLOCK="yes" if no_block_start else "no",
    )
    healthy = "healthy() {\n  " + (check or 'systemctl is-active --quiet "$UNIT"') + "\n}\n"
    return "#!/bin/sh\n" + header + healthy + template("service.sh")


def wait_script(what: str, check: str, tries: int = 90, interval: int = 2, unit: str = "") -> str:
    """A step that only waits: `check` retried with a bounded budget and a clear failure."""
    header = assignments(WHAT=what, UNIT=unit, TRIES=str(tries), INTERVAL=str(interval))
    healthy = "healthy() {\n  " + check + "\n}\n"
    return "#!/bin/sh\n" + header + healthy + template("wait.sh")


def stop_script(unit: str, remove_paths: Sequence[str] = ()) -> str:
    """Delete of a service step: stop and disable the unit, forget its hash, remove `remove_paths`."""
    header = assignments(UNIT=unit, STATE_DIR=STATE_DIR, REMOVE=" ".join(remove_paths))
    return "#!/bin/sh\n" + header + template("service_stop.sh")


# --- service users -------------------------------------------------------------------------------

_USERS_RECORD = STATE_ROOT  # user-<name> there: we created that user, so destroy may remove it


def user_script(user: str, home: str, dirs: Sequence[str], private_dir: str) -> str:
    """Create a service's system user (recorded, so destroy removes only ours) and its directories;
    `private_dir` is the user's own (0700)."""
    return f"""#!/bin/sh
set -eu
mkdir -p {_USERS_RECORD}
if ! id -u {user} >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir {home} --shell /sbin/nologin {user}
  touch {_USERS_RECORD}/user-{user}
  echo "created user {user}"
fi
mkdir -p {" ".join(dirs)}
chown {user}:{user} {private_dir}
chmod 0700 {private_dir}
"""


def remove_user_script(user: str, private_dir: str, dirs: Sequence[str]) -> str:
    """Destroy: `private_dir` with its data, `dirs` when empty, and the user if we created it."""
    return f"""#!/bin/sh
set -eu
rm -rf {private_dir}
rmdir {" ".join(dirs)} 2>/dev/null || true
if [ -f {_USERS_RECORD}/user-{user} ]; then
  userdel {user} 2>/dev/null || true
  rm -f {_USERS_RECORD}/user-{user}
fi
rmdir {_USERS_RECORD} 2>/dev/null || true
"""
