"""Dynamic providers for host state that `pulumi refresh` can READ: managed files and units.

pulumi-command cannot read a host (pulumi-command#432), so drift would go unseen. These two
resources do their own create/update/delete over SSH (components.ssh) and implement `read`
with probe scripts (render.drift): a refresh records what the host really has, the next diff
against the program's expectation shows the drift per host and path, and `pulumi up` repairs
exactly the drifted resources (a drifted file re-written, a stopped unit started), restarting
nothing else.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from components.ssh import Target, run, run_checked
from render import drift
from render.host_files import FileMeta, encode_bundle, install_command, remove_command

CONNECTION_KEYS = ("host", "port", "user", "private_key", "host_key", "proxy")
SECRET_OUTPUTS = ["private_key", "proxy", "contents"]


def _metas(props: dict[str, Any]) -> list[FileMeta]:
    return [FileMeta(m["path"], m["mode"], m["owner"], m["group"]) for m in props["manifest"]]


def _expected_files(props: dict[str, Any]) -> dict[str, drift.FileState]:
    return {
        m["path"]: drift.FileState(m["sha256"], m["mode"], m["owner"], m["group"]) for m in props["manifest"]
    }


def _host_changed(olds: dict[str, Any], news: dict[str, Any]) -> bool:
    return bool(olds.get("host") != news.get("host"))


class ManagedFilesProvider(ResourceProvider):
    def _install(self, props: dict[str, Any]) -> None:
        metas = _metas(props)
        command = install_command([(m, e["sha256"]) for m, e in zip(metas, props["manifest"], strict=True)])
        bundle = encode_bundle(list(zip(metas, props["contents"], strict=True)))
        run_checked(Target.from_props(props), command, bundle, "writing managed files")

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._install(props)
        return CreateResult(id_=f"{props['host']}:{props['name']}", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = ("manifest", "contents", "dirs", *CONNECTION_KEYS)
        changed = [k for k in keys if olds.get(k) != news.get(k)]
        return DiffResult(
            changes=bool(changed),
            replaces=["host"] if _host_changed(olds, news) else [],
            delete_before_replace=False,
        )

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._install(news)
        gone = [m for m in _metas(olds) if m.path not in {n.path for n in _metas(news)}]
        if gone:
            run_checked(Target.from_props(news), remove_command(gone), what="removing dropped files")
        return UpdateResult(outs=news)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Refresh: replace each manifest entry with what the host really has."""
        paths = [m["path"] for m in props["manifest"]]
        result = run(Target.from_props(props), drift.probe_files_script(paths))
        seen = drift.parse_files_probe(result.stdout)
        manifest = drift.observed_entries(props["manifest"], seen)
        return ReadResult(id_=id_, outs={**props, "manifest": manifest})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        run_checked(
            Target.from_props(props),
            remove_command(_metas(props), tuple(props.get("dirs") or ())),
            what="removing managed files",
        )


UNIT_START = """set -eu
systemctl daemon-reload
systemctl enable {unit} >/dev/null
systemctl {verb} {unit}
"""
UNIT_STOP = """set -u
systemctl disable --now {unit} >/dev/null 2>&1 || true
systemctl reset-failed {unit} >/dev/null 2>&1 || true
systemctl daemon-reload
"""


class ManagedUnitProvider(ResourceProvider):
    def _start(self, props: dict[str, Any], verb: str) -> None:
        target = Target.from_props(props)
        run_checked(target, UNIT_START.format(unit=props["unit"], verb=verb), what=f"{verb} {props['unit']}")
        if props.get("ready_check"):
            run_checked(target, props["ready_check"], what=f"waiting for {props['unit']} to be ready")

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._start(props, "restart")
        return CreateResult(id_=f"{props['host']}:{props['unit']}", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = ("unit", "restart_key", "enabled", "active", "ready_check", *CONNECTION_KEYS)
        changed = [k for k in keys if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=["host"] if _host_changed(olds, news) else [])

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # Only changed content restarts; a unit found stopped or disabled is merely started.
        verb = "restart" if olds.get("restart_key") != news.get("restart_key") else "start"
        self._start(news, verb)
        return UpdateResult(outs=news)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        result = run(Target.from_props(props), drift.probe_units_script([props["unit"]]))
        state = drift.parse_units_probe(result.stdout).get(
            props["unit"], drift.UnitState("not-found", "unknown")
        )
        active = "active" if state.active in ("active", "activating", "reloading") else state.active
        return ReadResult(id_=id_, outs={**props, "enabled": state.enabled, "active": active})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        run_checked(
            Target.from_props(props), UNIT_STOP.format(unit=props["unit"]), what=f"stopping {props['unit']}"
        )


def connection_props(connection: Any) -> dict[str, Any]:
    """remote.ConnectionArgs -> the flat props these providers take."""
    proxy = connection.proxy
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


class ManagedFiles(Resource, module="k8sfs", name="ManagedFiles"):
    """Files on one host, re-read on refresh. `contents` is secret in state."""

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_OUTPUTS)
        )
        super().__init__(ManagedFilesProvider(), name, {"name": name, **props}, opts)


class ManagedUnit(Resource, module="k8sfs", name="ManagedUnit"):
    """A systemd unit kept enabled and running, restarted when `restart_key` changes."""

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_OUTPUTS)
        )
        base = {"enabled": "enabled", "active": "active", "ready_check": None}
        super().__init__(ManagedUnitProvider(), name, {**base, **props}, opts)
