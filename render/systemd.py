"""systemd units as data, and the scripts that start, restart, wait for and remove a service.

A service step's command carries the content hash of everything the service reads, so a changed
file is an update of that step; on the host the script restarts the unit only when the hash
differs from the one recorded after the last healthy start, so unrelated updates (a new SSH key,
say) never restart anything.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from render.common import MANAGED_MARKER, SBIN_DIR, STATE_ROOT, managed
from render.scripts import body, script

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


def _quote_arg(arg: str) -> str:
    # systemd splits Exec*= lines like a shell without globs, and expands specifiers (%x) and
    # variables ($X) in them: every % and $ of ours is literal.
    if any(c in arg for c in " \t\"'\\;$%"):
        escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
        return f'"{escaped}"'
    return arg


def exec_line(key: str, argv: Sequence[str]) -> tuple[str, str]:
    """An Exec*= line (`key`) of `argv`: on one line while it fits 100 columns, else one argument a
    line."""
    words = [argv[0], *(_quote_arg(a) for a in argv[1:])]
    one_line = " ".join(words)
    if len(f"{key}={one_line}") <= 100:
        return key, one_line
    return key, " \\\n  ".join(words)


def exec_start(argv: Sequence[str]) -> tuple[str, str]:
    """The ExecStart line of `argv` (exec_line)."""
    return exec_line("ExecStart", argv)


def install(target: str = "multi-user.target") -> dict[str, Sequence[tuple[str, str]]]:
    """The [Install] section: `systemctl enable` hooks the unit to `target`."""
    return {"Install": [("WantedBy", target)]}


# --- a service's secret files, copied at every start into its runtime directory -----------------
#
# A service that runs as its own user (User=) but whose keys and kubeconfigs are root's alone on
# disk (0600) gets its own copies at every start: a root step before it (ExecStartPre=, the
# SECRETS_HELPER) copies them into the unit's runtime directory, /run/<unit name without
# .service>, as SECRET_COPY_MODE files of the unit's user. systemd makes that directory at every
# start, owned by User=/Group=, mode RuntimeDirectoryMode=, and removes it with everything in it
# when the unit stops (RuntimeDirectory=, systemd 211; kept only with RuntimeDirectoryPreserve=,
# 235, which we do not set), so a restart copies afresh and no other user can look into it.
# Flags and config files name the copies by fixed paths (secret_copy), no specifier: one unit
# text for every systemd the supported OSes ship, 219 (CentOS/Oracle Linux 7) to today's.
#
# The step runs as root through PermissionsStartOnly=true, the one way systemd 219 has: the "+"
# prefix (ExecStartPre=+...) came in 231, and 219, which knows only "-" and "@", reads
# "+/usr/..." as a relative path and ignores the line. systemd 240's NEWS deprecates
# PermissionsStartOnly= for "+" ("but is still supported for backwards compatibility") and its
# man pages no longer list it, yet every release since still parses it as a plain boolean, with
# no warning (the unit tests run `systemd-analyze verify` on it), and still runs the unit's
# control processes (ExecStartPre=, ExecStartPost=, ExecReload=, ExecStop=) without User=: ours
# has only the ExecStartPre=. LoadCredential= (247; %d, 248) would need no helper, but 219 and
# 239 (RHEL 8) lack it.
SECRETS_HELPER = f"{SBIN_DIR}/k8s-from-scratch-copy-secrets"
RUNTIME_DIR_MODE = "0700"
SECRET_COPY_MODE = "0400"
_RUN = "/run"


def runtime_dir(unit: str) -> str:
    """The runtime directory of the system unit `unit` (e.g. "kube-scheduler.service")."""
    return f"{_RUN}/{unit.removesuffix('.service')}"


def secret_copy(unit: str, path: str) -> str:
    """Where `unit`'s service reads the secret file `path`: its copy, of the same file name."""
    return f"{runtime_dir(unit)}/{posixpath.basename(path)}"


def secrets_helper_script() -> str:
    """The program SECRETS_HELPER: `k8s-from-scratch-copy-secrets USER:GROUP DIR FILE...`."""
    text = body("service/copy-secrets.sh", DIR_MODE=RUNTIME_DIR_MODE, FILE_MODE=SECRET_COPY_MODE)
    return "#!/bin/sh\n" + managed(text)


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
    # Root-only files the service reads, each copied at every start to secret_copy(name, path).
    secrets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.secrets:
            return
        if not self.user:
            raise ValueError(f"{self.name}: secrets are copied for a User=, and it has none")
        names = [posixpath.basename(p) for p in self.secrets]
        for path, name in zip(self.secrets, names, strict=True):
            if not path.startswith("/") or not name or any(c in path for c in " \t\"'\\;$%"):
                raise ValueError(f"{self.name}: bad secret file {path!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: secret file names repeat: {names}")
        copies = {secret_copy(self.name, p) for p in self.secrets}
        prefix = f"{runtime_dir(self.name)}/"
        for arg in self.exec_start[1:]:
            value = arg.split("=", 1)[-1]
            if value in self.secrets:
                raise ValueError(f"{self.name}: ExecStart names {value}, root's alone: name its copy")
            if value.startswith(prefix) and value not in copies:
                raise ValueError(f"{self.name}: ExecStart names {value}, a copy it does not make")

    def _secret_lines(self) -> list[tuple[str, str]]:
        if not self.secrets:
            return []
        owner = f"{self.user}:{self.group or self.user}"
        return [
            ("#", "Its keys are root's alone on disk. Before every start a root step copies its own"),
            ("#", f"into {runtime_dir(self.name)} (its user's, {RUNTIME_DIR_MODE}; removed when it stops)."),
            ("#", "PermissionsStartOnly= runs that step as root on systemd 219 too (the + prefix: 231)."),
            ("PermissionsStartOnly", "true"),
            ("RuntimeDirectory", runtime_dir(self.name).removeprefix(f"{_RUN}/")),
            ("RuntimeDirectoryMode", RUNTIME_DIR_MODE),
            exec_line("ExecStartPre", (SECRETS_HELPER, owner, runtime_dir(self.name), *self.secrets)),
        ]

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
        service += self._secret_lines()
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
