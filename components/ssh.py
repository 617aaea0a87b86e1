"""A small SSH runner (paramiko) for the dynamic providers that reach hosts (drift, the script library).

pulumi-command has no read; these providers run probe scripts over SSH on refresh. Connection
settings mirror components.host.connection: key auth, optional bastion, optional host-key pin.
"""

from __future__ import annotations

import base64
import io
import time
from dataclasses import dataclass
from typing import Any

import paramiko
import pulumi
from pulumi_command import remote


class SshError(RuntimeError):
    pass


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    user: str
    private_key: str
    host_key: str | None = None  # "ssh-ed25519 AAAA..." pin; None = not checked
    proxy: Target | None = None

    @staticmethod
    def from_props(props: dict[str, Any]) -> Target:
        proxy = props.get("proxy")
        return Target(
            host=props["host"],
            port=int(props.get("port") or 22),
            user=props.get("user") or "root",
            private_key=props["private_key"],
            host_key=props.get("host_key") or None,
            proxy=Target.from_props(proxy) if proxy else None,
        )


def connection_props(connection: remote.ConnectionArgs) -> dict[str, Any]:
    """remote.ConnectionArgs (as components.host.connection builds them) -> the flat props the
    guard takes."""
    proxy = connection.proxy
    if not (proxy is None or isinstance(proxy, remote.ProxyConnectionArgs)):
        raise TypeError("the bastion must be given as plain ProxyConnectionArgs")
    return {
        "host": connection.host,
        "port": connection.port or 22,
        "user": connection.user or "root",
        "private_key": pulumi.Output.secret(connection.private_key),
        "host_key": connection.host_key,
        "proxy": None
        if proxy is None
        else pulumi.Output.secret(
            pulumi.Output.all(proxy.host, proxy.port, proxy.user, proxy.private_key).apply(
                lambda v: {"host": v[0], "port": v[1] or 22, "user": v[2] or "root", "private_key": v[3]}
            )
        ),
    }


def _load_key(text: str) -> paramiko.PKey:
    errors = []
    key_classes: list[Any] = [paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey]
    for cls in key_classes:
        try:
            key: paramiko.PKey = cls.from_private_key(io.StringIO(text))
            return key
        except (paramiko.SSHException, ValueError) as err:
            errors.append(f"{cls.__name__}: {err}")
    raise SshError("the SSH private key could not be read (" + "; ".join(errors) + ")")


class _PinnedKey(paramiko.MissingHostKeyPolicy):
    """Accepts exactly the pinned key; without a pin, accepts any (pulumi-command's default)."""

    def __init__(self, pin: str | None) -> None:
        self.pin = pin

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        if self.pin is None:
            return
        kind, _, rest = self.pin.strip().partition(" ")
        blob = rest.split(" ")[0]
        if key.get_name() != kind or key.get_base64() != blob:
            seen = base64.b64encode(key.asbytes()).decode()[:24]
            raise SshError(
                f"host key of {hostname} does not match the pinned key (got {key.get_name()} {seen}...)"
            )


def connect(target: Target, attempts: int = 10, delay: float = 3.0) -> paramiko.SSHClient:
    sock = None
    if target.proxy is not None:
        jump = connect(target.proxy, attempts, delay)
        transport = jump.get_transport()
        if transport is None:
            raise SshError(f"bastion {target.proxy.host} closed the connection")
        sock = transport.open_channel("direct-tcpip", (target.host, target.port), ("127.0.0.1", 0))
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(_PinnedKey(target.host_key))
    key = _load_key(target.private_key)
    last: Exception | None = None
    for _ in range(attempts):
        try:
            client.connect(
                target.host,
                port=target.port,
                username=target.user,
                pkey=key,
                sock=sock,
                timeout=10,
                banner_timeout=10,
                auth_timeout=10,
                allow_agent=False,
                look_for_keys=False,
            )
            return client
        except SshError:
            raise
        except (TimeoutError, OSError, paramiko.SSHException) as err:
            last = err
            time.sleep(delay)
    raise SshError(f"cannot reach {target.user}@{target.host}:{target.port}: {last}")


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


def _exec(client: paramiko.SSHClient, command: str, stdin: str, timeout: float) -> Result:
    chan_in, chan_out, chan_err = client.exec_command(command, timeout=timeout)
    try:
        if stdin:
            chan_in.write(stdin)
        chan_in.channel.shutdown_write()
    except OSError:
        pass  # the command finished without reading all of its stdin; its exit status tells
    out = chan_out.read().decode(errors="replace")
    err = chan_err.read().decode(errors="replace")
    code = chan_out.channel.recv_exit_status()
    return Result(code, out, err)


def _checked(result: Result, target: Target, what: str) -> Result:
    if result.code != 0:
        raise SshError(
            f"{what} failed on {target.host} (exit {result.code}): {result.stderr.strip()[-2000:]}"
        )
    return result


class Sessions:
    """The connections of one operation, one per host, each reused for all of its commands (an
    SSH handshake per command would cost a NodeHost a dozen), closed when it ends."""

    def __init__(self, attempts: int = 10) -> None:
        self.attempts = attempts
        self._clients: dict[Target, paramiko.SSHClient] = {}

    def run(self, target: Target, command: str, stdin: str = "", timeout: float = 600) -> Result:
        """Runs `command` on the target. The command text is the SSH exec request (never
        secret); `stdin`, which may hold secrets, goes down the channel's standard input."""
        client = self._clients.get(target)
        if client is None:
            client = self._clients[target] = connect(target, self.attempts)
        return _exec(client, command, stdin, timeout)

    def run_checked(self, target: Target, command: str, stdin: str = "", what: str = "command") -> Result:
        return _checked(self.run(target, command, stdin), target, what)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def __enter__(self) -> Sessions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run(target: Target, command: str, stdin: str = "", timeout: float = 600, attempts: int = 10) -> Result:
    """`command` on the target over a connection of its own (`attempts` to connect, 3 s apart)."""
    with Sessions(attempts) as ssh:
        return ssh.run(target, command, stdin, timeout)


def run_checked(
    target: Target, command: str, stdin: str = "", what: str = "command", attempts: int = 10
) -> Result:
    return _checked(run(target, command, stdin, attempts=attempts), target, what)
