"""The `engine` section of `make bench`: what a user waits for, the real `pulumi` on the bench stacks.

For each size (the same stacks as the mocks figures, bench/stacks.py), in a throw-away project
folder and file-backend state, with checkpoints on (PULUMI_SKIP_CHECKPOINTS is removed from the
environment):
1. `preview`: `pulumi preview` of the fresh stack (no host contacted);
2. `initial_up`: the saved state the next two start from, made by real `pulumi up`s against fake
   hosts and a fake cluster (bench/fake_site.py): first everything that does not need the
   Kubernetes API (the PKI and every host step: `--exclude` the Kubernetes provider
   `--exclude-dependents`), then, with an API server serving the stack's own certificates, the
   rest. Its seconds are the runs' (plus `phases`), not one user's `up`. The second run (the one
   that makes every worker-only node's NodeHost: most of a large stack's resources) is crashed
   and resumed (3.) unless `--interrupt-at 0`: its phases are then `without_api`,
   `with_api_killed` and `with_api_resumed` (one more engine start and program evaluation than
   the plain `without_api` + `with_api`, about a no-op up's seconds), `interrupted` says which;
3. `interrupted_up`: crash-safety on the engine's real checkpoints. The second run is killed once
   `--interrupt-at` (0.5) of the creates it would make are done (`planned_creates`: the preview's
   resources less what the first run made; `resOutputsEvent`s with op `create`
   counted in its `--json` output as it is written): the engine and everything it started are
   stopped and SIGKILLed at once, as in a power loss or the OOM killer (Ctrl-C is another case:
   the engine finishes the steps in flight, saves and unlocks). `kill`: what the crash left (the
   state's resources, `pending_operations` by type, the lock, an empty `.attrs` sidecar that
   makes the state unreadable); `recovery`: the commands a user then runs (bench/README.md,
   "After a crash": `rm` of an empty sidecar if the state cannot be read, `pulumi cancel --yes`,
   and if anything is pending `pulumi stack export` + `pulumi stack import`); `resume`: the same
   up again (what it `created`, the pending creates it `rerun`, anything `redone` that was
   already done or `missing` after it, operations `pending_after`). `converged` once the whole
   initial up and the no-op up ran: nothing redone, missing or pending, and the no-op up changed
   nothing (`not_converged` says why not);
4. `noop_up`: `pulumi up --skip-preview` over that state, changing nothing: `changed` lists
   any resource it did change (must be none);
5. `add_worker_up`: one worker appended to the stack (bench.stacks.with_worker_added), then
   `pulumi up --skip-preview`: `others` lists changed resources that are not the new worker's
   own (bench.graph_diff.owned_by); `only_that_worker` says it touched nothing else;
6. `pool`: with the fake API still serving, a node pool stack of `--pool-size` workers (default
   20; 0: none) that joins this size's cluster, in the same folder and backend
   (bench/engine_pool.py): `pool_preview`, `pool_up`, `pool_noop_up`, `pool_add_worker_up`,
   measured as the phases above. A pool's figures should not depend on the cluster's size, and
   its add-a-worker should cost what adding a worker to a 10-node stack costs.

Every engine command's wall seconds, the CPU seconds of its process tree, and the tree's peak
resident memory (engine + language host + plugins, bench/proctree.py) are recorded. The `up`s run
with `--skip-preview`: a user's `pulumi up --yes` runs a preview first (`preview` shows what that
costs on a fresh stack). `state` is the size of the saved state (`pulumi stack export`) and its
largest resources. A size that does not finish within `--timeout` seconds (its pool's phases
included) records `timed_out` (the phase it was in, and after how many seconds) and keeps the
phases it finished; a command that fails records `error` (phase and message), likewise.

`python -m bench.engine --sizes 10,50 --timeout 900 [--interrupt-at 0.5] [--pool-size 20] [--out
FILE]`; `make bench` runs it at every size (bench/run.py --engine-sizes, --engine-timeout,
--engine-interrupt-at, --engine-pool-size, --no-engine). Needs root (a network namespace, sshd on
port 22), the toolchain's engine and cluster binaries; else {"skipped": why}.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import ipaddress
import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.fake_site import REPO, FakeSite, SiteError, missing_tools, toolchain_dir, versions
from bench.graph_diff import owned_by
from bench.proctree import Sampler, start_time, tree
from bench.stacks import STACK, bench_config, with_worker_added
from scripts.repair_hosts import engine_events
from spec import defaults as d
from spec import load_spec
from spec.model import ClusterSpec

SIZES = (10, 50, 200, 500)
TIMEOUT_SECONDS = 1800.0  # per size, every phase included
POOL_SIZE = 20  # workers of the pool stack measured beside each size (bench/engine_pool.py)
PASSPHRASE = "k8s-from-scratch-bench"  # a throw-away state's
K8S_PROVIDER = "pulumi:providers:kubernetes"
# How a state export marks a secret (with --show-secrets the value is JSON text in "plaintext").
SECRET_SIG = "4dabf18193072939515e22adb298388d"
NOT_CHANGES = ("same", "read", "refresh")
LARGEST = 5
MEMORY_KEYS = ("peak_mb", "peak_pss_mb", "hwm_sum_mb", "engine_peak_mb")  # bench/proctree.py
# The share of the first up's creates after which the engine is killed (0: no crash, the plain up).
INTERRUPT_AT = 0.5
POLL_SECONDS = 0.1  # how often the killed up's output is read


class TimedOut(Exception):
    def __init__(self, phase: str, seconds: float) -> None:
        super().__init__(f"{phase}: timed out after {seconds:.0f} s")
        self.phase = phase
        self.seconds = seconds


class EngineError(RuntimeError):
    pass


def engine_cli() -> Path | None:
    """The CLI toolchain/build.sh built (its plugins beside it), else one on PATH."""
    built = toolchain_dir() / "pulumi" / versions()["K8SFS_PULUMI_VERSION"] / "pulumi"
    if built.is_file():
        return built
    found = shutil.which("pulumi")
    return Path(found) if found else None


# --- the throw-away project and stack files (pure) ---------------------------------------------


def project_file(repo: Path, folder: Path) -> str:
    """Pulumi.yaml of a project in `folder` whose program is the repository's, run with its venv."""
    main = os.path.relpath(repo, folder)
    doc = {
        "name": d.PROJECT,
        "description": "k8s-from-scratch engine bench (throw-away)",
        "main": main,
        "runtime": {
            "name": "python",
            "options": {"toolchain": "pip", "virtualenv": str(repo / ".venv")},
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


def stack_file(raw: dict[str, Any], salt: str, secret_key: str) -> str:
    """Pulumi.<stack>.yaml with `raw` as config and `secret_key` (a `secure:` ciphertext this stack
    encrypted) as ssh.privateKey; `salt` is the stack's `encryptionsalt:` line."""
    config = {f"{d.PROJECT}:{key}": value for key, value in raw.items() if key != "ssh"}
    ssh = {k: v for k, v in (raw.get("ssh") or {}).items() if k != "privateKey"}
    config[f"{d.PROJECT}:ssh"] = {**ssh, "privateKey": {"secure": secret_key}}
    return salt.rstrip("\n") + "\n" + yaml.safe_dump({"config": config}, sort_keys=False)


def stack_salt(text: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith("encryptionsalt:")]
    if len(lines) != 1:
        raise EngineError("the new stack's file has no encryptionsalt line")
    return lines[0]


def secure_value(text: str, key: str) -> str:
    """The `secure:` ciphertext `pulumi config set --secret --path KEY` wrote (KEY as a.b)."""
    value: Any = (yaml.safe_load(text) or {}).get("config", {})
    first, *rest = key.split(".")
    value = value.get(f"{d.PROJECT}:{first}")
    for part in rest:
        value = (value or {}).get(part)
    if not (isinstance(value, dict) and isinstance(value.get("secure"), str)):
        raise EngineError(f"no secure value at {key}")
    return str(value["secure"])


# --- the engine's output (pure) -----------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    op: str
    urn: str
    # What the resource depends on (a preview's steps only): dependency_refs.
    deps: tuple[str, ...] = field(default=(), compare=False)

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    @property
    def type(self) -> str:
        return self.urn.split("::")[2].rsplit("$", 1)[-1] if self.urn.count("::") >= 3 else ""


def update_steps(events: Iterable[dict[str, Any]]) -> list[Step]:
    """Each resource's step, as the update finished it (resOutputsEvent) or failed it."""
    out = []
    for event in events:
        for kind in ("resOutputsEvent", "resOpFailedEvent"):
            meta = (event.get(kind) or {}).get("metadata")
            if meta:
                out.append(Step(meta["op"] if kind == "resOutputsEvent" else "failed", meta["urn"]))
    return out


def preview_steps(document: dict[str, Any]) -> list[Step]:
    """The steps of `pulumi preview --json`'s one document."""
    return [
        Step(s["op"], s["urn"], dependency_refs(s.get("newState") or {})) for s in document.get("steps") or []
    ]


def dependency_refs(state: dict[str, Any]) -> tuple[str, ...]:
    """The URNs a resource state depends on as `--exclude-dependents` sees them (the engine's
    `State.GetAllDependencies`, pkg/resource/state.go): its provider (a reference is `URN::id`),
    parent, dependencies, property dependencies, deletedWith and replaceWith."""
    refs = [str(state["provider"]).rsplit("::", 1)[0]] if state.get("provider") else []
    refs += [state["parent"]] if state.get("parent") else []
    refs += [d for d in state.get("dependencies") or [] if d]
    refs += [d for deps in (state.get("propertyDependencies") or {}).values() for d in deps or [] if d]
    refs += [state["deletedWith"]] if state.get("deletedWith") else []
    refs += [d for d in state.get("replaceWith") or [] if d]
    return tuple(dict.fromkeys(refs))


def excluded_dependents(steps: Iterable[Step], excluded: Iterable[str]) -> set[str]:
    """The URNs an up with `--exclude` of `excluded` and `--exclude-dependents` leaves out: those
    and, transitively, everything depending on one of them (dependency_refs)."""
    out = set(excluded)
    todo = [s for s in steps if s.urn not in out]
    while True:
        found = [s for s in todo if any(d in out for d in s.deps)]
        if not found:
            return out
        out.update(s.urn for s in found)
        todo = [s for s in todo if s.urn not in out]


def summary_event(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    for event in events:
        if "summaryEvent" in event:
            summary: dict[str, Any] = event["summaryEvent"]
            return summary
    return {}


def error_messages(events: Iterable[dict[str, Any]]) -> list[str]:
    return [
        str(e["diagnosticEvent"].get("message", "")).strip()
        for e in events
        if (e.get("diagnosticEvent") or {}).get("severity") == "error"
    ]


def changes(steps: Iterable[Step]) -> list[Step]:
    """The steps that did something to a resource."""
    return [s for s in steps if s.op not in NOT_CHANGES]


def op_counts(steps: Iterable[Step]) -> dict[str, int]:
    return dict(sorted(Counter(s.op for s in steps).items()))


def classify_add_worker(steps: Iterable[Step], node: str) -> dict[str, Any]:
    """What an up that added `node` changed: its own resources (by op), and any other (by name)."""
    changed = changes(steps)
    own = [s for s in changed if owned_by(s.name, node)]
    others = [f"{s.op} {s.name}" for s in changed if not owned_by(s.name, node)]
    return {
        "node": node,
        "own": op_counts(own),
        "others": sorted(others),
        "only_that_worker": not others and bool(own) and all(s.op == "create" for s in own),
    }


class CreateCounter:
    """Counts the creates (`resOutputsEvent`s with op `create`) in `pulumi up --json`'s output as
    it is written: `feed` takes each new piece of text; a line cut short waits for its end."""

    def __init__(self) -> None:
        self.creates = 0
        self._partial = ""

    def feed(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        complete = [line for line in lines if '"resOutputsEvent"' in line]
        for event in engine_events("\n".join(complete)):
            if ((event.get("resOutputsEvent") or {}).get("metadata") or {}).get("op") == "create":
                self.creates += 1
        return self.creates


def kill_point(planned: int, share: float) -> int:
    """After how many of `planned` creates the engine is killed: `share` of them, at least one
    and one short of all (a kill after the last create would interrupt nothing)."""
    return max(1, min(planned - 1, math.ceil(planned * share)))


def state_urns(export: dict[str, Any]) -> set[str]:
    return {r["urn"] for r in export["deployment"].get("resources") or []}


def types_of(export: dict[str, Any]) -> dict[str, int]:
    """How many resources of each type a state holds, most first."""
    found = Counter(r.get("type", "") for r in export["deployment"].get("resources") or [])
    return dict(found.most_common())


def pending_operations(export: dict[str, Any]) -> list[dict[str, str]]:
    """The operations a state records as begun and not finished (`pending_operations`): what the
    engine was doing when it died, by type (creating, updating, deleting...) and resource."""
    return [
        {"type": str(op.get("type", "")), "urn": str((op.get("resource") or {}).get("urn", ""))}
        for op in export["deployment"].get("pending_operations") or []
    ]


def lock_files(state_dir: Path) -> list[Path]:
    """The file backend's stack locks (`.pulumi/locks/<project>/<stack>/<id>.json`): an engine
    removes its own when it ends; one that was killed leaves it, and every later command on the
    stack fails until `pulumi cancel` deletes it."""
    return sorted((state_dir / ".pulumi" / "locks").glob("**/*.json"))


def empty_sidecars(state_dir: Path) -> list[Path]:
    """The file backend's metadata files (`<blob>.attrs`, gocloud's fileblob) left empty. fileblob
    writes a blob to a temporary file and renames it over the old one, but first rewrites the
    blob's sidecar in place: `os.Create` truncates it, then the JSON is written
    (gocloud.dev/blob/fileblob, fileblob.go writerWithSidecar.Close, attrs.go setAttrs). An
    engine killed in between leaves the checkpoint whole (the last one saved) and its sidecar
    empty, and every command then fails to read it: `failed to load checkpoint: EOF` (attrs.go
    getAttrs decodes the empty file). Without the sidecar, fileblob uses defaults."""
    return sorted(p for p in (state_dir / ".pulumi").glob("**/*.attrs") if p.stat().st_size == 0)


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def classify_resume(killed: set[str], pending: set[str], steps: Iterable[Step]) -> dict[str, Any]:
    """What the up after a crash did. `killed`: the URNs in the state the crash left, `pending`:
    those of its pending operations. `created`: resources it created that the state lacked;
    `rerun`: of those, the pending creates (the steps in flight at the crash, run again);
    `redone`: anything it changed that the state already held (must be empty: a finished step is
    not run again); `other_changes`: any change but a create (must be empty)."""
    changed = changes(steps)
    return {
        "created": sum(1 for s in changed if s.op == "create" and s.urn not in killed),
        "rerun": sorted(_name(s.urn) for s in changed if s.op == "create" and s.urn in pending),
        "redone": sorted(f"{s.op} {s.name}" for s in changed if s.urn in killed),
        "other_changes": sorted(
            f"{s.op} {s.name}" for s in changed if s.op != "create" and s.urn not in killed
        ),
    }


def resumed_state(export: dict[str, Any], expected: set[str]) -> dict[str, Any]:
    """The state after the resumed up: `missing`, what the interrupted up would have made and it
    lacks, and `pending_after`, operations still pending (both must be empty)."""
    return {
        "missing": sorted(_name(u) for u in expected - state_urns(export)),
        "pending_after": pending_operations(export),
    }


def crash_verdict(crash: dict[str, Any], noop_changed: list[str] | None) -> list[str]:
    """Why the stack did not converge after the crash (empty: it did): the resumed up redid
    finished steps, changed anything but creates, left resources missing or operations pending,
    or the no-op up after the whole initial up changed something (None: it did not run)."""
    resume = crash.get("resume") or {}
    why = []
    if "seconds" not in resume:
        why.append("the resumed up did not finish")
    why += [f"redone: {x}" for x in resume.get("redone", [])]
    why += [f"changed: {x}" for x in resume.get("other_changes", [])]
    why += [f"missing: {x}" for x in resume.get("missing", [])]
    why += [f"pending: {op['type']} {_name(op['urn'])}" for op in resume.get("pending_after", [])]
    if noop_changed is None:
        why.append("the no-op up did not run")
    why += [f"no-op up changed: {x}" for x in noop_changed or []]
    return why


def unsecret(value: Any) -> Any:
    """A state value with its secrets (at any depth) shown."""
    if isinstance(value, dict) and SECRET_SIG in value:
        return unsecret(json.loads(value["plaintext"])) if "plaintext" in value else None
    if isinstance(value, dict):
        return {k: unsecret(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unsecret(v) for v in value]
    return value


def named_outputs(export: dict[str, Any], suffix: str) -> dict[str, Any]:
    """The outputs (secrets shown) of the one resource whose name ends with `suffix`."""
    found = [r for r in export["deployment"]["resources"] if r["urn"].rsplit("::", 1)[-1].endswith(suffix)]
    if len(found) != 1:
        raise EngineError(f"{len(found)} resources named *{suffix} in the state")
    return {k: unsecret(v) for k, v in (found[0].get("outputs") or {}).items()}


def cluster_pki(export: dict[str, Any]) -> dict[str, str]:
    """What the fake API server needs of the stack's PKI (components/pki.py's names). Its
    controller-manager and fake kubelet act as the super-admin (system:masters, as the program's
    own provider does): the exported admin's rights come from an RBAC binding the second up
    makes, and the fake kubelet registers the nodes before it."""
    api = named_outputs(export, "-pki-apiserver-cert")
    sa = named_outputs(export, "-pki-service-account-key")
    return {
        "ca": api["caCertPem"],
        "apiserver_cert": api["certPem"],
        "apiserver_key": named_outputs(export, "-pki-apiserver-key")["privateKeyPem"],
        "sa_key": sa["privateKeyPem"],
        "sa_pub": sa["publicKeyPem"],
        "admin_cert": named_outputs(export, "-pki-super-admin-cert")["certPem"],
        "admin_key": named_outputs(export, "-pki-super-admin-key")["privateKeyPem"],
    }


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def field_sizes(resource_: dict[str, Any]) -> Counter[str]:
    """A state resource's serialized bytes by field: `inputs.<name>` and `outputs.<name>` per
    property, the other top-level fields (`propertyDependencies`, `sourcePosition`...) whole."""
    out: Counter[str] = Counter()
    for key, value in resource_.items():
        if key in ("inputs", "outputs") and isinstance(value, dict):
            for name, prop in value.items():
                out[f"{key}.{name}"] += _size(prop)
        else:
            out[key] += _size(value)
    return out


def state_figures(export_text: str, largest: int = LARGEST) -> dict[str, Any]:
    """Size of an exported state (secrets encrypted, as stored), its largest resources (with their
    largest fields), and the bytes by resource type and by field over all resources."""
    export = json.loads(export_text)
    resources = export["deployment"].get("resources") or []
    sized = sorted(((_size(r), i) for i, r in enumerate(resources)), reverse=True)
    by_type: Counter[str] = Counter()
    by_field: Counter[str] = Counter()
    for size, i in sized:
        by_type[resources[i].get("type", "")] += size
        by_field += field_sizes(resources[i])
    return {
        "bytes": len(export_text.encode()),
        "resources": len(resources),
        "largest": [
            {
                "name": resources[i]["urn"].rsplit("::", 1)[-1],
                "type": resources[i].get("type", ""),
                "bytes": size,
                "fields": dict(field_sizes(resources[i]).most_common(4)),
            }
            for size, i in sized[:largest]
        ],
        "bytes_by_type": dict(by_type.most_common(largest)),
        "bytes_by_field": dict(by_field.most_common(2 * largest)),
    }


def summarise_engine(sizes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per operation, seconds and peak MB by node count (the plot's and the table's figures)."""
    out: dict[str, Any] = {}
    for op in ("preview", "initial_up", "noop_up", "add_worker_up", "interrupted_up"):
        seconds = {n: r[op]["seconds"] for n, r in sizes.items() if "seconds" in r.get(op, {})}
        peak = {n: r[op]["peak_mb"] for n, r in sizes.items() if "peak_mb" in r.get(op, {})}
        out[f"{op}_seconds_by_nodes"] = seconds
        out[f"{op}_peak_mb_by_nodes"] = peak
    out["resources_by_nodes"] = {n: r["resources"] for n, r in sizes.items() if "resources" in r}
    out["state_bytes_by_nodes"] = {n: r["state"]["bytes"] for n, r in sizes.items() if "state" in r}
    out["interrupted_up_converged_by_nodes"] = {
        n: r["interrupted_up"]["converged"]
        for n, r in sizes.items()
        if "converged" in r.get("interrupted_up", {})
    }
    out["timed_out"] = {
        n: {"phase": r["timed_out"]["phase"], "after_seconds": r["timed_out"]["seconds"]}
        for n, r in sizes.items()
        if "timed_out" in r
    }
    return out


# --- running the engine ----------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    cpu_seconds: float
    code: int
    stdout: str
    stderr: str
    memory: dict[str, Any]
    killed: bool = False


class Bench:
    """One size's project folder, state and fake site; `deadline` bounds every command."""

    stack = STACK  # --stack of every command (bench/engine_pool.py's pool stack is another)

    def __init__(self, cli: Path, workdir: Path, site: FakeSite, deadline: float) -> None:
        self.cli = cli
        self.workdir = workdir
        self.project = workdir / "project"
        self.site = site
        self.deadline = deadline
        self.phase = "setup"
        self.started = time.monotonic()
        self.stack_path = self.project / f"Pulumi.{self.stack}.yaml"
        self.state = state = workdir / "state"
        state.mkdir(parents=True, exist_ok=True)
        self.project.mkdir(parents=True, exist_ok=True)
        inherited = {k: v for k, v in os.environ.items() if k not in ("PULUMI_SKIP_CHECKPOINTS",)}
        self.env = {
            **inherited,
            "PATH": f"{cli.parent}:{os.environ.get('PATH', '')}",
            "PULUMI_BACKEND_URL": f"file://{state}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "K8SFS_TOOLCHAIN_DIR": str(toolchain_dir()),
        }

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimedOut(self.phase, time.monotonic() - self.started)
        return left

    def pulumi(
        self,
        *args: str,
        stdin: str | None = None,
        inside: bool = False,
        kill_when: Callable[[str], bool] | None = None,
    ) -> Run:
        """`pulumi ARGS --stack bench --non-interactive` from the project folder; `inside` the
        fake site's namespace (anything that may reach a host or the API). Times the process
        tree and samples its memory; stops it (its whole process group) at the deadline.
        `kill_when` is given the output as it is written; once it says so, the engine and
        everything it started are killed at once (`_crash`) and the run is `killed`."""
        command = [*(self.site.prefix() if inside else []), str(self.cli), *args]
        command += ["--stack", self.stack, "--non-interactive"]
        out_path, err_path = self.workdir / "stdout", self.workdir / "stderr"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        with out_path.open("w") as out, err_path.open("w") as err:
            proc = subprocess.Popen(
                command,
                cwd=self.project,
                env=self.env,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                text=True,
                start_new_session=True,
            )
            killed = False
            with Sampler(proc.pid) as sampler:
                try:
                    if stdin is not None and proc.stdin is not None:
                        proc.stdin.write(stdin)
                        proc.stdin.close()
                    if kill_when is None:
                        code = proc.wait(timeout=self.remaining())
                    else:
                        code, killed = self._watch(proc, out_path, kill_when)
                except subprocess.TimeoutExpired:
                    _kill_tree(proc)
                    raise TimedOut(self.phase, time.monotonic() - self.started) from None
                except BaseException:  # Ctrl-C, SIGTERM: the engine is in a session of its own
                    _kill_tree(proc)
                    raise
        seconds = time.monotonic() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return Run(
            round(seconds, 2),
            round(cpu, 2),
            code,
            out_path.read_text(errors="replace"),
            err_path.read_text(errors="replace"),
            sampler.peak.summary(),
            killed,
        )

    def _watch(
        self, proc: subprocess.Popen[str], out_path: Path, kill_when: Callable[[str], bool]
    ) -> tuple[int, bool]:
        """Waits for `proc`, reading what it writes every POLL_SECONDS; kills it when told to."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        with out_path.open("rb") as reader:
            while True:
                try:
                    return proc.wait(timeout=min(POLL_SECONDS, self.remaining())), False
                except subprocess.TimeoutExpired:
                    if time.monotonic() >= self.deadline:
                        raise
                if kill_when(decoder.decode(reader.read())):
                    _crash(proc)
                    return proc.wait(timeout=30), True

    def checked(self, run: Run, what: str) -> Run:
        if run.code != 0:
            errors = "\n".join(error_messages(engine_events(run.stdout)))[:4000]
            raise EngineError(f"{what} failed ({run.code}):\n{errors}\n{run.stderr[-3000:]}")
        return run

    # --- phases ---

    def init_stack(self, raw: dict[str, Any], private_key: str) -> None:
        (self.project / "Pulumi.yaml").write_text(project_file(REPO, self.project))
        self.checked(self.pulumi("stack", "init"), "stack init")
        salt = stack_salt(self.stack_path.read_text())
        # Encrypted by the CLI for this stack; the rest of the file is ours.
        self.checked(
            self.pulumi("config", "set", "--path", "--secret", "ssh.privateKey", stdin=private_key),
            "config set",
        )
        self.salt = salt
        self.secret_key = secure_value(self.stack_path.read_text(), "ssh.privateKey")
        self.write_config(raw)

    def write_config(self, raw: dict[str, Any]) -> None:
        self.stack_path.write_text(stack_file(raw, self.salt, self.secret_key))

    def preview(self) -> tuple[dict[str, Any], list[Step]]:
        self.phase = "preview"
        run = self.checked(self.pulumi("preview", "--json", inside=True), "preview")
        steps = preview_steps(json.loads(run.stdout))
        return {**_figures(run), "resources": len(steps), "ops": op_counts(steps)}, steps

    def up(self, what: str, *extra: str) -> tuple[dict[str, Any], list[Step]]:
        self.phase = what
        run = self.pulumi("up", "--yes", "--skip-preview", "--json", *extra, inside=True)
        events = engine_events(run.stdout)
        self.checked(run, what)
        steps = update_steps(events)
        summary = summary_event(events)
        figures = {
            **_figures(run),
            "engine_seconds": summary.get("durationSeconds"),
            "resources": len(steps),
            "ops": op_counts(steps),
        }
        return figures, steps

    def killed_up(self, creates: int, *extra: str) -> tuple[Run, int]:
        """`pulumi up --skip-preview --json EXTRA`, killed (`_crash`) once `creates` resources have
        been created (its events as they are written); the run and the creates it had reported."""
        self.phase = "interrupted_up"
        counter = CreateCounter()
        run = self.pulumi(
            "up",
            "--yes",
            "--skip-preview",
            "--json",
            *extra,
            inside=True,
            kill_when=lambda text: counter.feed(text) >= creates,
        )
        if not run.killed:
            self.checked(run, "the up to interrupt")
            raise EngineError(f"the up finished ({counter.creates} creates) before the kill ({creates})")
        return run, sum(1 for s in update_steps(engine_events(run.stdout)) if s.op == "create")

    def export(self, secrets: bool = False) -> str:
        run = self.checked(self.pulumi("stack", "export", *(["--show-secrets"] if secrets else [])), "export")
        return run.stdout


def _figures(run: Run) -> dict[str, Any]:
    return {"seconds": run.seconds, "cpu_seconds": run.cpu_seconds, **run.memory}


def _kill_tree(proc: subprocess.Popen[str]) -> None:
    """Stops the engine and everything it started: the engine puts its language host and plugins
    in process groups of their own, so its group alone would leave them running. A process is
    named by pid and start time: a pid reused meanwhile is someone else's."""
    started = {pid: start_time(pid) for pid in tree(proc.pid)}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid, when in started.items():
            if when is not None and start_time(pid) == when:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:
            time.sleep(1)  # the plugins' own exits, before the KILL of whatever is left


def _crash(proc: subprocess.Popen[str]) -> None:
    """A crash of the engine (power loss, the OOM killer, `kill -9`): the engine and everything it
    started are stopped (SIGSTOP, the tree walked again until no new process appears: none can
    start another or react to the others' deaths), then all killed (SIGKILL). No process gets
    to save, unlock or clean up anything. A process is named by pid and start time."""
    stopped: dict[int, int] = {}
    while True:
        new = {pid: start_time(pid) for pid in tree(proc.pid) if pid not in stopped}
        found = {pid: when for pid, when in new.items() if when is not None}
        if not found:
            break
        for pid, when in found.items():
            if start_time(pid) == when:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
        stopped.update(found)
    for pid, when in stopped.items():
        if start_time(pid) == when:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _ssh_key(folder: Path) -> tuple[str, str]:
    key = folder / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key.read_text(), (folder / "id_ed25519.pub").read_text()


def measure_size(
    nodes: int,
    cli: Path,
    timeout: float,
    workdir: Path,
    preview_only: bool = False,
    interrupt_at: float = INTERRUPT_AT,
    pool_size: int = 0,
) -> dict[str, Any]:
    """Every phase for one size (or the preview alone), then a `pool_size`-worker pool stack's
    (bench/engine_pool.py; 0: none); a timeout or an error ends the size and is recorded."""
    result: dict[str, Any] = {"nodes": nodes, "load": [round(os.getloadavg()[0], 2)]}
    raw, secret = bench_config(nodes)
    spec, _ = load_spec(raw, STACK, frozenset(secret))
    added_raw, new_worker = with_worker_added(raw)
    added_spec, _ = load_spec(added_raw, STACK, frozenset(secret))
    start = time.monotonic()
    bench: Bench | None = None
    try:
        with FakeSite(workdir) as site:
            bench = Bench(cli, workdir, site, start + timeout)
            private_key, public_key = _ssh_key(workdir)
            bench.init_stack(raw, private_key)
            site.add_addresses([n.address for n in added_spec.nodes])
            api = spec.api_endpoint
            site.set_names({} if _is_ip(api.host) else {api.host: "127.0.0.1"})
            site.start_sshd(public_key)

            result["preview"], planned = bench.preview()
            result["resources"] = result["preview"]["resources"]
            print(f"  {nodes:>4} nodes: preview {_line(result['preview'])}", flush=True)
            if not preview_only:
                _ups(bench, spec, planned, added_raw, new_worker, result, interrupt_at)
            if not preview_only and pool_size:
                from bench import engine_pool

                bench = engine_pool.pool_bench(bench)  # its phases, pool_*, name a failure
                engine_pool.measure_pool(bench, pool_size, private_key, result)
    except TimedOut as err:  # the site is gone by now: its processes stopped, its namespace removed
        result["timed_out"] = {"phase": err.phase, "seconds": round(err.seconds, 1)}
        print(f"  {nodes:>4} nodes: {err.phase} timed out after {err.seconds:.0f} s", flush=True)
    except (EngineError, SiteError, subprocess.CalledProcessError, OSError) as err:
        phase = bench.phase if bench else "site"
        result["error"] = {"phase": phase, "message": str(err)[-4000:]}
        print(f"  {nodes:>4} nodes: {phase} failed: {str(err)[:2000]}", flush=True)
    result["total_seconds"] = round(time.monotonic() - start, 1)
    result["load"].append(round(os.getloadavg()[0], 2))
    return result


def _ups(
    bench: Bench,
    spec: ClusterSpec,
    planned: list[Step],
    added_raw: dict[str, Any],
    new_worker: str,
    result: dict[str, Any],
    interrupt_at: float = INTERRUPT_AT,
) -> None:
    """The saved state (initial up, its second run killed and resumed unless `interrupt_at` is 0),
    then the no-op up and the add-a-worker up over it."""
    nodes, site, api = len(spec.nodes), bench.site, spec.api_endpoint
    providers = [s.urn for s in planned if s.type == K8S_PROVIDER]
    without_api = [*[f"--exclude={u}" for u in providers], "--exclude-dependents"]
    first = {s.urn for s in planned} - excluded_dependents(planned, providers)
    hosts = {"without_api": bench.up("initial_up", *without_api)[0]}
    bench.phase = "initial_up"
    exported = json.loads(bench.export(secrets=True))
    site.set_kube_proxy_kubeconfig(named_outputs(exported, "-pki")["kubeconfigs"]["kubeProxy"])
    site.start_cluster(
        cluster_pki(exported),
        api.host,
        api.port,
        spec.network.service_cidr,
        [n.name for n in spec.nodes],
    )
    bench.remaining()
    crash: dict[str, Any] | None = None
    if interrupt_at > 0:
        everything = {s.urn for s in planned}
        crash = result["interrupted_up"] = {
            "share": interrupt_at,
            "planned_creates": len(everything - first),
            "phase": "with_api",
        }
        rest = _interrupted(bench, nodes, [], everything, crash, "with_api", before=first)
    else:
        rest = {"with_api": bench.up("initial_up")[0]}
    result["initial_up"] = {**_sum_phases({**hosts, **rest}), "interrupted": crash is not None}
    print(f"  {nodes:>4} nodes: initial up {_line(result['initial_up'])}", flush=True)

    result["state"] = state_figures(bench.export())

    figures, steps = bench.up("noop_up")
    changed = changes(steps)
    result["noop_up"] = {**figures, "changed": [f"{s.op} {s.name}" for s in changed]}
    print(f"  {nodes:>4} nodes: no-op up {_line(figures)}, {len(changed)} changed", flush=True)
    if crash is not None:
        crash["not_converged"] = crash_verdict(crash, result["noop_up"]["changed"])
        crash["converged"] = not crash["not_converged"]
        why = "; ".join(crash["not_converged"][:5])
        verdict = "converged" if crash["converged"] else f"NOT CONVERGED: {why}"
        print(f"  {nodes:>4} nodes: after the crash: {verdict}", flush=True)

    bench.write_config(added_raw)
    figures, steps = bench.up("add_worker_up")
    result["add_worker_up"] = {**figures, **classify_add_worker(steps, new_worker)}
    verdict = "only its own" if result["add_worker_up"]["only_that_worker"] else "OTHERS TOO"
    print(f"  {nodes:>4} nodes: add a worker {_line(figures)}, {verdict}", flush=True)


# What a user runs after a crash, before `pulumi up` (bench/README.md, "After a crash"): the
# killed engine's lock removed, then, if the state has any, its pending operations dropped (a
# state read back and imported loses them: cmd/pulumi/stack/io.go).
RECOVERY = (("cancel", "--yes"),)
CLEAR_PENDING = (
    ("stack", "export", "--file", "crashed-state.json"),
    ("stack", "import", "--file", "crashed-state.json"),
)


def _interrupted(
    bench: Bench,
    nodes: int,
    extra: list[str],
    expected: set[str],
    crash: dict[str, Any],
    phase: str,
    before: set[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """The up `pulumi up EXTRA` (initial_up's `phase`, over a state that holds `before`) killed
    once `crash["share"]` of its creates are done; what the crash left (`kill`); the commands a
    user runs then (`recovery`); the up that resumes it (`resume`), after which the state must
    hold `expected`. Returns the two ups as initial_up's phases. Fills `crash` as it goes, so a
    failure keeps what was measured."""
    planned = crash["planned_creates"]
    run, reported = bench.killed_up(kill_point(planned, crash["share"]), *extra)
    crash["kill"] = kill = {
        **_figures(run),
        "kill_after_creates": kill_point(planned, crash["share"]),
        "creates_reported": reported,
        "locks_left": len(lock_files(bench.state)),
        "empty_sidecars": [str(p.relative_to(bench.state)) for p in empty_sidecars(bench.state)],
    }
    bench.phase = "interrupted_up: recovery"
    commands: list[list[str]] = []
    try:
        export = json.loads(bench.export())
    except EngineError as err:
        if not kill["empty_sidecars"]:
            raise
        kill["state_unreadable"] = str(err).strip().splitlines()[-1]
        for path in kill["empty_sidecars"]:
            (bench.state / path).unlink()
            commands.append(["rm", f"<backend>/{path}"])
        export = json.loads(bench.export())
    pending = pending_operations(export)
    killed = state_urns(export)
    kill.update(
        {
            "state_resources": len(killed),
            "state_by_type": types_of(export),
            "pending_operations": dict(Counter(op["type"] for op in pending)),
            "pending": [f"{op['type']} {_name(op['urn'])}" for op in pending],
        }
    )

    pulumi_commands = [list(c) for c in (*RECOVERY, *(CLEAR_PENDING if pending else ()))]
    runs = [bench.checked(bench.pulumi(*c), " ".join(c)) for c in pulumi_commands]
    commands += [["pulumi", *c] for c in pulumi_commands]
    crash["recovery"] = {
        "commands": [" ".join(c) for c in commands],
        "seconds": round(sum(r.seconds for r in runs), 2),
        "cpu_seconds": round(sum(r.cpu_seconds for r in runs), 2),
        "locks_after": len(lock_files(bench.state)),
    }

    figures, steps = bench.up("interrupted_up", *extra)
    resume = crash["resume"] = {
        **figures,
        **classify_resume(killed, {op["urn"] for op in pending}, steps),
        **resumed_state(json.loads(bench.export()), expected),
    }
    # What the state held after the kill beyond `before` was created by the killed up (more than
    # its events had reported: they lag the checkpoints).
    made = len(killed - (before or set()))
    crash["phase_creates"] = made + resume["created"]
    crash["share_at_kill"] = round(made / max(1, crash["phase_creates"]), 3)
    parts = (kill, crash["recovery"], resume)
    crash["seconds"] = round(sum(p["seconds"] for p in parts), 2)
    crash["cpu_seconds"] = round(sum(p["cpu_seconds"] for p in parts), 2)
    crash.update({k: max(kill[k], resume[k]) for k in MEMORY_KEYS})
    print(
        f"  {nodes:>4} nodes: up killed after {reported} of {planned} creates ({kill['seconds']:.1f} s): "
        f"state {len(killed)} resources, pending {kill['pending_operations'] or 'none'}, "
        f"{kill['locks_left']} lock(s) left{', state unreadable' if 'state_unreadable' in kill else ''}; "
        f"recovery {crash['recovery']['seconds']:.1f} s "
        f"({'; '.join(crash['recovery']['commands'])})",
        flush=True,
    )
    print(
        f"  {nodes:>4} nodes: resumed up {_line(figures)}, {resume['created']} created "
        f"({len(resume['rerun'])} re-run), redone {resume['redone'][:5] or 'none'}, "
        f"missing {resume['missing'][:5] or 'none'}, pending after {len(resume['pending_after'])}",
        flush=True,
    )
    return {f"{phase}_killed": kill, f"{phase}_resumed": resume}


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _sum_phases(phases: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "seconds": round(sum(p["seconds"] for p in phases.values()), 2),
        "cpu_seconds": round(sum(p["cpu_seconds"] for p in phases.values()), 2),
        **{k: max(p[k] for p in phases.values()) for k in MEMORY_KEYS},
        "phases": phases,
    }


def _line(f: dict[str, Any]) -> str:
    return (
        f"{f['seconds']:7.1f} s ({f['cpu_seconds']:.1f} s CPU) {f['peak_mb']:6.0f} MB "
        f"(engine {f['engine_peak_mb']:.0f} MB)"
    )


@contextlib.contextmanager
def _terminated_cleanly() -> Iterator[None]:
    """SIGTERM (a CI job's timeout, `kill`) unwinds like Ctrl-C: the engine's process group is
    stopped and the fake site removed on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def engine_timings(
    sizes: Iterable[int],
    timeout: float = TIMEOUT_SECONDS,
    preview_only: bool = False,
    interrupt_at: float = INTERRUPT_AT,
    pool_size: int = POOL_SIZE,
) -> dict[str, Any]:
    """The `engine` section of the results: per size, then the summary by operation (with a
    `pool_size`-worker pool stack beside each size: bench/engine_pool.py)."""
    from bench.engine_pool import summarise_pool

    why = missing_tools()
    cli = engine_cli()
    if why is None and cli is None:
        why = "no Pulumi CLI: toolchain/build.sh engine"
    if why is not None or cli is None:
        return {"skipped": why}
    by_size: dict[str, dict[str, Any]] = {}
    with _terminated_cleanly():
        for nodes in sizes:
            with tempfile.TemporaryDirectory(prefix=f"k8sfs-ebench-{nodes}-") as tmp:
                by_size[str(nodes)] = measure_size(
                    nodes, cli, timeout, Path(tmp), preview_only, interrupt_at, pool_size
                )
    return {
        "cli": str(cli),
        "timeout_seconds": timeout,
        "preview_only": preview_only,
        "interrupt_at": interrupt_at,
        "pool_size": pool_size,
        "sizes": by_size,
        **summarise_engine(by_size),
        **summarise_pool(by_size),
    }


def print_engine(engine: dict[str, Any]) -> None:
    if "skipped" in engine:
        print(f"engine: skipped ({engine['skipped']})")
        return
    print("engine (real pulumi; nodes: seconds / peak MB of the process tree)")
    heads = ("preview", "initial up", "no-op up", "add worker")
    print(f"  {'nodes':>5} {'resources':>9} " + " ".join(f"{h:>15}" for h in heads))
    for n, r in engine["sizes"].items():
        cells = []
        for op in ("preview", "initial_up", "noop_up", "add_worker_up"):
            f = r.get(op) or {}
            cells.append(f"{f['seconds']:7.1f}/{f['peak_mb']:6.0f}" if "seconds" in f else f"{'-':>14}")
        print(f"  {n:>5} {r.get('resources', '-'):>9} " + " ".join(f"{c:>15}" for c in cells))
        if "timed_out" in r:
            print(f"        timed out after {r['timed_out']['seconds']} s in {r['timed_out']['phase']}")
        if "error" in r:
            print(f"        failed in {r['error']['phase']}: {r['error']['message'][:300]}")
        if r.get("noop_up", {}).get("changed"):
            print(f"        no-op up changed: {', '.join(r['noop_up']['changed'][:8])}")
        crash = r.get("interrupted_up") or {}
        if "kill" in crash:
            k = crash["kill"]
            print(
                f"        crash after {k['creates_reported']} of {crash['planned_creates']} creates: state "
                f"{k['state_resources']} resources, pending {k['pending_operations'] or 'none'}, "
                f"{k['locks_left']} lock(s) left; recovery + resume "
                f"{crash.get('seconds', '-')} s, converged {crash.get('converged', '-')}"
            )
            for why in crash.get("not_converged", [])[:8]:
                print(f"          {why}")
        add = r.get("add_worker_up") or {}
        if add:
            print(f"        add {add['node']}: own {add['own']}, others {add['others'][:8] or 'none'}")
        if "state" in r:
            s = r["state"]
            top = ", ".join(f"{x['name']} {x['bytes'] // 1024} kB" for x in s["largest"])
            print(f"        state {s['bytes'] / 1e6:.1f} MB, {s['resources']} resources; largest: {top}")
            fields = ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in list(s["bytes_by_field"].items())[:5])
            print(f"        state bytes by field: {fields}")
    from bench.engine_pool import pool_table

    for line in pool_table(engine):
        print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.engine",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--timeout", type=float, default=TIMEOUT_SECONDS, help="seconds per size")
    parser.add_argument("--preview-only", action="store_true", help="only the fresh stack's preview")
    parser.add_argument(
        "--interrupt-at",
        type=float,
        default=INTERRUPT_AT,
        help="kill the first up after this share of its creates (default %(default)s; 0: no crash)",
    )
    parser.add_argument("--out", type=Path, help="write the section as JSON to this file")
    parser.add_argument(
        "--pool-size",
        type=int,
        default=POOL_SIZE,
        help="workers of the pool stack beside each size (0: none)",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(
        f"the real engine on the {STACK} stack at {sizes} nodes (at most {args.timeout:.0f} s each)",
        flush=True,
    )
    engine = engine_timings(
        sizes, args.timeout, args.preview_only, interrupt_at=args.interrupt_at, pool_size=args.pool_size
    )
    print_engine(engine)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(engine, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
