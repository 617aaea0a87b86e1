"""systemd units as data, and the scripts that start, restart, wait for and remove a service.

A service step's command carries the content hash of everything the service reads, so a changed
file is an update of that step; on the host the script restarts the unit only when the hash
differs from the one recorded after the last healthy start, so unrelated updates (a new SSH key,
say) never restart anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from render.common import MANAGED_MARKER, STATE_ROOT
from render.scripts import script

UNIT_DIR = "/etc/systemd/system"
STATE_DIR = f"{STATE_ROOT}/services"

# A unit file as data: section name -> its (key, value) lines in order; the key "#" writes a
# comment. Every unit we install is written by unit_file from such data.
Sections = Mapping[str, Sequence[tuple[str, str]]]


def unit_file(sections: Sections) -> str:
    blocks = []
    for name, entries in sections.items():
        lines = [f"[{name}]", *(f"# {v}" if k == "#" else f"{k}={v}" for k, v in entries)]
        blocks.append("".join(f"{line}\n" for line in lines))
    return "\n".join(blocks)


# Credentials (LoadCredential=, systemd >= 247; the %d specifier >= 248; Debian bookworm has
# 252): when a unit starts, systemd copies each file it names, which root alone may read, into
# the unit's credentials directory, /run/credentials/<unit>/, readable by the unit's User= alone
# (and root). A restart copies them again. ExecStart= names that directory with the specifier %d;
# a config file, which systemd does not expand, by its path (credentials_dir).
CREDENTIALS_SPECIFIER = "%d"
CREDENTIALS_MIN_SYSTEMD = 248  # the preflight refuses a control plane with an older systemd
_CREDENTIAL_PREFIX = f"{CREDENTIALS_SPECIFIER}/"


def credential(cred_id: str) -> str:
    """An ExecStart= argument naming the unit's own credential `cred_id` (see Unit.credentials)."""
    return f"{_CREDENTIAL_PREFIX}{cred_id}"


def credentials_dir(unit: str) -> str:
    """The credentials directory of the system unit `unit` (e.g. "kube-scheduler.service")."""
    return f"/run/credentials/{unit}"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")


def _quote_arg(arg: str) -> str:
    # systemd splits ExecStart like a shell without globs, and expands specifiers (%x) and
    # variables ($X): every % and $ of ours is literal except the %d of a credential's path.
    parts = arg.split(_CREDENTIAL_PREFIX)
    if any(c in part for part in parts for c in " \t\"'\\;$%"):
        return '"' + _CREDENTIAL_PREFIX.join(_escape(part) for part in parts) + '"'
    return arg


def exec_start(argv: Sequence[str]) -> tuple[str, str]:
    """The ExecStart line of `argv`: on one line while it fits 100 columns, else one argument a line."""
    words = [argv[0], *(_quote_arg(a) for a in argv[1:])]
    one_line = " ".join(words)
    if len(f"ExecStart={one_line}") <= 100:
        return "ExecStart", one_line
    return "ExecStart", " \\\n  ".join(words)


def install(target: str = "multi-user.target") -> dict[str, Sequence[tuple[str, str]]]:
    """The [Install] section: `systemctl enable` hooks the unit to `target`."""
    return {"Install": [("WantedBy", target)]}


@dataclass(frozen=True)
class Unit:
    """A long-running Kubernetes service (etcd, the control plane) as data."""

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
    # (id, path): LoadCredential= lines; exec_start names each as credential(id).
    credentials: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        ids = [cred_id for cred_id, _ in self.credentials]
        for cred_id, path in self.credentials:
            if not cred_id or any(c in cred_id for c in "/: ") or not path.startswith("/"):
                raise ValueError(f"{self.name}: bad credential {cred_id!r}: {path!r}")
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self.name}: credential ids repeat: {ids}")
        named = {a.split(_CREDENTIAL_PREFIX, 1)[1] for a in self.exec_start if _CREDENTIAL_PREFIX in a}
        if named - set(ids):
            missing = sorted(named - set(ids))
            raise ValueError(f"{self.name}: ExecStart names credentials it does not load: {missing}")

    @property
    def path(self) -> str:
        return f"{UNIT_DIR}/{self.name}"

    def sections(self) -> Sections:
        head = [("Description", self.description)]
        head += [("Documentation", self.documentation)] if self.documentation else []
        head += [("Wants", " ".join(self.wants))] if self.wants else []
        head += [("After", " ".join(self.after))] if self.after else []
        service = [("Type", self.type)]
        service += [("User", self.user)] if self.user else []
        service += [("Group", self.group)] if self.group else []
        service += [("LoadCredential", f"{cred_id}:{path}") for cred_id, path in self.credentials]
        service += [
            exec_start(self.exec_start),
            ("Restart", "on-failure"),
            ("RestartSec", str(self.restart_sec)),
            ("LimitNOFILE", str(self.limit_nofile)),
            *self.extra,
        ]
        return {"Unit": head, "Service": service, **install()}


def render_unit(unit: Unit) -> str:
    return unit_file(unit.sections())


def restart_always_unit(description: str, documentation: str, argv: Sequence[str], after: str = "") -> str:
    """A node agent (kubelet, kube-proxy): restarted whenever it stops, however often, because a
    node without it is lost; `after` is a unit it needs up first."""
    needs = " ".join(["network-online.target", *([after] if after else [])])
    return unit_file(
        {
            "Unit": [
                ("Description", description),
                ("Documentation", documentation),
                ("Wants", needs),
                ("After", needs),
                ("StartLimitIntervalSec", "0"),
            ],
            "Service": [exec_start(argv), ("Restart", "always"), ("RestartSec", "5")],
            **install(),
        }
    )


def flags(values: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """--name=value arguments in the given order."""
    return tuple(f"--{k}={v}" for k, v in values)


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
    return script(
        "service/start.sh",
        defs=_healthy(check or 'systemctl is-active --quiet "$UNIT"'),
        UNIT=unit,
        HASH=content_hash,
        STATE_DIR=STATE_DIR,
        TRIES=str(tries),
        INTERVAL=str(interval),
        WAIT_AFTER_START="yes" if wait_after_start else "no",
        NO_BLOCK="yes" if no_block_start else "no",
    )


def _healthy(check: str) -> str:
    """The healthy() the start and wait templates call."""
    return "healthy() {\n  " + check + "\n}\n"


def wait_script(what: str, check: str, tries: int = 90, interval: int = 2, unit: str = "") -> str:
    """A step that only waits: `check` retried with a bounded budget and a clear failure."""
    return script(
        "service/wait.sh",
        defs=_healthy(check),
        WHAT=what,
        UNIT=unit,
        TRIES=str(tries),
        INTERVAL=str(interval),
    )


def stop_script(unit: str, remove_paths: Sequence[str] = ()) -> str:
    """Delete of a service step: stop and disable the unit, forget its hash, remove `remove_paths`."""
    return script("service/stop.sh", UNIT=unit, STATE_DIR=STATE_DIR, REMOVE=" ".join(remove_paths))


# --- service users -------------------------------------------------------------------------------

_USERS_RECORD = STATE_ROOT  # user-<name> there: we created that user, so destroy may remove it


def user_script(users: Sequence[str], home: str, dirs: Sequence[str], private_dir: str) -> str:
    """Create services' system users, one per service (recorded, so destroy removes only ours),
    and their directories; `private_dir` is the first user's own (0700)."""
    created = "".join(
        f"""if ! id -u {user} >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir {home} --shell /sbin/nologin {user}
  touch {_USERS_RECORD}/user-{user}
  echo "created user {user}"
fi
"""
        for user in users
    )
    return f"""#!/bin/sh
set -eu
mkdir -p {_USERS_RECORD}
{created}mkdir -p {" ".join(dirs)}
chown {users[0]}:{users[0]} {private_dir}
chmod 0700 {private_dir}
"""


def remove_user_script(users: Sequence[str], private_dir: str, dirs: Sequence[str]) -> str:
    """Destroy: `private_dir` with its data, `dirs` when empty, and the users we created."""
    removed = "".join(
        f"""if [ -f {_USERS_RECORD}/user-{user} ]; then
  userdel {user} 2>/dev/null || true
  rm -f {_USERS_RECORD}/user-{user}
fi
"""
        for user in users
    )
    return f"""#!/bin/sh
set -eu
rm -rf {private_dir}
rmdir {" ".join(dirs)} 2>/dev/null || true
{removed}rmdir {_USERS_RECORD} 2>/dev/null || true
"""


def own_unit(unit: str) -> dict[str, str]:
    """What a delete script needs to touch `unit` only if it is ours: its name, its file and the
    marker our unit files carry."""
    return {"UNIT": unit, "UNIT_FILE": f"{UNIT_DIR}/{unit}", "MARKER": MANAGED_MARKER}
