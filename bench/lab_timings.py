"""The `lab` section: wall-clock seconds of up, a no-op up, adding a worker and destroy on the
local lab's dev stack.

Each phase is a real `pulumi` command (the toolchain's CLI, else one on PATH) in a throw-away
stack state, so that it never touches the developer's dev stack.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


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

        def run(*args: str) -> float:
            start = time.monotonic()
            subprocess.run(args, cwd=REPO, env=env, check=True, capture_output=True, text=True, timeout=3600)
            return round(time.monotonic() - start, 1)

        def pulumi(*args: str) -> float:
            return run(cli, *args, "--stack", "dev", "--config-file", str(config), "--non-interactive")

        timings: dict[str, Any] = {}
        try:
            pulumi("stack", "init", "dev")
            run("make", "lab-mirror")
            run("bash", "lab/lab.sh", "base")
            timings["up_seconds"] = pulumi("up", "--yes")
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
