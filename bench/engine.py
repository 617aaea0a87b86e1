"""The `engine` section of `make bench`: what a user waits for, the real `pulumi` on the bench stacks.

For each size (the same stacks as the mocks figures, bench/stacks.py), in a throw-away project
folder and file-backend state, with checkpoints on (PULUMI_SKIP_CHECKPOINTS is removed from the
environment):
1. `preview`: `pulumi preview` of the fresh stack (no host contacted);
2. `initial_up`: the saved state the next two start from, made by real `pulumi up`s against fake
   hosts and a fake cluster (bench/fake_site.py): first everything that does not need the
   Kubernetes API (the PKI and every host step: `--exclude` the Kubernetes provider
   `--exclude-dependents`), then, with an API server serving the stack's own certificates, the
   rest. Its seconds are the two runs' (plus `phases`), not one user's `up`;
3. `noop_up`: `pulumi up --skip-preview` over that state, changing nothing: `changed` lists
   any resource it did change (must be none);
4. `add_worker_up`: one worker appended to the stack (bench.stacks.with_worker_added), then
   `pulumi up --skip-preview`: `others` lists changed resources that are not the new worker's
   own (bench.graph_diff.owned_by); `only_that_worker` says it touched nothing else;
5. `pool`: with the fake API still serving, a node pool stack of `--pool-size` workers (default
   20; 0: none) that joins this size's cluster, in the same folder and backend
   (bench/engine_pool.py): `pool_preview`, `pool_up`, `pool_noop_up`, `pool_add_worker_up`,
   measured as the phases above. A pool's figures should not depend on the cluster's size, and
   its add-a-worker should cost what adding a worker to a 10-node stack costs.

Every engine command's wall seconds, the CPU seconds of its process tree, and the tree's peak
resident memory (engine + language host + plugins, bench/proctree.py) are recorded. The `up`s run
with `--skip-preview`: a user's `pulumi up --yes` runs a preview first (`preview` shows what that
costs on a fresh stack). `state` is the size of the saved state (`pulumi stack export`) and its
largest resources. A size that does not finish within `--timeout` seconds (its pool's phases
included) records `timed_out` and the phase it was in, and keeps the phases it finished.

`python -m bench.engine --sizes 10,50 --timeout 900 [--pool-size 20] [--out FILE]`; `make bench`
runs it at every size (bench/run.py --engine-sizes, --engine-timeout, --engine-pool-size,
--no-engine). Needs root (a network namespace, sshd on port 22), the toolchain's engine and
cluster binaries; else {"skipped": why}.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
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
    return [Step(s["op"], s["urn"]) for s in document.get("steps") or []]


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


def unsecret(value: Any) -> Any:
    if isinstance(value, dict) and SECRET_SIG in value:
        return json.loads(value["plaintext"]) if "plaintext" in value else None
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
    for op in ("preview", "initial_up", "noop_up", "add_worker_up"):
        seconds = {n: r[op]["seconds"] for n, r in sizes.items() if "seconds" in r.get(op, {})}
        peak = {n: r[op]["peak_mb"] for n, r in sizes.items() if "peak_mb" in r.get(op, {})}
        out[f"{op}_seconds_by_nodes"] = seconds
        out[f"{op}_peak_mb_by_nodes"] = peak
    out["resources_by_nodes"] = {n: r["resources"] for n, r in sizes.items() if "resources" in r}
    out["state_bytes_by_nodes"] = {n: r["state"]["bytes"] for n, r in sizes.items() if "state" in r}
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
        state = workdir / "state"
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

    def pulumi(self, *args: str, stdin: str | None = None, inside: bool = False) -> Run:
        """`pulumi ARGS --stack bench --non-interactive` from the project folder; `inside` the
        fake site's namespace (anything that may reach a host or the API). Times the process
        tree and samples its memory; stops it (its whole process group) at the deadline."""
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
            with Sampler(proc.pid) as sampler:
                try:
                    if stdin is not None and proc.stdin is not None:
                        proc.stdin.write(stdin)
                        proc.stdin.close()
                    code = proc.wait(timeout=self.remaining())
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
        )

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


def _ssh_key(folder: Path) -> tuple[str, str]:
    key = folder / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key.read_text(), (folder / "id_ed25519.pub").read_text()


def measure_size(
    nodes: int, cli: Path, timeout: float, workdir: Path, preview_only: bool = False, pool_size: int = 0
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
                _ups(bench, spec, planned, added_raw, new_worker, result)
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
) -> None:
    """The saved state (initial up), then the no-op up and the add-a-worker up over it."""
    nodes, site, api = len(spec.nodes), bench.site, spec.api_endpoint
    providers = [s.urn for s in planned if s.type == K8S_PROVIDER]
    hosts, _ = bench.up("initial_up", *[f"--exclude={u}" for u in providers], "--exclude-dependents")
    site.start_cluster(
        cluster_pki(json.loads(bench.export(secrets=True))),
        api.host,
        api.port,
        spec.network.service_cidr,
        [n.name for n in spec.nodes],
    )
    bench.remaining()
    rest, _ = bench.up("initial_up")
    result["initial_up"] = _sum_phases({"without_api": hosts, "with_api": rest})
    print(f"  {nodes:>4} nodes: initial up {_line(result['initial_up'])}", flush=True)

    result["state"] = state_figures(bench.export())

    figures, steps = bench.up("noop_up")
    changed = changes(steps)
    result["noop_up"] = {**figures, "changed": [f"{s.op} {s.name}" for s in changed]}
    print(f"  {nodes:>4} nodes: no-op up {_line(figures)}, {len(changed)} changed", flush=True)

    bench.write_config(added_raw)
    figures, steps = bench.up("add_worker_up")
    result["add_worker_up"] = {**figures, **classify_add_worker(steps, new_worker)}
    verdict = "only its own" if result["add_worker_up"]["only_that_worker"] else "OTHERS TOO"
    print(f"  {nodes:>4} nodes: add a worker {_line(figures)}, {verdict}", flush=True)


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
                by_size[str(nodes)] = measure_size(nodes, cli, timeout, Path(tmp), preview_only, pool_size)
    return {
        "cli": str(cli),
        "timeout_seconds": timeout,
        "preview_only": preview_only,
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
    engine = engine_timings(sizes, args.timeout, args.preview_only, args.pool_size)
    print_engine(engine)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(engine, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
