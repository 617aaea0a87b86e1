"""The `lab` section: wall-clock seconds of up, a no-op up, adding a worker and destroy on the
local lab's dev stack, and kube-bench's score on its first control plane and first worker (after
the first up).

Each phase is a real `pulumi` command (the toolchain's CLI, else one on PATH) in a throw-away
stack state, so that it never touches the developer's dev stack.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from components.ssh import Target
from lab import kube_bench
from spec.parse import parse
from spec.stack_file import read_stack_file

REPO = Path(__file__).resolve().parents[1]
SSH_KEY_RESOURCE = "dev-lab-ssh-key"
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker of a secret value in an export


def _cli() -> str | None:
    version = subprocess.run(
        ["bash", "-c", ". toolchain/versions.env && echo $K8SFS_PULUMI_VERSION"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    toolchain = Path(os.environ.get("K8SFS_TOOLCHAIN_DIR", "/var/cache/k8s-from-scratch/toolchain"))
    built = toolchain / "pulumi" / version / "pulumi"
    return str(built) if built.is_file() else shutil.which("pulumi")


def ssh_key(export: dict[str, Any], name: str = SSH_KEY_RESOURCE) -> str:
    """The lab's SSH private key from `pulumi stack export --show-secrets`."""
    for resource in export["deployment"]["resources"]:
        if resource["urn"].endswith(f"::{name}"):
            value = (resource.get("outputs") or {})["privateKeyOpenssh"]
            if isinstance(value, dict) and SECRET_SIG in value:
                value = json.loads(value["plaintext"])
            return str(value)
    raise KeyError(f"no resource named {name} in the stack's state")


def kube_bench_score(config: Path, private_key: str, work_dir: Path) -> dict[str, Any]:
    """kube-bench on the stack's first control plane and first worker: {PASS, FAIL, WARN, INFO,
    fails}; a node whose run fails gets {"error": ...} instead."""
    raw, stack = read_stack_file(config)
    spec, _ = parse(raw, stack)
    nodes = {
        "control_plane": (spec.control_plane_nodes[0], kube_bench.CONTROL_PLANE_TARGETS),
        "worker": (spec.worker_nodes[0], kube_bench.WORKER_TARGETS),
    }
    score: dict[str, Any] = {}
    for role, (node, targets) in nodes.items():
        try:
            target = Target(node.address, 22, "root", private_key)
            score[role] = kube_bench.run_on(target, targets, work_dir / node.name).score()
        except Exception as err:  # a score we cannot get never aborts the bench
            score[role] = {"error": f"{type(err).__name__}: {str(err)[-2000:]}"}
    return score


def lab_timings() -> dict[str, Any]:
    if os.geteuid() != 0:
        return {"skipped": "the lab needs root (systemd-nspawn, network namespaces)"}
    cli = _cli()
    if cli is None:
        return {"skipped": "no Pulumi CLI: toolchain/build.sh engine"}
    with tempfile.TemporaryDirectory(prefix="k8sfs-bench-") as tmp:
        state = Path(tmp) / "state"
        state.mkdir()
        config = Path(tmp) / "Pulumi.dev.yaml"
        shutil.copy(REPO / "Pulumi.dev.yaml", config)
        env = {
            **os.environ,
            "PULUMI_BACKEND_URL": f"file://{state}",
            "PULUMI_CONFIG_PASSPHRASE": "k8s-from-scratch-bench",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        }

        def run(*args: str, cwd: Path = REPO, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                args, cwd=cwd, env=env, check=True, capture_output=True, text=True, timeout=timeout
            )

        def timed(*args: str) -> float:
            start = time.monotonic()
            run(*args)
            return round(time.monotonic() - start, 1)

        def pulumi(*args: str) -> float:
            return timed(cli, *args, "--stack", "dev", "--config-file", str(config), "--non-interactive")

        timings: dict[str, Any] = {}
        try:
            # `stack init` takes no --config-file: it writes the stack's encryption salt into
            # Pulumi.dev.yaml of the folder it runs in; the copy every other command reads gets it.
            init = Path(tmp) / "init"
            init.mkdir()
            shutil.copy(REPO / "Pulumi.yaml", init / "Pulumi.yaml")
            run(cli, "stack", "init", "dev", "--non-interactive", cwd=init, timeout=600)
            salt = [line for line in (init / "Pulumi.dev.yaml").read_text().splitlines() if "salt" in line]
            # The repo's copy carries the salt of the repo's own state (make up): replace it.
            kept = [line for line in config.read_text().splitlines() if not line.startswith("encryptionsalt")]
            config.write_text("".join(f"{line}\n" for line in [*kept, *salt]))
            run("make", "lab-mirror")
            run("bash", "lab/lab.sh", "base")
            timings["up_seconds"] = pulumi("up", "--yes")
            try:
                # `stack export` takes no --config-file: the state carries its secrets provider.
                export = run(cli, "stack", "export", "--show-secrets", "--stack", "dev", timeout=600).stdout
                key = ssh_key(json.loads(export))
                timings["kube_bench"] = kube_bench_score(config, key, Path(tmp) / "kube-bench")
            except Exception as err:  # never aborts the bench
                detail = getattr(err, "stderr", None) or err
                timings["kube_bench"] = {"error": f"{type(err).__name__}: {str(detail)[-2000:]}"}
            timings["noop_up_seconds"] = pulumi("up", "--yes", "--expect-no-changes")
            workers = 3  # Pulumi.dev.yaml has 2
            pulumi("config", "set", "--path", "lab.workers", str(workers))
            timings["add_worker_seconds"] = pulumi("up", "--yes")
        except subprocess.CalledProcessError as err:
            timings["error"] = f"{' '.join(map(str, err.cmd))}: {(err.stderr or '')[-2000:]}"
        finally:
            try:
                timings["destroy_seconds"] = pulumi("destroy", "--yes")
            except subprocess.CalledProcessError as err:
                timings["destroy_error"] = (err.stderr or "")[-2000:]
        return timings
