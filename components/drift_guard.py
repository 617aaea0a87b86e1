"""`DriftGuard`: one per host, the state the host must keep, read back on `pulumi refresh`.

pulumi-command cannot read hosts, so without this a hand-edited flag, a stopped service or a
deleted binary would go unseen. The guard holds, for its host, every managed file (path, mode,
owner, sha256; contents secret, in its inputs only), the services that must be enabled and
running, and the pinned artifacts with their install scripts (which source the host's script
library, components/host_lib.py). It is created after every other step of the host and:
- create: records the expected state (the steps just established it);
- read (refresh): probes the host over SSH; the refreshed state shows each drifted path, unit
  or binary, so `pulumi refresh --expect-no-changes` / `pulumi preview --refresh
  --expect-no-changes` fail in CI with the host and path named;
- update (`pulumi up` after such a refresh, or any change of the expected state): probes again
  and repairs only what really differs: rewrites drifted files, reinstalls drifted artifacts,
  starts stopped services and restarts only the services whose own files or binaries it
  repaired. A legitimate change the steps already applied therefore restarts nothing twice.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult
from pulumi_command import remote

from components.pickling import fresh_pickler
from components.ssh import Target, connection_props, run, run_checked
from components.steps import HostSteps, ManagedFile
from render import artifacts, drift, drift_rules
from render.artifacts import STATE_DIR as ARTIFACT_STATE_DIR
from render.host_files import FileMeta, encode_bundle, install_command, sha256
from render.scripts import inline
from spec.model import ClusterSpec, NodeSpec

# Outputs kept secret in state: the SSH key, a bastion's key. The files' contents are no output
# (an input only; the engine warns of a listed output that is not there); the SDK keeps a secret
# input secret in state.
SECRET_OUTPUTS = ["private_key", "proxy"]
# The output listing what the last update repaired (one line per drift).
REPAIRED = "repaired"


def _probe(props: dict[str, Any]) -> dict[str, Any]:
    """What the host has now, in the shape of the expected props."""
    target = Target.from_props(props)
    files_out = run(target, drift.probe_files_script([f["path"] for f in props["files"]])).stdout
    seen = drift.parse_files_probe(files_out)
    files = drift.observed_entries(props["files"], seen)
    units_out = run(target, drift.probe_units_script([u["unit"] for u in props["units"]])).stdout
    unit_states = drift.parse_units_probe(units_out)
    units = []
    for u in props["units"]:
        state = unit_states.get(u["unit"], drift.UnitState("not-found", "unknown"))
        running = state.active in ("active", "activating", "reloading")
        units.append({**u, "enabled": state.enabled, "active": "active" if running else state.active})
    names = [a["name"] for a in props["artifacts"]]
    art_out = run(target, drift.probe_artifacts_script(names, ARTIFACT_STATE_DIR)).stdout if names else ""
    art_states = drift.parse_artifacts_probe(art_out)
    artifacts = [{**a, "state": art_states.get(a["name"], "drifted:unreadable")} for a in props["artifacts"]]
    return {**props, "files": files, "units": units, "artifacts": artifacts}


def drifts(expected: dict[str, Any], observed: dict[str, Any]) -> list[drift.Drift]:
    """Every difference between the expected and the observed state of a host."""
    out = drift.compare_files(
        {
            f["path"]: drift.FileState(f["sha256"], f["mode"], f["owner"], f["group"])
            for f in expected["files"]
        },
        {
            f["path"]: drift.FileState(f["sha256"], f["mode"], f["owner"], f["group"])
            for f in observed["files"]
        },
    )
    out += drift.compare_units(
        {u["unit"]: drift.UnitState(u["enabled"], u["active"]) for u in expected["units"]},
        {u["unit"]: drift.UnitState(u["enabled"], u["active"]) for u in observed["units"]},
    )
    have = {a["name"]: a["state"] for a in observed["artifacts"]}
    for a in expected["artifacts"]:
        if have.get(a["name"], "drifted:unreadable") != "ok":
            out.append(drift.Drift("binary", a["name"], "as installed", have.get(a["name"], "unreadable")))
    return out


def _outputs(props: dict[str, Any]) -> dict[str, Any]:
    """The guard's outputs: its inputs without the files' contents, which only a repair needs and
    which it gets from the inputs (the engine keeps every output beside its input: the contents
    would be stored twice). `files` holds each content's sha256, which is what diff compares."""
    return {k: v for k, v in props.items() if k != "contents"}


class DriftGuardProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=f"{props['host']}:drift-guard", outs=_outputs(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs=_outputs(_probe(props)))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = ("files", "units", "artifacts", "host", "port", "user", "private_key", "proxy")
        return DiffResult(changes=any(olds.get(k) != news.get(k) for k in keys))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # What was put back stays in state until the next update: the repair command prints it.
        return UpdateResult(outs={**_outputs(news), REPAIRED: [str(d) for d in repair(news)]})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Nothing: every step undoes its own work on destroy."""


def repair(expected: dict[str, Any]) -> list[drift.Drift]:
    """Puts back what differs on the host now; returns what was repaired."""
    target = Target.from_props(expected)
    observed = _probe(expected)
    found = drifts(expected, observed)
    restart: set[str] = set()
    start: set[str] = set()
    for d in (d for d in found if d.kind == "binary"):
        artifact = next(a for a in expected["artifacts"] if a["name"] == d.name)
        run_checked(target, artifact["install"], what=f"reinstalling {d.name}")
        for path in d.observed.removeprefix("drifted:").split(","):
            restart.update(drift_rules.units_for_binary(path))
    drifted_paths = {d.name for d in found if d.kind == "file"}
    if drifted_paths:
        chosen = [
            (f, c)
            for f, c in zip(expected["files"], expected["contents"], strict=True)
            if f["path"] in drifted_paths
        ]
        metas = [FileMeta(f["path"], f["mode"], f["owner"], f["group"]) for f, _ in chosen]
        # Whole, not from the host's script library: it must work whatever the host has.
        command = inline(install_command([(m, f["sha256"]) for m, (f, _) in zip(metas, chosen, strict=True)]))
        run_checked(
            target,
            command,
            encode_bundle([(m, c) for m, (_, c) in zip(metas, chosen, strict=True)]),
            what="rewriting drifted files",
        )
        for entry, _ in chosen:  # the units the steps said read it
            restart.update(entry["units"])
    start.update(d.name for d in found if d.kind == "unit")
    # The guard lists a node's units in the order they depend on each other (etcd before the API
    # server before the kubelet): restarting kube-apiserver before starting a stopped etcd would
    # wait for its readiness, which needs etcd, until systemd's timeout.
    order = [u["unit"] for u in expected["units"]]
    restart &= set(order)
    if restart or start:
        lines = ["set -eu", "systemctl daemon-reload"]
        lines += [f"systemctl enable {u} >/dev/null 2>&1" for u in order if u in start | restart]
        lines += [
            f"systemctl {'restart' if u in restart else 'start'} {u}" for u in order if u in start | restart
        ]
        run_checked(target, "\n".join(lines) + "\n", what="restarting repaired services")
    return found


class DriftGuard(Resource, module="k8sfs", name="DriftGuard"):
    """The guard of one host, a dynamic resource: `files` (every ManagedFile its steps write, with
    `readers`: the units that read each path),
    `units` (services that must run), `artifacts` ((name, install script) pairs); created after
    `after` (all its steps). A resource rather than a component around one: a stack has one per
    host, and every registration costs evaluation time (bench/README.md)."""

    def __init__(
        self,
        name: str,
        connection: remote.ConnectionArgs,
        files: list[ManagedFile],
        readers: dict[str, list[str]],
        units: list[str],
        artifacts: list[tuple[str, str]],
        after: list[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        unique: dict[str, ManagedFile] = {}
        for f in files:  # shared files (a CA read by several services) are guarded once
            unique.setdefault(f.meta.path, f)
        ordered = [unique[p] for p in sorted(unique)]
        contents: pulumi.Output[list[str]] = pulumi.Output.all(*[f.content for f in ordered])
        # The hashes are not secret (previews show which file drifted); the contents are.
        manifest = pulumi.Output.unsecret(
            contents.apply(
                lambda cs: [
                    {
                        "path": f.meta.path,
                        "mode": f.meta.mode,
                        "owner": f.meta.owner,
                        "group": f.meta.group,
                        "sha256": sha256(c),
                        "units": readers.get(f.meta.path, []),
                    }
                    for f, c in zip(ordered, cs, strict=True)
                ]
            )
        )
        props: dict[str, Any] = {
            **connection_props(connection),
            "files": manifest,
            "contents": pulumi.Output.secret(contents),
            "units": [{"unit": u, "enabled": "enabled", "active": "active"} for u in units],
            "artifacts": [{"name": n, "install": script, "state": "ok"} for n, script in artifacts],
        }
        guard_opts = pulumi.ResourceOptions(additional_secret_outputs=SECRET_OUTPUTS, depends_on=after)
        fresh_pickler()  # components/pickling.py
        super().__init__(DriftGuardProvider(), name, props, pulumi.ResourceOptions.merge(opts, guard_opts))


def host_guard(
    name: str, spec: ClusterSpec, node: NodeSpec, steps: HostSteps, opts: pulumi.ResourceOptions
) -> DriftGuard:
    """The guard of `node`, last on its host: every step there noted what it put there."""
    return DriftGuard(
        name,
        steps.connection,
        steps.files,
        steps.readers,
        drift_rules.expected_units(spec, node),
        [(a.name, artifacts.install_script(spec, a)) for a in artifacts.node_artifacts(spec, node)],
        after=steps.created,
        opts=opts,
    )
